// Lines per second through line splitting + RuleSet::Map + appending each
// event to a batch body, on the workload of bench/gen_log.py (2,000,000
// lines, half of them "order completed" mapped to a track event with four
// properties). The log is $TAILTRACK_BENCH_LOG, or generated once into /tmp.
//
//   build/tailtrack_bench --benchmark_filter=RulesMap --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "config/config.h"
#include "rules/rule_set.h"

namespace tailtrack {
namespace {

std::string LoadWorkload() {
  std::string path;
  if (const char* env = std::getenv("TAILTRACK_BENCH_LOG")) {
    path = env;
  } else {
    path = "/tmp/tailtrack_bench_gen_log_2M.log";
    std::ifstream probe(path);
    if (!probe) {
      const char* gen = std::getenv("TAILTRACK_GEN_LOG");
      // The repository's copy of ../shared/bench/gen_log.py (same seed, same lines).
      std::string root = __FILE__;
      root.resize(root.size() - std::strlen("agent/rules/rules_bench.cc"));
      const std::string script = gen ? gen : root + "tests/bench/gen_log.py";
      const std::string command = "python3 " + script + " " + path + " > /dev/null";
      if (std::system(command.c_str()) != 0) {
        std::fprintf(stderr, "cannot generate the workload with: %s\n", command.c_str());
        std::exit(1);
      }
    }
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TemplateNode Scalar(std::string text) {
  TemplateNode n;
  n.text = std::move(text);
  return n;
}

TemplateNode Map(std::vector<std::pair<std::string, TemplateNode>> entries) {
  TemplateNode n;
  n.kind = TemplateNode::Kind::kMap;
  n.entries = std::move(entries);
  return n;
}

Config BenchConfig() {
  Config config;
  config.path = "bench.yaml";
  SourceConfig shop;
  shop.name = "shop";
  config.sources.push_back(shop);
  RuleConfig rule;
  rule.name = "order-completed";
  rule.sources = {"shop"};
  rule.regex =
      R"(^(?P<ts>\S+) INFO order completed order_id=(?P<order_id>\S+) user_id=(?P<user_id>\S+) )"
      R"(total=(?P<total>[0-9.]+) currency=(?P<currency>[A-Z]{3}) channel=(?P<channel>\S+))";
  rule.event = Map({
      {"type", Scalar("track")},
      {"event", Scalar("Order Completed")},
      {"userId", Scalar("{{ user_id }}")},
      {"timestamp", Scalar("{{ ts }}")},
      {"properties", Map({{"order_id", Scalar("{{ order_id }}")},
                          {"total", Scalar("{{ total | number }}")},
                          {"currency", Scalar("{{ currency }}")},
                          {"channel", Scalar("{{ channel }}")}})},
  });
  config.rules.push_back(rule);
  return config;
}

// Appends events to a batch body as the pipeline does, starting a new one at 500 KiB.
class BatchSink final : public EventSink {
 public:
  BatchSink() { body_.reserve(600 * 1024); }
  void OnEvent(std::string_view event, const LineContext&) override {
    if (body_.size() + event.size() > 500 * 1024) {
      bytes_ += body_.size();
      body_.clear();
    }
    body_.push_back(body_.empty() ? '[' : ',');
    body_.append(event);
    ++events_;
  }
  void OnInvalid(std::string_view, std::string_view, const LineContext&) override { ++invalid_; }
  uint64_t events_ = 0, invalid_ = 0, bytes_ = 0;

 private:
  std::string body_;
};

void BM_RulesMap(benchmark::State& state) {
  static const std::string log = LoadWorkload();
  const Config config = BenchConfig();
  auto rules = RuleSet::Compile(config);
  BatchSink sink;
  uint64_t lines = 0;
  for (auto _ : state) {
    LineContext ctx;
    ctx.source = 0;
    ctx.path = "/var/log/shop/app.log";
    ctx.file_id = 0x1234567890abcdefull;
    ctx.read_time_ms = 1768890600000;
    const char* p = log.data();
    const char* end = p + log.size();
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      const char* line_end = nl ? nl : end;
      size_t len = line_end - p;
      if (len > 0 && p[len - 1] == '\r') --len;
      ctx.line = std::string_view(p, len);
      ctx.offset = static_cast<uint64_t>(p - log.data());
      if (len > 0) rules->Map(ctx, sink);
      ++lines;
      p = line_end + 1;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(lines));
  state.SetBytesProcessed(static_cast<int64_t>(log.size() * state.iterations()));
  state.counters["events"] = static_cast<double>(sink.events_) / state.iterations();
  state.counters["invalid"] = static_cast<double>(sink.invalid_);
}
BENCHMARK(BM_RulesMap)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tailtrack
