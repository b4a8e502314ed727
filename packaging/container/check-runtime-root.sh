#!/usr/bin/env bash
# The container image's runtime stage without a container engine: a minimal
# Debian 12 root (debootstrap --variant=minbase, close to bookworm-slim) gets
# the packages the Dockerfile's runtime stage installs, the built binary and
# the image's configuration; then, with the root mounted read-only, the state
# directory as the only writable place, and uid:gid 65532, it runs
# `tailtrack --version`, `validate`, and `run` against build/fake_collector
# until one line of /var/log/app arrives. As root, from the repository root,
# after a build (build/tailtrack, build/fake_collector):
#
#   packaging/container/check-runtime-root.sh [ROOT_DIR]
#
# It downloads Debian's base system, so it is not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="${1:-/tmp/tailtrack-runtime-root}"
port=18931
[[ -x build/tailtrack && -x build/fake_collector ]] || { echo "build first: build/tailtrack, build/fake_collector" >&2; exit 2; }

# The runtime stage's packages: the words after its `apt-get install` options.
packages=$(sed -n '/^FROM debian:bookworm-slim/,$p' packaging/container/Dockerfile |
  sed -n '/apt-get install/,/&&/p' | tr -d '\\' | tr -s ' \n' '\n' |
  grep -v -E '^(&&.*|apt-get|install|-.*|DEBIAN_FRONTEND=.*|rm|/var/lib/apt/lists/.*)?$')
echo "runtime packages: $(echo $packages)" >&2

if [[ ! -x "$root/usr/bin/apt-get" ]]; then
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
# shellcheck disable=SC2086
chroot "$root" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(echo $packages)" >/dev/null
install -m 0755 build/tailtrack "$root/usr/bin/tailtrack"
install -D -m 0644 packaging/container/tailtrack.yaml "$root/etc/tailtrack/tailtrack.yaml"
install -d -o 65532 -g 65532 -m 0700 "$root/var/lib/tailtrack"
install -d "$root/var/log/app"
echo "a line from the image's check" > "$root/var/log/app/app.log"
state=$(mktemp -d)
chown 65532:65532 "$state"

build/fake_collector --port "$port" --write-key check-key > "$state.collector" 2>&1 &
collector=$!
trap 'kill $collector 2>/dev/null; rm -rf "$state" "$state.collector"' EXIT

unshare -m bash -euo pipefail -c '
  root=$1 state=$2 port=$3
  mount --bind "$root" "$root"
  mount -o remount,bind,ro "$root"
  mount --bind "$state" "$root/var/lib/tailtrack"
  mount -t proc proc "$root/proc"
  in_image() { chroot --userspec=65532:65532 "$root" /usr/bin/env -i PATH=/usr/bin:/bin "$@"; }
  in_image tailtrack --version
  in_image TAILTRACK_WRITE_KEY=check-key tailtrack validate -c /etc/tailtrack/tailtrack.yaml
  if in_image sh -c "touch /etc/tailtrack/x" 2>/dev/null; then echo "the root is writable" >&2; exit 1; fi
  # chroot and env exec: $! is the agent itself.
  chroot --userspec=65532:65532 "$root" /usr/bin/env -i PATH=/usr/bin:/bin TAILTRACK_WRITE_KEY=check-key \
    TAILTRACK_COLLECTOR_URL=http://127.0.0.1:$port tailtrack run -c /etc/tailtrack/tailtrack.yaml &
  agent=$!
  for _ in $(seq 100); do grep -q "a line from the image" "$state.collector" 2>/dev/null && break; sleep 0.1; done
  kill -TERM $agent
  wait $agent
' _ "$root" "$state" "$port"
grep -q "a line from the image's check" "$state.collector" || { echo "FAILED: the line did not arrive" >&2; exit 1; }
echo "ok: the runtime stage's packages run the binary as 65532 on a read-only root and deliver"
