#!/bin/sh
# The main job on the bundled default: make a short clip from the astronaut portrait (a slow pan
# and zoom), describe it, sample frames from it, extract its faces (aligned crops, landmarks, a
# face-only clip and a contact sheet) and scan it end to end with the shipped default detector
# (share/models/dfdetect-default.safetensors, docs/MODEL_CARD.md): the REAL/FAKE verdict with its
# Grad-CAM evidence and per-frame timeline.
#   usage: scripts/demo.sh PATH/TO/dfdetect OUTDIR
set -eu
bin=$1
out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
clip="$out/astronaut_pan.mp4"
if [ ! -s "$clip" ]; then
    ffmpeg -nostdin -v error -y -loop 1 -framerate 30 -i "$root/assets/astronaut.png" \
        -vf "zoompan=z='1+0.0015*on':x='(iw-iw/zoom)/2+on*0.3':y='(ih-ih/zoom)/3':d=1:s=640x640:fps=30" \
        -frames:v 150 -c:v libx264 -preset veryfast -pix_fmt yuv420p -f mp4 "$clip.tmp"
    mv "$clip.tmp" "$clip"
fi
echo "== dfdetect probe $clip"
"$bin" probe "$clip"
echo
echo "== dfdetect frames $clip --count 8 --out $out/frames --grid $out/frames.png"
"$bin" frames "$clip" --count 8 --out "$out/frames" --grid "$out/frames.png"
echo
echo "== dfdetect faces $clip --frames 16 --out $out/faces --sheet --export-video"
"$bin" faces "$clip" --frames 16 --out "$out/faces" --sheet --export-video
echo
echo "== dfdetect scan $clip --explain $out/explain"
"$bin" scan "$clip" --explain "$out/explain"
echo
echo "demo: frames in $out/frames.png; faces, landmarks and boxes in $out/faces/astronaut_pan/"
echo "      (sheet.png, faces.json, face0/*.png, face0.mp4); the verdict's evidence in"
echo "      $out/explain/astronaut_pan.mp4/ (heatmaps, sheet.png, timeline.png)"
