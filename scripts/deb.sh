#!/usr/bin/env bash
# Builds the Debian package into target/debian/ (needs cargo-deb: cargo install cargo-deb).
# The man pages and shell completions come from the binary itself, so the release binary is built
# first, then they are generated next to it in target/release/packaging/, where the assets of
# [package.metadata.deb] in Cargo.toml expect them; then `cargo deb --no-build`.
#   scripts/deb.sh [--no-build] [cargo deb options, e.g. --fast or --output DIR]
# --no-build skips the cargo build: the binary must already be at $CARGO_TARGET_DIR/release/
# (tests/packaging.rs puts its test build there, in a scratch target directory).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
if [ "${1:-}" = "--no-build" ]; then
  build=0
  shift
fi
if [ "$build" = 1 ]; then
  cargo build --release --locked --bin kurento_exporter
fi

release="${CARGO_TARGET_DIR:-target}/release"
bin="$release/kurento_exporter"
out="$release/packaging"
rm -rf "$out"
mkdir -p "$out/man"
"$bin" man --dir "$out/man"
gzip -9n "$out"/man/*.1
"$bin" completions bash >"$out/kurento_exporter.bash"
"$bin" completions zsh >"$out/_kurento_exporter"
"$bin" completions fish >"$out/kurento_exporter.fish"

exec cargo deb --no-build --locked "$@"
