#!/usr/bin/env bash
# Checks the plugin's shared library against the libraries it must not load: libgio-2.0
# (see src/construct.rs: loading gio cost every process ~5 % of the muxer's instructions).
set -euo pipefail
cd "$(dirname "$0")/.."
lib=${1:-${CARGO_TARGET_DIR:-target}/debug/libgstfragmp4.so}
cargo build --locked --lib
needed=$(readelf -d "$lib" | awk '/NEEDED/ { print $NF }')
if grep -q 'libgio-2.0' <<< "$needed"; then
  echo "link check: $lib needs libgio-2.0; create objects through src/construct.rs," \
    "not glib::Object::new / builders" >&2
  exit 1
fi
echo "link check: $(wc -l <<< "$needed") libraries needed, no libgio"
