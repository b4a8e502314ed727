// End to end: the kubelet's layout. /var/log/containers/*.log are symlinks
// into /var/log/pods/NS_POD_UID/CONTAINER/N.log, written by the runtime in the
// CRI format (a long line split into P records ended by an F record, stdout
// and stderr interleaved); a container restart creates N+1.log and re-points
// the link. The real binary, a real de-duplicating collector on loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

constexpr char kKey[] = "k8s-key";

// One application line as containerd writes it: split into `parts` records.
std::string CriRecords(int id, int parts) {
  const std::string line = "order_id=ord_" + std::to_string(id) + " " + std::string(60, 'x') + " done";
  std::string out;
  const size_t piece = line.size() / parts + 1;
  for (int p = 0; p < parts; ++p) {
    const bool last = p == parts - 1;
    out += "2026-11-30T10:00:00." + std::to_string(100000000 + id) + "Z stdout " + (last ? "F " : "P ") +
           line.substr(p * piece, last ? std::string::npos : piece) + "\n";
    // The other stream, between the pieces: never joined with them.
    if (p == 0) out += "2026-11-30T10:00:00.000000000Z stderr F warning for ord_" + std::to_string(id) + " done\n";
  }
  return out;
}

TEST(Kubernetes, SymlinkedCriLogsThroughAContainerRestartArriveOnceEach) {
  TempDir dir;
  FakeCollector collector(kKey);
  const std::string pod = dir / "pods/shop_web-1_uid/web";
  const std::string containers = dir / "containers";
  std::filesystem::create_directories(pod);
  std::filesystem::create_directories(containers);
  std::string first;
  for (int i = 0; i < 20; ++i) first += CriRecords(i, 1 + i % 3);
  WriteFile(pod + "/0.log", first);
  const std::string link = containers + "/web-1_shop_web-abc.log";
  ASSERT_EQ(::symlink((pod + "/0.log").c_str(), link.c_str()), 0);

  const std::string config = dir / "k8s.yaml";
  WriteFile(config, "collector: {url: \"" + collector.url() + "\", write_key: " + kKey +
                        ", retry: {initial_backoff: 50ms, max_backoff: 500ms}}\n"
                        "batch: {max_events: 50, flush_interval: 100ms}\n"
                        "state_dir: " + (dir / "state") + "\n"
                        "sources:\n"
                        "  - name: web\n"
                        "    type: file\n"
                        "    format: cri\n"
                        "    paths: [\"" + containers + "/*.log\"]\n"
                        "    poll_interval: 100ms\n"
                        "    rotate_wait: 1s\n"
                        "rules:\n"
                        "  - name: order\n"
                        "    regex: 'order_id=(?P<id>\\S+) x+ done$'\n"
                        "    when: {_stream: stdout}\n"
                        "    event: {type: track, event: Order, userId: \"{{ id }}\", timestamp: \"{{ _time }}\"}\n");
  Child agent({TAILTRACK_BINARY, "run", "-c", config});
  ASSERT_TRUE(collector.WaitForEvents(20)) << agent.err();

  // The container restarts: 1.log, the link re-pointed (atomically, as the
  // kubelet does), and the old file gets a last record late.
  std::string second;
  for (int i = 20; i < 30; ++i) second += CriRecords(i, 2);
  WriteFile(pod + "/1.log", second);
  const std::string tmp = containers + "/.tmp-link";
  ASSERT_EQ(::symlink((pod + "/1.log").c_str(), tmp.c_str()), 0);
  ASSERT_EQ(std::rename(tmp.c_str(), link.c_str()), 0);
  AppendFile(pod + "/0.log", CriRecords(30, 3));

  ASSERT_TRUE(collector.WaitFor([&] { return collector.accepted_unique() >= 31; }, std::chrono::seconds(10)))
      << agent.err();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(), 0) << agent.err();

  EXPECT_EQ(collector.accepted_unique(), 31u);   // every record, stderr never joined into them
  EXPECT_EQ(collector.duplicate_deliveries(), 0u);
  EXPECT_EQ(collector.foreign_id_collisions(), 0u);
  for (const auto& e : collector.accepted_event_list()) {
    EXPECT_NE(e.find("\"timestamp\":\"2026-11-30T10:00:00."), std::string::npos) << e;  // the runtime's time
  }
}

}  // namespace
}  // namespace tailtrack::testing
