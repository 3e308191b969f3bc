#!/bin/sh
# Install what dfdetect needs to build and test, and fetch the pretrained face models and the
# demo image. Idempotent and quiet when nothing is missing; every fetched file is checked against
# scripts/checksums.txt and written under a temporary name first.
#   usage: scripts/setup.sh            (from anywhere; works on the repository it lives in)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

# ---- Debian packages ----
# Tools are needed as commands (they may come from elsewhere, e.g. a Node.js install that brings
# npm): command:package. Libraries are checked as packages.
# Build: compiler, CMake, pkg-config and the libraries of DESIGN.md. Tests: the ffmpeg program
# (fixtures), clang-format (style check), node and chromium (the web page's browser test), curl
# (bench/serve.sh). Set-up itself: npm (models, playwright-core), dpkg-deb, apt-get.
tools="gcc:gcc make:make cmake:cmake pkg-config:pkg-config ffmpeg:ffmpeg
clang-format:clang-format npm:npm node:nodejs chromium:chromium curl:curl"
libraries="libc6-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
libpng-dev libjpeg62-turbo-dev libcjson-dev libdnnl-dev libmicrohttpd-dev libsqlite3-dev
libcurl4-openssl-dev ca-certificates"

# as_root CMD...: run a command as root (directly when we are root, else through sudo).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $* (run as root or install sudo)"
    fi
}

apt_updated=0
apt_update_once() {
    if [ $apt_updated -eq 0 ]; then
        as_root apt-get update -qq >/dev/null || die "apt-get update failed"
        apt_updated=1
    fi
}

missing=""
for t in $tools; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing="$missing ${t#*:}"
done
for p in $libraries; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    apt_update_once
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends $missing \
        >/dev/null || die "apt-get install failed for:$missing"
fi

# ---- checksums ----
# expected_sum PATH: "algorithm digest" for PATH from checksums.txt.
expected_sum() {
    awk -v p="$1" '$1 !~ /^#/ && $3 == p { print $1, $2 }' scripts/checksums.txt
}

# verified PATH: true when PATH exists and matches its pinned checksum.
verified() {
    [ -s "$1" ] || return 1
    set -- "$1" $(expected_sum "$1")
    [ -n "${3:-}" ] || die "no checksum pinned for $1"
    [ "$("${2}sum" < "$1" | cut -d' ' -f1)" = "$3" ]
}

# ---- pretrained face models (npm: @vladmandic/human@3.3.6) ----
model_files="blazeface.json blazeface.bin facemesh.json facemesh.bin faceres.json faceres.bin
antispoof.json antispoof.bin"
models_ok=1
for f in $model_files; do
    verified "models/$f" || models_ok=0
done
if [ $models_ok -eq 0 ]; then
    tgz=models/cache/vladmandic-human-3.3.6.tgz
    mkdir -p models/cache
    if ! verified "$tgz"; then
        say "fetching @vladmandic/human@3.3.6 from the npm registry (28.6 MB)"
        rm -f "$tgz"
        (cd models/cache && npm pack @vladmandic/human@3.3.6 --silent >/dev/null) ||
            die "npm pack @vladmandic/human@3.3.6 failed (no network?)"
        verified "$tgz" || { rm -f "$tgz"; die "$tgz: checksum mismatch, deleted"; }
    fi
    tmp=$(mktemp -d models/tmp.XXXXXX)
    members=""
    for f in $model_files; do
        members="$members package/models/$f"
    done
    # shellcheck disable=SC2086
    tar -xzf "$tgz" -C "$tmp" $members || { rm -rf "$tmp"; die "$tgz: cannot extract the models"; }
    for f in $model_files; do
        mv "$tmp/package/models/$f" "models/$f"
        verified "models/$f" || { rm -rf "$tmp"; die "models/$f: checksum mismatch"; }
    done
    rm -rf "$tmp"
    say "models ready in models/ (blazeface, facemesh, faceres, antispoof)"
fi

# ---- astronaut.png (Debian python3-skimage; public domain, NASA) ----
if ! verified assets/astronaut.png; then
    say "fetching astronaut.png from Debian's python3-skimage package"
    mkdir -p assets
    tmp=$(mktemp -d assets/tmp.XXXXXX)
    # apt-get download writes into the current directory; the package lists must exist.
    if ! (cd "$tmp" && apt-get download python3-skimage >/dev/null 2>&1); then
        apt_update_once
        (cd "$tmp" && apt-get download python3-skimage >/dev/null 2>&1) ||
            { rm -rf "$tmp"; die "apt-get download python3-skimage failed"; }
    fi
    deb=$(ls "$tmp"/python3-skimage_*.deb)
    dpkg-deb --fsys-tarfile "$deb" |
        tar -x -O ./usr/lib/python3/dist-packages/skimage/data/astronaut.png > "$tmp/astronaut.png" ||
        { rm -rf "$tmp"; die "$deb: astronaut.png not found in the package"; }
    mv "$tmp/astronaut.png" assets/astronaut.png
    rm -rf "$tmp"
    verified assets/astronaut.png || { rm -f assets/astronaut.png; die "astronaut.png: checksum mismatch"; }
fi

# ---- playwright-core for the browser test (tests/server/browser; pinned in its package-lock) ----
# Only the driver: the test runs Debian's chromium, so no browser download.
browser_dir=tests/server/browser
pinned=$(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/\1/p' "$browser_dir/package.json")
installed=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
    "$browser_dir/node_modules/playwright-core/package.json" 2>/dev/null | head -n 1)
if [ "$installed" != "$pinned" ]; then
    say "installing playwright-core@$pinned into $browser_dir/node_modules (npm ci)"
    (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit \
        --no-fund --silent >/dev/null) || die "npm ci in $browser_dir failed (no network?)"
fi
exit 0
