#!/usr/bin/env bash
# Installs what building and testing tailtrack needs, from Debian 12's packages.
# Skips apt-get entirely when everything is already there. Run as root (or
# with sudo available).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git python3 tzdata ca-certificates
  libuv1-dev libcurl4-openssl-dev libsimdjson-dev libyaml-cpp-dev libre2-dev
  zlib1g-dev libssl-dev libhowardhinnant-date-dev libcli11-dev libfmt-dev libdeflate-dev
  libgtest-dev libgmock-dev libcpp-httplib-dev libbenchmark-dev libhttp-parser-dev
  logrotate
  # The Debian package's test: cpack's dpkg-shlibdeps, lintian, systemd-analyze
  # (verify, security), procps (/bin/kill, which the unit's ExecReload runs).
  dpkg-dev lintian systemd procps
  # packaging/: promtool checks the alert rules, yamllint the manifests, node
  # runs packaging/kubernetes/check, whose npm modules are installed below.
  prometheus yamllint nodejs
  # The admin status page is checked in a real browser (tests/status_page_test.cc).
  chromium
)
# npm comes with Debian's nodejs as its own package, with NodeSource's inside nodejs.
command -v npm >/dev/null || packages+=(npm)
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
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The npm modules of packaging/kubernetes/check (the Kubernetes API schemas),
# pinned by its package-lock.json, in a cache outside the source tree; the
# test finds them there and skips, saying so, when they are missing.
check_src="$(dirname "$0")/kubernetes/check"
check_dir="${TAILTRACK_CHECK_NODE_DIR:-/var/cache/tailtrack-check}"
if [[ "${1:-}" != "--fuzz" ]] && ! cmp -s "$check_src/package-lock.json" "$check_dir/package-lock.json"; then
  echo "installing npm modules for packaging/kubernetes/check into $check_dir" >&2
  $sudo mkdir -p "$check_dir"
  $sudo cp "$check_src/package.json" "$check_src/package-lock.json" "$check_dir/"
  # npm trusts the system's CA bundle too (a machine behind a TLS-inspecting
  # proxy has its CA there). Without the modules the manifest test skips,
  # saying so: a registry that cannot be reached does not stop the build.
  cafile=()
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && cafile=(--cafile=/etc/ssl/certs/ca-certificates.crt)
  if ! (cd "$check_dir" && $sudo npm ci "${cafile[@]}" --no-audit --no-fund --loglevel=error >/dev/null); then
    echo "WARNING: npm ci failed: the Kubernetes manifest checks will be skipped" >&2
    $sudo rm -f "$check_dir/package-lock.json"  # so that the next run tries again
  fi
fi
