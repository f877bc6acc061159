#!/usr/bin/env bash
# The full test suite: formatting, lints, unit tests and pipeline tests with real encoders.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
