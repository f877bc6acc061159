#!/usr/bin/env bash
# Builds the plugin, muxes test video (x264enc, B-frames) and audio (avenc_aac) with
# fragmp4mux into target/demo/demo.mp4, and proves the file valid with ffprobe, ffmpeg,
# qtdemux and (fragmented) fragmp4demux before printing its structure.
#
# Optional environment: DEMO_MODE (fragmented|progressive), DEMO_SECONDS (5),
# DEMO_WIDTH x DEMO_HEIGHT (640x360).
set -euo pipefail
mode=${DEMO_MODE:-fragmented}
seconds=${DEMO_SECONDS:-5}
width=${DEMO_WIDTH:-640}
height=${DEMO_HEIGHT:-360}
cd "$(dirname "$0")/.."

scripts/install-deps.sh

cargo build --locked --lib
export GST_PLUGIN_PATH="$PWD/target/debug${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
gst-inspect-1.0 fragmp4mux > /dev/null

mkdir -p target/demo
out=target/demo/demo.mp4
rm -f "$out"

echo "== muxing $seconds s of ${width}x${height} H.264 (B-frames) + AAC, $mode, into $out"
gst-launch-1.0 -q \
  videotestsrc num-buffers=$((seconds * 30)) pattern=ball \
    ! video/x-raw,format=I420,width="$width",height="$height",framerate=30/1 \
    ! x264enc bframes=2 key-int-max=30 speed-preset=veryfast \
    ! h264parse ! fragmp4mux name=mux mode="$mode" fragment-duration=1000000000 \
    ! filesink location="$out" \
  audiotestsrc num-buffers=$((seconds * 47)) samplesperbuffer=1024 \
    ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! mux.

echo "== ffprobe"
ffprobe -v error -show_entries format=format_name,duration:stream=index,codec_name,profile,width,height,sample_rate,channels,time_base,start_time \
  -of default=noprint_wrappers=1 "$out"

echo "== ffmpeg decodes every frame"
ffmpeg -v error -i "$out" -f null - 
ffprobe -v error -count_frames -show_entries stream=codec_type,nb_read_frames -of csv=p=0 "$out"

echo "== qtdemux ! decodebin"
gst-launch-1.0 -q filesrc location="$out" ! qtdemux name=d \
  d.video_0 ! queue ! decodebin ! fakesink \
  d.audio_0 ! queue ! decodebin ! fakesink

if [ "$mode" = fragmented ]; then
  echo "== fragmp4demux ! decodebin (the file read back by this plugin's demuxer)"
  gst-launch-1.0 -q filesrc location="$out" ! fragmp4demux name=dd \
    dd.video_0 ! queue ! decodebin ! fakesink \
    dd.audio_0 ! queue ! decodebin ! fakesink
fi

echo "== structure (parsed by mp4-atom)"
cargo run --locked -q --example mp4-summary -- "$out"
echo "demo OK: $out"
