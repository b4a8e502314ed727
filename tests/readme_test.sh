#!/usr/bin/env bash
# The README's "Using it" commands, run as written on a fresh copy of the
# repository's tracked files (what a clone holds), with the binary already
# built in place of its `cmake` line. Skipped among them: the `cmake` lines
# (the suite has built the binary) and `tailtrack run` (it runs until a
# signal and sends to a collector over the network). The quick start's
# scripts install packages and build everything: CI runs them itself.
#
#   tests/readme_test.sh TAILTRACK_BINARY SOURCE_DIR      (ctest: readme.commands)
set -euo pipefail
binary=$(realpath "$1")
src=$(realpath "$2")

if ! command -v git >/dev/null || ! git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  echo "SKIP: $src is not a git checkout (the test copies its tracked files)"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$src" ls-files -z | tar -C "$src" --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$work" -xf -
mkdir -p "$work/build"
ln -s "$binary" "$work/build/tailtrack"

# The first ```sh block under "## Using it".
script=$(awk '
  /^## Using it/ { section = 1; next }
  section && /^## / { exit }
  section && /^```sh/ { block = 1; next }
  block && /^```/ { exit }
  block { print }
' "$work/README.md")
[[ -n $script ]] || { echo "FAIL: no sh block under \"## Using it\" in README.md" >&2; exit 1; }
runnable=$(grep -vE '^cmake |^[^#]*tailtrack run ' <<<"$script")
echo "== from README.md, run in a fresh copy ($work):"
echo "$runnable"
echo "=="
cd "$work"
# A new user's environment: none of the variables the configurations read.
env -u CREDENTIALS_DIRECTORY -u TAILTRACK_WRITE_KEY -u TAILTRACK_STATE_DIR -u TAILTRACK_LOG_DIR \
  -u TAILTRACK_COLLECTOR_URL -u TAILTRACK_SOCKET bash -euxo pipefail -c "$runnable"
echo "readme test: every command exited 0"
