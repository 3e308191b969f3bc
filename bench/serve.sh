#!/bin/sh
# Load on `dfdetect serve`: N concurrent uploads of one file over loopback with curl (default 50),
# each polled until its job ends. Checks that every job is done with the same verdict and
# probability as `dfdetect scan --json` gives the file, then prints throughput (jobs per second
# of wall time, first upload to last result), p50/p95 latency (upload start to result) and the
# server's peak resident memory (VmHWM).
#   usage: bench/serve.sh [--bin build/dfdetect] [--file CLIP] [--n 50] [--workers W]
#          defaults: build/dfdetect, build/fixtures/astronaut_pan.mp4, 50, 1
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/dfdetect
file=$root/build/fixtures/astronaut_pan.mp4
n=50
workers=1
while [ $# -gt 0 ]; do
    case $1 in
    --bin) bin=$2; shift 2 ;;
    --file) file=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    *) echo "usage: bench/serve.sh [--bin B] [--file F] [--n N] [--workers W]" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "serve.sh: no program $bin (make build)" >&2; exit 1; }
[ -s "$file" ] || { echo "serve.sh: no file $file (ctest -R video_fixtures makes it)" >&2; exit 1; }
command -v curl >/dev/null || { echo "serve.sh: curl is missing (scripts/setup.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/dfd_bench_serve.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
now() { date +%s.%N; }
# The first value of "key": in a JSON text without spaces (strings and numbers).
field() { tr ',' '\n' | sed -n "s/.*\"$1\":\"\{0,1\}\([^\"}]*\).*/\1/p" | head -n 1; }

# The reference answer: the CLI on the same file.
"$bin" scan --json "$file" 2>/dev/null | tr -d ' \t\n' >"$work/ref.json"
ref_verdict=$(field verdict <"$work/ref.json")
ref_prob=$(field probability <"$work/ref.json")

mkfifo "$work/out"
"$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" --workers "$workers" \
    --max-queue $((n + 1)) >"$work/out" 2>"$work/server.log" &
pid=$!
read -r line <"$work/out"
port=${line##*:}
api=http://127.0.0.1:$port/api/v1/scans

# One client: the upload; "id start-time" into up.$1 once it is accepted.
client() {
    t0=$(now)
    id=$(curl -s -F "file=@$file" "$api" | field id)
    echo "${id:-FAILED} $t0" >"$work/up.$1"
}

echo "serve.sh: $n concurrent uploads of $(basename "$file") ($(wc -c <"$file") bytes)," \
    "$workers worker(s), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg)"
start=$(now)
i=0
clients=
while [ $i -lt "$n" ]; do
    client $i &
    clients="$clients $!"
    i=$((i + 1))
done
# shellcheck disable=SC2086 # the list of pids
wait $clients
cat "$work"/up.* >"$work/uploads"
# One poller for all (50 clients polling each would load the machine more than the server):
# the job list twice a second; "id end-time verdict probability" for each job seen ended.
: >"$work/ended"
while [ "$(wc -l <"$work/ended")" -lt "$n" ]; do
    t=$(now)
    curl -s "$api?limit=$n" | sed 's/{"id":"/\n/g' | awk -v t="$t" -F'"' '
        NR > 1 && ($5 == "done" || $5 == "failed") {
            v = $0; sub(/.*"verdict":"/, "", v); sub(/".*/, "", v)
            p = $0; sub(/.*"probability":/, "", p); sub(/[,}].*/, "", p)
            if ($5 == "failed") { v = "FAILED"; p = "-" }
            print $1, t, v, p }' >"$work/seen"
    sort -s -u -k1,1 "$work/ended" "$work/seen" >"$work/ended.new" # the first time seen
    mv "$work/ended.new" "$work/ended"
    grep -q FAILED "$work/uploads" && break
    sleep 0.5
done
end=$(now)
peak_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")

# Every job done with the reference answer; latency = first seen ended - upload start.
awk -v v="$ref_verdict" -v p="$ref_prob" '
    NR == FNR { t0[$1] = $2; next }
    ($3 != v || $4 != p) { print "serve.sh: job " $1 ": got " $3 " " $4 ", want " v " " p \
        > "/dev/stderr"; bad++ }
    { print $2 - t0[$1] }
    END { exit bad > 0 }' "$work/uploads" "$work/ended" | sort -n >"$work/lat.sorted" || rc=1
grep FAILED "$work/uploads" >&2 && rc=1
awk -v n="$n" -v start="$start" -v end="$end" -v peak="$peak_kb" '
    { lat[NR] = $1 }
    END {
        i50 = int((NR * 50 + 99) / 100); i95 = int((NR * 95 + 99) / 100)
        printf "results:    %d of %d jobs ended, checked against scan --json\n", NR, n
        printf "wall:       %.1f s (first upload to last result)\n", end - start
        printf "throughput: %.3f jobs/s\n", n / (end - start)
        printf "latency:    p50 %.1f s, p95 %.1f s (upload start to result)\n", lat[i50], lat[i95]
        printf "peak RSS:   %d MiB (server VmHWM)\n", peak / 1024
    }' "$work/lat.sorted"
kill -TERM "$pid"
wait "$pid" || true
pid=
sed 's/^/server: /' "$work/server.log" >&2
exit "${rc:-0}"
