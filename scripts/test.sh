#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (Debian's Prometheus for
# promtool, curl for the TLS tests, the real kurento-client npm library), then lint, then every
# test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# kurento-client@7.3.0 needs --ignore-scripts (its postinstall script is not shipped); the
# reconnect-ws override and the 6.18.0 alias (kurento-client-6) live in tests/node/package.json.
if [ ! -d tests/node/node_modules/kurento-client ] || [ ! -d tests/node/node_modules/kurento-client-6 ]; then
  npm ci --ignore-scripts --no-audit --no-fund --prefix tests/node
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
