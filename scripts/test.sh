#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (Debian's Prometheus for
# promtool, curl for the TLS tests, chromium for the inspection page, the real kurento-client npm
# library, the packaging tools of tests/packaging.rs), then lint, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# tests/ui_browser.rs: the inspection page in headless Chromium.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# tests/packaging.rs: systemd-analyze and systemd-sysusers (no service is started), man -l, strace
# (the unit's system call filter), dpkg-deb and dpkg-shlibdeps (the .deb and its Depends).
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v man >/dev/null 2>&1 || missing+=(man-db)
command -v strace >/dev/null 2>&1 || missing+=(strace)
command -v dpkg-shlibdeps >/dev/null 2>&1 || missing+=(dpkg-dev)
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

# tests/packaging.rs lints and renders the Helm chart with Helm's own Go code, which this PyPI
# wheel binds (Debian 12 has no helm package).
if ! python3 -c 'import helm_python' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check helm-python-sdk==0.2.2 ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages helm-python-sdk==0.2.2
fi

# The .deb of tests/packaging.rs is built by cargo-deb (from crates.io; a one-time build of a few
# minutes, up to 10 on a busy machine).
if ! cargo deb --version >/dev/null 2>&1; then
  cargo install cargo-deb --locked --version "^3.8"
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
