#!/usr/bin/env bash
# Render the real PASTRY trend report in headless Chromium (Debian's `chromium` package) and keep a
# full-page screenshot in eval/results/report-pastry.png, to be looked at: layout problems (overlapping
# charts, clipped tables, broken images) show there and nowhere else. Tests parse the HTML instead and
# never need a browser.
#
#   eval/check_report_render.sh [backend]     backend: none (default, fast) | embedded | http | auto
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND="${1:-none}"
HTML="${OUT:-out}/report-pastry.html"
SHOT=eval/results/report-pastry.png
command -v chromium >/dev/null || { echo "chromium not found: apt-get install -y chromium" >&2; exit 2; }
mkdir -p "$(dirname "$HTML")" eval/results

.venv/bin/shelfcast report --department PASTRY --horizon 8 --backend "$BACKEND" --out "$HTML"
# Self-contained: nothing in the page may point at the network.
if grep -Eq '(src|href)="(https?:)?//' "$HTML"; then echo "error: $HTML references an external resource" >&2; exit 1; fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# A window taller than the page; the blank tail is cropped below.
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$TMP/profile" \
  --screenshot="$TMP/page.png" --window-size=1200,9000 "file://$PWD/$HTML" >/dev/null 2>&1

.venv/bin/python - "$TMP/page.png" "$SHOT" <<'PY'
import sys

import numpy as np
from PIL import Image

image = Image.open(sys.argv[1]).convert("RGB")
page = np.asarray(image.convert("L"))
rows = np.flatnonzero((page < 250).any(axis=1))
if rows.size == 0:
    sys.exit("error: the screenshot is blank")
if rows[-1] >= page.shape[0] - 40:
    sys.exit("error: the page is longer than the screenshot window; raise --window-size")
image.crop((0, 0, page.shape[1], rows[-1] + 40)).save(sys.argv[2], optimize=True)
print(f"screenshot: {sys.argv[2]} ({page.shape[1]}x{rows[-1] + 40})")
PY
