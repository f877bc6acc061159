#!/usr/bin/env bash
# The full test suite: formatting, lints, unit tests and pipeline tests with real encoders.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# playwright-core (from package-lock.json) drives Debian's Chromium in tests/mux_browser.rs.
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
scripts/check-links.sh

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --lib --tests 2>&1 | tee "$log"
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
