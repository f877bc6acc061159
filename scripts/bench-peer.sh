#!/usr/bin/env bash
# Builds gst-plugins-rs' isofmp4mux (crate gst-plugin-fmp4 0.14.x from crates.io) in a
# scratch directory, as a benchmark peer only (never a dependency of this project).
# Prints the directory holding libgstfmp4.so.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${CARGO_TARGET_DIR:-$PWD/target}/bench/peer
mkdir -p "$scratch"
if [ -f "$scratch/out/release/libgstfmp4.so" ]; then
  echo "$scratch/out/release"
  exit 0
fi
# Fetch the crate source through cargo (the registry is the only network there is).
mkdir -p "$scratch/fetch/src"
cat > "$scratch/fetch/Cargo.toml" <<'TOML'
[package]
name = "fetch-fmp4"
version = "0.0.0"
edition = "2021"
[dependencies]
gst-plugin-fmp4 = "~0.14"
TOML
touch "$scratch/fetch/src/lib.rs"
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo fetch -q --manifest-path "$scratch/fetch/Cargo.toml" >&2
version=$(grep -A1 'name = "gst-plugin-fmp4"' "$scratch/fetch/Cargo.lock" | sed -n 's/version = "\(.*\)"/\1/p')
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/gst-plugin-fmp4-"$version" | head -1)
rm -rf "$scratch/src" && cp -r "$src" "$scratch/src"
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback \
  cargo build -q --release --lib --manifest-path "$scratch/src/Cargo.toml" --target-dir "$scratch/out" >&2
echo "$scratch/out/release"
