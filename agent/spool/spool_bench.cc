// The spool's throughput on the file system of $TAILTRACK_BENCH_DIR (default
// /var/tmp, which is a disk where /tmp may be a tmpfs): appending sealed
// batches of about 100 KiB, with and without an fdatasync after each, and
// handing them back out (Next + Ack) as a replay after an outage would.
//
//   build/tailtrack_bench --benchmark_filter=Spool
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "spool/crc32c.h"
#include "spool/spool.h"

namespace tailtrack {
namespace {

// 200 events of about 500 bytes: a batch as the batcher seals it under load.
Batch MakeBatch() {
  Batch batch;
  for (int i = 0; i < 200; ++i) {
    batch.Append(fmt::format(R"({{"type":"track","event":"Order Completed","messageId":"m-{}","properties":{{"p":"{}"}}}})",
                             i, std::string(420, 'x')),
                 0);
  }
  batch.Seal();
  batch.origins.push_back(BatchOrigin{0, 42, 0, 100'000});
  return batch;
}

class BenchDir {
 public:
  BenchDir() {
    const char* base = std::getenv("TAILTRACK_BENCH_DIR");
    std::string tmpl = std::string(base ? base : "/var/tmp") + "/tailtrack-spool-bench-XXXXXX";
    if (!::mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~BenchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<Spool> OpenSpool(const std::string& dir, bool fsync) {
  std::string error;
  auto spool = Spool::Open(SpoolOptions{dir + "/spool", 1ull << 30, WhenFull::kDropOldest, fsync}, &error);
  if (!spool) std::abort();
  return spool;
}

void BM_SpoolAppend(benchmark::State& state) {
  const bool fsync = state.range(0) != 0;
  BenchDir dir;
  auto spool = OpenSpool(dir.path(), fsync);
  const Batch batch = MakeBatch();
  for (auto _ : state) {
    if (spool->Append(batch) != Spool::AppendResult::kOk) state.SkipWithError("append refused");
    if (!spool->Sync()) state.SkipWithError("sync failed");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch.body().size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_SpoolAppend)->ArgName("fsync")->Arg(0)->Arg(1)->UseRealTime();

// Next + Ack of batches already on disk (in the page cache: what is measured
// is the reading, checking and decoding, not the disk).
void BM_SpoolReplay(benchmark::State& state) {
  BenchDir dir;
  const Batch batch = MakeBatch();
  auto spool = OpenSpool(dir.path(), false);
  int64_t replayed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < 1000; ++i) spool->Append(batch);
    spool.reset();
    spool = OpenSpool(dir.path(), false);  // read back from the oldest segment, as after a restart
    state.ResumeTiming();
    SpoolRef ref;
    while (auto back = spool->Next(&ref)) {
      spool->Ack(ref);
      ++replayed;
    }
  }
  state.SetItemsProcessed(replayed);
  state.SetBytesProcessed(replayed * static_cast<int64_t>(batch.body().size()));
}
BENCHMARK(BM_SpoolReplay)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Crc32c(benchmark::State& state) {
  const bool hardware = state.range(0) != 0;
  if (hardware && !crc32c::HardwareAvailable()) {
    state.SkipWithError("no SSE4.2");
    return;
  }
  const std::string data(kBlockSize, 'x');
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = hardware ? crc32c::ExtendHardware(crc, data.data(), data.size())
                   : crc32c::ExtendPortable(crc, data.data(), data.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Crc32c)->ArgName("sse42")->Arg(0)->Arg(1);

}  // namespace
}  // namespace tailtrack
