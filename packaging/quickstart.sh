#!/usr/bin/env bash
# Quick start: builds tailtrack, then lets it tail a sample log while lines are
# appended to it, and prints each batch of events as it would be POSTed to the
# collector (--dry-run: no account, no network). Run from anywhere, as root on
# a fresh Debian 12 machine (it installs the build dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."

packaging/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target tailtrack

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TAILTRACK_LOG_DIR="$work" TAILTRACK_STATE_DIR="$work/state"
log="$work/shop.log"

cat > "$log" <<'LINES'
2026-01-20T06:30:00.123Z INFO order completed order_id=ord_456 user_id=user_123 total=99.99 currency=USD
2026-01-20T06:30:01.000Z DEBUG cache miss key=cart:user_123
2026-01-20T06:30:02.500Z INFO page_view path=/checkout title="Checkout | Shop" anon_id=anon_456
LINES

echo "== tailtrack run --dry-run -c config/quickstart.yaml (tailing $log)"
echo "== each line below on stdout is one batch, as it would be POSTed to /v1/capture"
build/tailtrack run --dry-run -c config/quickstart.yaml &
agent=$!

# The app keeps logging while tailtrack runs: these lines are tailed live.
sleep 1
for i in 1 2 3 4 5; do
  printf '2026-01-20T06:31:0%d.000Z INFO order completed order_id=ord_%d user_id=user_%d total=%d.50 currency=EUR\n' \
    "$i" "$((500 + i))" "$((200 + i))" "$((10 * i))" >> "$log"
  printf '2026-01-20T06:31:0%d.500Z INFO user login user_id=user_%d anon_id=anon_%d email=User%d@Example.com plan=pro\n' \
    "$i" "$((200 + i))" "$i" "$i" >> "$log"
  sleep 0.3
done
sleep 1

echo "== SIGTERM: tailtrack drains and exits"
kill -TERM "$agent"
status=0
wait "$agent" || status=$?
echo "== tailtrack exited with status $status (README.md and docs/ say how to point it at a real collector)"
exit "$status"
