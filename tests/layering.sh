#!/bin/sh
# Fail when a module includes a module below it (STYLE.md §1). The order, top to bottom; a module
# may include itself and anything listed before it. libav* headers are allowed in src/video only.
#   usage: layering.sh REPO_ROOT
set -u
root=$1
order="util image report video nn model face detect data train server cli"
status=0
rank() { # position of a module in $order, or nothing
    i=0
    for m in $order; do
        [ "$m" = "$1" ] && { echo $i; return; }
        i=$((i + 1))
    done
}
for dir in "$root"/src/*/ "$root"/include/dfdetect/*/; do
    [ -d "$dir" ] || continue
    mod=$(basename "$dir")
    r=$(rank "$mod")
    [ -n "$r" ] || { echo "layering: unknown module folder $dir"; status=1; continue; }
    for f in "$dir"*.c "$dir"*.h; do
        [ -f "$f" ] || continue
        # "dfdetect/<module>/..." includes
        for used in $(sed -n 's/^# *include *"dfdetect\/\([a-z_]*\)\/.*/\1/p' "$f" | sort -u); do
            ru=$(rank "$used")
            if [ -z "$ru" ] || [ "$ru" -gt "$r" ]; then
                echo "layering: $f ($mod) includes dfdetect/$used/, which is not above it"
                status=1
            fi
        done
        # another module's internal header
        for used in $(sed -n 's/^# *include *"\([a-z_]*\)_internal\.h".*/\1/p' "$f"); do
            if [ "$used" != "$mod" ]; then
                echo "layering: $f includes ${used}_internal.h of another module"
                status=1
            fi
        done
        if [ "$mod" != video ] && grep -Eq '^# *include *<(libav|libsw)' "$f"; then
            echo "layering: $f includes FFmpeg headers outside src/video"
            status=1
        fi
    done
done
[ $status -eq 0 ] && echo "layering: ok"
exit $status
