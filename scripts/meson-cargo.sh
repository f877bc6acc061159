#!/usr/bin/env bash
# Called by meson.build: builds the plugin with cargo and copies it to meson's output.
set -euo pipefail
src=$1 target_dir=$2 profile=$3 output=$4
args=(build --locked --lib --manifest-path "$src/Cargo.toml" --target-dir "$target_dir")
if [ "$profile" = release ]; then
  args+=(--release)
fi
cargo "${args[@]}"
cp "$target_dir/$profile/libgstfragmp4.so" "$output"
