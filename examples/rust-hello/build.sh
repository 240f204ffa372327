#!/usr/bin/env bash
# Builds the worker in release mode and puts the binary next to
# dispatcher.yaml, where its `command: ["./rust-hello"]` expects it (and where a
# Lambda deployment package has it).
#   examples/rust-hello/build.sh                                          # crates.io
#   CARGO_CONFIG=.ci/cargo-offline.toml examples/rust-hello/build.sh      # offline, Debian's crates
# CARGO_TARGET_DIR is honoured (the tests share one target directory).
set -euo pipefail
config=()
if [ -n "${CARGO_CONFIG:-}" ]; then
  config=(--config "$(realpath "$CARGO_CONFIG")")
fi
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="$(realpath -m "$CARGO_TARGET_DIR")"
fi
cd "$(dirname "$0")"
cargo "${config[@]}" build --release --quiet
cp "${CARGO_TARGET_DIR:-target}/release/rust-hello" "./rust-hello"
echo "built $PWD/rust-hello"
