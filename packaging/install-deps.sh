#!/usr/bin/env bash
# Installs what building and testing tailtrack needs, from Debian 12's packages.
# Skips apt-get entirely when everything is already there. Run as root (or
# with sudo available).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git python3 tzdata ca-certificates
  libuv1-dev libcurl4-openssl-dev libsimdjson-dev libyaml-cpp-dev libre2-dev
  zlib1g-dev libssl-dev libhowardhinnant-date-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libcpp-httplib-dev libbenchmark-dev libhttp-parser-dev
  logrotate
  prometheus  # promtool: a test checks /metrics with `promtool check metrics`
  # The admin status page is checked in a real browser (tests/status_page_test.cc).
  chromium
)
if [[ "${1:-}" == "--fuzz" ]]; then
  # llvm: /usr/bin/llvm-symbolizer, without which a fuzzer's crash report has
  # no function names or lines (clang only recommends it, and we install
  # without recommends).
  packages+=(clang libclang-rt-14-dev llvm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
