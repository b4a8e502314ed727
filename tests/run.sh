#!/usr/bin/env bash
# Builds tailtrack and runs its whole test suite. Installs the build
# dependencies first (Debian 12). From the repository root:
#
#   tests/run.sh              # release build in build/, the full suite
#   tests/run.sh --sanitize   # the same suite under ASan + UBSan, in build-asan/
#   tests/run.sh --fuzz SECS  # every libFuzzer target for SECS seconds each (clang)
#   tests/run.sh --chaos SECS # the chaos run for SECS seconds of faults (release build in build/)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

case "${1:-}" in
  "")
    packaging/install-deps.sh
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    cmake --build build -j"$jobs"
    ctest --test-dir build -j"$jobs" --output-on-failure
    ;;
  --sanitize)
    packaging/install-deps.sh
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTAILTRACK_SANITIZE=ON -DTAILTRACK_BENCH=OFF
    cmake --build build-asan -j"$jobs"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan -j"$jobs" --output-on-failure
    ;;
  --fuzz)
    secs="${2:-60}"
    packaging/install-deps.sh --fuzz
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTAILTRACK_FUZZ=ON -DTAILTRACK_TESTS=OFF -DTAILTRACK_BENCH=OFF
    cmake --build build-fuzz -j"$jobs"
    # Each target starts from its seeds in tests/fuzz/corpus/<target> (read
    # only) and what earlier runs found in build-fuzz/corpus/<target>, with
    # its dictionary when it has one.
    for f in build-fuzz/*_fuzz; do
      [[ -x "$f" ]] || continue
      t=$(basename "$f" _fuzz)
      echo "== $t for ${secs}s"
      mkdir -p "build-fuzz/corpus/$t"
      args=(-max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1)
      [[ -f "tests/fuzz/dict/$t.dict" ]] && args+=(-dict="tests/fuzz/dict/$t.dict")
      seeds=()
      [[ -d "tests/fuzz/corpus/$t" ]] && seeds=("tests/fuzz/corpus/$t")
      "$f" "${args[@]}" "build-fuzz/corpus/$t" "${seeds[@]}"
    done
    ;;
  --chaos)
    secs="${2:-150}"
    packaging/install-deps.sh
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    minutes=$(awk -v s="$secs" 'BEGIN { printf "%.3f", s / 60 }')
    tests/chaos/run --build build --minutes "$minutes" --json build/chaos-summary.json
    ;;
  *)
    echo "usage: tests/run.sh [--sanitize | --fuzz SECS | --chaos SECS]" >&2
    exit 2
    ;;
esac
