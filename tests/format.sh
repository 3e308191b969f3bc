#!/bin/sh
# Fail when a C file is not formatted by .clang-format (STYLE.md §10). Exit 77 (skipped) when
# clang-format is not installed.
#   usage: format.sh REPO_ROOT
set -u
root=$1
command -v clang-format >/dev/null 2>&1 || { echo "format: clang-format not found, skipped"; exit 77; }
cd "$root" || exit 1
bad=0
for f in $(find src include tests bench tools -name '*.[ch]' 2>/dev/null | sort); do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "format: $f is not clang-formatted (run: clang-format -i $f)"
        bad=1
    fi
done
[ $bad -eq 0 ] && echo "format: ok"
exit $bad
