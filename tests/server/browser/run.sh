#!/bin/sh
# CTest entry of the browser test (browser_test.mjs): checks what it needs, then runs it.
# Exit 77 (skipped) only when node or Chromium is not installed, or the face models are not
# fetched (as every other test that runs the detector); scripts/setup.sh installs all three and
# playwright-core (npm ci here, into the git-ignored node_modules/).
#   usage: run.sh DFDETECT_BIN CLIP OUT_DIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$1
clip=$2
out=$3
chromium=${DFD_CHROMIUM:-/usr/bin/chromium}
command -v node >/dev/null 2>&1 || { echo "browser: node not found, skipped"; exit 77; }
[ -x "$chromium" ] || { echo "browser: $chromium not found, skipped"; exit 77; }
if [ -n "${DFD_SOURCE_DIR:-}" ] && [ ! -s "$DFD_SOURCE_DIR/models/blazeface.json" ]; then
    echo "browser: face models absent (scripts/setup.sh fetches them), skipped"
    exit 77
fi
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    echo "browser: error: $here/node_modules/playwright-core missing: run scripts/setup.sh" >&2
    exit 1
fi
[ -s "$clip" ] || { echo "browser: error: $clip: no such clip" >&2; exit 1; }
exec node "$here/browser_test.mjs" "$bin" "$clip" "$out"
