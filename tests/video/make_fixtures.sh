#!/bin/sh
# Generate the video fixtures of the tests with the ffmpeg program (the library never shells
# out; tests may). Each frame of the pattern clips carries its generator frame number n as 12
# black/white boxes across the top sixth of the picture (box b white <=> bit b of n is set), so a
# test can tell exactly which frame it got back. Files are cached in DIR and regenerated when this
# script changes.
#   usage: make_fixtures.sh DIR [ASTRONAUT_PNG]
set -eu
dir=$1
astronaut=${2:-}
mkdir -p "$dir"
stamp=$(cksum < "$0" | cut -d' ' -f1)
if [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -f "$dir"/*.mp4 "$dir"/*.webm "$dir"/*.mkv "$dir"/*.ts "$dir"/*.m4a "$dir"/*.y4m "$dir"/*.txt
fi
command -v ffmpeg >/dev/null || { echo "make_fixtures: ffmpeg not found (run scripts/setup.sh)" >&2; exit 1; }

# The frame-number pattern as a filter chain.
bits=drawbox=x=0:y=0:w=iw:h=ih/6:color=black:t=fill
b=0
while [ $b -lt 12 ]; do
    bits="$bits,drawbox=x=$b*iw/12:y=0:w=iw/12:h=ih/6:color=white:t=fill:enable='mod(floor(n/$((1 << b))),2)'"
    b=$((b + 1))
done

ff() { ffmpeg -nostdin -v error -y "$@"; }

# gen NAME COMMAND...: run COMMAND writing to a temporary name (the last argument), then rename.
gen() {
    name=$1
    shift
    [ -s "$dir/$name" ] && return 0
    tmp="$dir/tmp.$name"
    # The command's last argument is the output; replace it with the temporary name.
    n=$#
    i=0
    for a in "$@"; do
        i=$((i + 1))
        if [ $i -eq $n ]; then
            set -- "$@" "$tmp"
        else
            set -- "$@" "$a"
        fi
    done
    shift $n
    "$@"
    mv "$tmp" "$dir/$name"
}

src() { echo "testsrc2=size=$1:rate=$2:duration=$3"; }

# 10 s 1080p30 H.264 as x264 makes it by default (B-frames, 2 keyframes), moov at the end.
gen h264_1080p.mp4 ff -f lavfi -i "$(src 1920x1080 30 10)" -vf "$bits" \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -f mp4 out
# 720p VP9 in WebM, 3 s, a keyframe every second.
gen vp9_720p.webm ff -f lavfi -i "$(src 1280x720 30 3)" -vf "$bits" \
    -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -g 30 -b:v 1M -f webm out
# Portrait phone clip: stored 640x360 with AAC audio, remuxed with a display matrix that turns it
# 90 degrees clockwise (display 360x640). FFmpeg 5.1 sets the matrix only on stream copy, and
# its tag value is counter-clockwise: rotate=270 is what `ffmpeg` shows turned clockwise.
gen landscape_audio.mp4 ff -f lavfi -i "$(src 640x360 30 3)" -f lavfi -i sine=frequency=440:duration=3 \
    -vf "$bits" -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest -f mp4 out
gen portrait_rot90.mp4 ff -i "$dir/landscape_audio.mp4" -c copy -metadata:s:v:0 rotate=270 -f mp4 out
# Variable frame rate: frames 0-59 at 30 fps (0..2 s), frames 60-149 at 15 fps (2..8 s).
# setpts works in ticks of 1/30 s here; integer arithmetic keeps the timestamps exact.
gen vfr.mp4 ff -f lavfi -i "$(src 640x360 30 5)" \
    -vf "$bits,setpts='if(lt(N,60),N,60+2*(N-60))'" -fps_mode passthrough \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -video_track_timescale 900 -f mp4 out
# Odd frame size (4:4:4, as 4:2:0 needs even sizes; testsrc2 itself rounds sizes down to even).
gen odd_641x361.mp4 ff -f lavfi -i "$(src 640x360 25 2)" -vf "scale=641:361,$bits" \
    -c:v libx264 -preset veryfast -pix_fmt yuv444p -f mp4 out
# First timestamp far from zero: MPEG-TS shifted by 10 s, and MP4 with an initial edit.
gen start_offset.ts ff -f lavfi -i "$(src 640x360 30 3)" -vf "$bits" \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -output_ts_offset 10 -f mpegts out
gen start_offset.mp4 ff -f lavfi -i "$(src 640x360 30 3)" -vf "$bits" \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -output_ts_offset 5 -f mp4 out
# Small clip with the index at the front (faststart), for truncation of both layouts.
gen small_faststart.mp4 ff -f lavfi -i "$(src 640x360 30 4)" -vf "$bits" \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -movflags +faststart -f mp4 out

# A raw H.264 elementary stream: no container timestamps, so sampling must scan forward.
gen raw.h264 ff -i "$dir/start_offset.mp4" -c copy -bsf:v h264_mp4toannexb -f h264 out
# Colour patches #D02020 #20C040 #3040D0 #E0C020 side by side, converted with a stated matrix
# and labelled with it, each against the size heuristic for unlabelled video (BT.601 below 720
# lines, BT.709 from 720): only a decoder that honours the label gets the colours right.
patches() { # WIDTH HEIGHT MATRIX_FOR_SCALE
    pw=$(($1 / 4))
    for c in D02020 20C040 3040D0 E0C020; do
        printf ' -f lavfi -i color=c=0x%s:s=%sx%s:r=30:d=0.2' "$c" "$pw" "$2"
    done
}
# shellcheck disable=SC2046
gen colors_bt709.mp4 ff $(patches 640 360) \
    -filter_complex "[0][1][2][3]hstack=inputs=4,format=rgb24,scale=out_color_matrix=bt709:out_range=tv,format=yuv420p" \
    -colorspace bt709 -color_primaries bt709 -color_trc bt709 -color_range tv \
    -c:v libx264 -preset veryfast -f mp4 out
# shellcheck disable=SC2046
gen colors_bt601.mp4 ff $(patches 1280 720) \
    -filter_complex "[0][1][2][3]hstack=inputs=4,format=rgb24,scale=out_color_matrix=bt601:out_range=tv,format=yuv420p" \
    -colorspace smpte170m -color_primaries smpte170m -color_trc smpte170m -color_range tv \
    -c:v libx264 -preset veryfast -f mp4 out

# ---- bad inputs ----
gen audio_only.m4a ff -f lavfi -i sine=frequency=440:duration=1 -c:a aac -f mp4 out
if [ ! -s "$dir/truncated.mp4" ]; then
    size=$(wc -c < "$dir/h264_1080p.mp4")
    head -c $((size / 2)) "$dir/h264_1080p.mp4" > "$dir/tmp.truncated.mp4"
    mv "$dir/tmp.truncated.mp4" "$dir/truncated.mp4"
fi
if [ ! -s "$dir/truncated_faststart.mp4" ]; then
    size=$(wc -c < "$dir/small_faststart.mp4")
    head -c $((size / 2)) "$dir/small_faststart.mp4" > "$dir/tmp.truncated_faststart.mp4"
    mv "$dir/tmp.truncated_faststart.mp4" "$dir/truncated_faststart.mp4"
fi
if [ ! -s "$dir/text.mp4" ]; then
    printf 'This is a text file, not a video.\n' > "$dir/text.mp4"
fi
: > "$dir/empty.mp4"
# A YUV4MPEG header claiming 12000x12000 (144 Mpixels) followed by one tiny frame.
if [ ! -s "$dir/absurd.y4m" ]; then
    { printf 'YUV4MPEG2 W12000 H12000 F30:1 Ip A1:1 C420jpeg\nFRAME\n'; head -c 4096 /dev/zero; } \
        > "$dir/absurd.y4m"
fi
# A video stream without a single frame: a YUV4MPEG header and nothing after it.
if [ ! -s "$dir/zero_frames.y4m" ]; then
    printf 'YUV4MPEG2 W320 H240 F30:1 Ip A1:1 C420jpeg\n' > "$dir/zero_frames.y4m"
fi

# The demo clip: a slow pan and zoom over the astronaut portrait (no pattern).
if [ -n "$astronaut" ] && [ -s "$astronaut" ]; then
    gen astronaut_pan.mp4 ff -loop 1 -framerate 30 -i "$astronaut" \
        -vf "zoompan=z='1+0.0015*on':x='(iw-iw/zoom)/2+on*0.3':y='(ih-ih/zoom)/3':d=1:s=640x640:fps=30" \
        -frames:v 150 -c:v libx264 -preset veryfast -pix_fmt yuv420p -f mp4 out
fi
echo "$stamp" > "$dir/.stamp"
