// End to end, live reload (SIGHUP and reload.watch) with the real binary:
// rules, sources and collector settings change while lines flow, and
// nothing is lost or sent twice; a bad configuration is refused and the
// running one stays.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <set>
#include <string>
#include <vector>

#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

using std::chrono::seconds;

constexpr char kKey[] = "rk_reload_5be1d07c";

std::string RefundLine(int i) {
  return "2026-01-20T06:30:00.123Z INFO refund issued refund_id=r" + std::to_string(i) + "\n";
}

std::string AuditLine(int i) { return "audit " + std::to_string(i) + "\n"; }

// Writes `text` to a new stream connection to the socket at `path`; false
// when nobody listens there.
bool SendTo(const std::string& path, const std::string& text) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

class ReloadTest : public ::testing::Test {
 protected:
  // The shop source and its order rule always; the rest as asked.
  std::string Yaml(bool refunds, bool audit, const std::string& shop_extra = "", const std::string& url = "") {
    std::string y = "collector:\n  url: " + (url.empty() ? collector_.url() : url) + "\n";
    y += "  write_key: " + std::string(kKey) + "\n  drain_timeout: 2s\n";
    y += "  retry: {initial_backoff: 50ms, max_backoff: 200ms}\n";
    y += "batch: {max_events: 50, flush_interval: 100ms}\n";
    y += "state_dir: " + (dir_ / "state") + "\n";
    y += "reload:\n  watch: " + std::string(watch_ ? "true" : "false") + "\n";
    y += "sources:\n  - name: shop\n    type: file\n    paths: [\"" + shop_ + "\"]\n    poll_interval: 250ms\n";
    y += shop_extra;
    if (audit) y += "  - name: audit\n    type: file\n    paths: [\"" + audit_ + "\"]\n    poll_interval: 250ms\n";
    if (!socket_.empty()) y += "  - name: audit\n    type: unix\n    path: " + socket_ + "\n";
    y += "rules:\n"
         "  - name: order-completed\n"
         "    sources: [shop]\n"
         "    regex: ' INFO order completed order_id=(?P<order_id>\\S+) user_id=(?P<user_id>\\S+)'\n"
         "    event: {type: track, event: Order Completed, userId: \"{{ user_id }}\", "
         "properties: {order_id: \"{{ order_id }}\"}}\n";
    if (refunds) {
      y += "  - name: refund-issued\n"
           "    sources: [shop]\n"
           "    regex: ' INFO refund issued refund_id=(?P<refund_id>\\S+)'\n"
           "    event: {type: track, event: Refund Issued, anonymousId: shop, "
           "properties: {refund_id: \"{{ refund_id }}\"}}\n";
    }
    if (audit || !socket_.empty()) {
      y += "  - name: audit\n"
           "    sources: [audit]\n"
           "    regex: '^audit (?P<n>\\d+)$'\n"
           "    event: {type: track, event: Audited, anonymousId: audit, properties: {n: \"{{ n }}\"}}\n";
    }
    return y;
  }

  void WriteConfig(const std::string& yaml) { WriteFile(config_, yaml); }

  std::unique_ptr<Child> Start() {
    return std::make_unique<Child>(std::vector<std::string>{TAILTRACK_BINARY, "run", "-c", config_});
  }

  // How many times the agent's log says `text`.
  static size_t Count(const Child& agent, const std::string& text) {
    const std::string err = agent.err();
    size_t n = 0;
    for (size_t at = err.find(text); at != std::string::npos; at = err.find(text, at + 1)) ++n;
    return n;
  }

  std::set<std::string> Ids(const std::string& path) {
    std::set<std::string> ids;
    for (const auto& [value, message_ids] : collector_.AcceptedIdsBy(path)) ids.insert(value);
    return ids;
  }

  void ExpectNothingLostOrSentTwice() {
    EXPECT_EQ(collector_.duplicate_deliveries(), 0u);
    EXPECT_EQ(collector_.foreign_id_collisions(), 0u);
    for (const auto& [token, ids] : collector_.AcceptedIdsBy("properties.order_id")) {
      EXPECT_EQ(ids.size(), 1u) << token << " was sent under several messageIds";
    }
  }

  FakeCollector collector_{kKey};
  TempDir dir_;
  std::string config_ = dir_ / "tailtrack.yaml";
  std::string shop_ = dir_ / "shop.log";
  std::string audit_ = dir_ / "audit.log";
  bool watch_ = false;
  std::string socket_;  // set: `audit` is a unix source listening there
};

// The case: a rule added and a source changed while lines flow.
TEST_F(ReloadTest, ARuleAddedAndASourceChangedWhileLinesFlowLoseNothingAndSendNothingTwice) {
  WriteConfig(Yaml(false, false));
  auto agent = Start();
  LineWriter orders(shop_, [](int i) { return ShopOrderLine("o" + std::to_string(i)); }, 2000);
  ASSERT_TRUE(Eventually([&] { return collector_.accepted_events() >= 500; }, seconds(20))) << agent->err();

  // Refunds written before the reload match no rule yet.
  AppendFile(shop_, RefundLine(-1));
  // shop changes (idle_flush): it is stopped and started again where it was.
  WriteConfig(Yaml(true, true, "    idle_flush: 3s\n"));
  agent->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return Count(*agent, "configuration reloaded") == 1; })) << agent->err();
  EXPECT_NE(agent->err().find("restarted shop"), std::string::npos) << agent->err();
  EXPECT_NE(agent->err().find("added audit"), std::string::npos) << agent->err();

  for (int i = 0; i < 100; ++i) AppendFile(shop_, RefundLine(i));
  for (int i = 0; i < 100; ++i) AppendFile(audit_, AuditLine(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  orders.Stop();
  const size_t orders_written = static_cast<size_t>(orders.written());
  ASSERT_TRUE(Eventually([&] { return Ids("properties.order_id").size() == orders_written; }, seconds(30)))
      << Ids("properties.order_id").size() << " of " << orders_written << "\n" << agent->err();
  ASSERT_TRUE(Eventually([&] { return Ids("properties.refund_id").size() == 100; }, seconds(20))) << agent->err();
  ASSERT_TRUE(Eventually([&] { return Ids("properties.n").size() == 100; }, seconds(20))) << agent->err();
  EXPECT_EQ(Ids("properties.refund_id").count("r-1"), 0u) << "a line read before the reload was mapped again";

  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(10)), 0) << agent->err();
  ExpectNothingLostOrSentTwice();
}

TEST_F(ReloadTest, ABadConfigurationIsRefusedWithItsLineAndTheRunningOneStays) {
  WriteConfig(Yaml(false, false));
  auto agent = Start();
  AppendFile(shop_, ShopOrderLine("a1"));
  ASSERT_TRUE(collector_.WaitForEvents(1)) << agent->err();

  std::string bad = Yaml(true, false);
  bad.replace(bad.find("refund_id=(?P<refund_id>"), 24, "refund_id=(?P<refund_id");  // an unclosed group
  WriteConfig(bad);
  agent->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return Count(*agent, "configuration refused") == 1; })) << agent->err();
  EXPECT_NE(agent->err().find(config_ + ":"), std::string::npos) << "the error names the file and line\n"
                                                                 << agent->err();
  AppendFile(shop_, ShopOrderLine("a2") + RefundLine(1));
  ASSERT_TRUE(collector_.WaitForEvents(2)) << agent->err();
  EXPECT_TRUE(agent->Running());

  // Fixed: the next SIGHUP takes it.
  WriteConfig(Yaml(true, false));
  agent->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return Count(*agent, "configuration reloaded") == 1; })) << agent->err();
  AppendFile(shop_, RefundLine(2));
  ASSERT_TRUE(Eventually([&] { return Ids("properties.refund_id").count("r2") == 1; })) << agent->err();
  EXPECT_EQ(Ids("properties.refund_id").count("r1"), 0u);
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(10)), 0) << agent->err();
  ExpectNothingLostOrSentTwice();
}

// A ConfigMap update: the file changes, nobody sends a signal.
TEST_F(ReloadTest, WithWatchAChangedFileIsReloadedWithoutASignal) {
  watch_ = true;
  WriteConfig(Yaml(false, false));
  auto agent = Start();
  AppendFile(shop_, ShopOrderLine("w1"));
  ASSERT_TRUE(collector_.WaitForEvents(1)) << agent->err();
  // As the kubelet does: a new file renamed over the old one.
  WriteFile(config_ + ".new", Yaml(true, false));
  ASSERT_EQ(::rename((config_ + ".new").c_str(), config_.c_str()), 0);
  ASSERT_TRUE(Eventually([&] { return Count(*agent, "configuration file changed: configuration reloaded") == 1; },
                         seconds(10)))
      << agent->err();
  AppendFile(shop_, RefundLine(7));
  ASSERT_TRUE(Eventually([&] { return Ids("properties.refund_id").count("r7") == 1; })) << agent->err();
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(10)), 0) << agent->err();
}

// A new collector URL: what waits goes to the new one.
TEST_F(ReloadTest, ANewCollectorUrlTakesWhatWaits) {
  FakeCollector second(kKey);
  WriteConfig(Yaml(false, false, "", "http://127.0.0.1:1"));  // nobody listens there
  auto agent = Start();
  AppendFile(shop_, ShopOrderLine("c1") + ShopOrderLine("c2"));
  // A request failed there first: its handle is reused for the next ones.
  ASSERT_TRUE(Eventually([&] { return agent->err().find("(next try in") != std::string::npos; }))
      << agent->err();
  WriteConfig(Yaml(false, false, "", second.url()));
  agent->Signal(SIGHUP);
  ASSERT_TRUE(second.WaitForEvents(2, seconds(10))) << agent->err();
  AppendFile(shop_, ShopOrderLine("c3"));
  ASSERT_TRUE(second.WaitForEvents(3, seconds(10))) << agent->err();
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(10)), 0) << agent->err();
  EXPECT_EQ(second.duplicate_deliveries(), 0u);
}

// A socket source moved to another path: it listens there, not at the old one.
TEST_F(ReloadTest, ASocketSourceMovedElsewhereListensAtItsNewPath) {
  socket_ = dir_ / "a.sock";
  WriteConfig(Yaml(false, false));
  auto agent = Start();
  ASSERT_TRUE(Eventually([&] { return SendTo(socket_, AuditLine(1)); })) << agent->err();
  ASSERT_TRUE(collector_.WaitForEvents(1)) << agent->err();
  const std::string old_path = socket_;
  socket_ = dir_ / "b.sock";
  WriteConfig(Yaml(false, false));
  agent->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return Count(*agent, "configuration reloaded") == 1; })) << agent->err();
  EXPECT_NE(agent->err().find("restarted audit"), std::string::npos) << agent->err();
  EXPECT_FALSE(SendTo(old_path, AuditLine(2)));
  ASSERT_TRUE(SendTo(socket_, AuditLine(3))) << agent->err();
  ASSERT_TRUE(Eventually([&] { return Ids("properties.n").count("3") == 1; })) << agent->err();
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(10)), 0) << agent->err();
  EXPECT_EQ(Ids("properties.n"), (std::set<std::string>{"1", "3"}));
}

// Counters go on across a reload: a restarted source and replaced rules do
// not start again at 0 in /metrics.
TEST_F(ReloadTest, CountersGoOnAcrossAReload) {
  const std::string admin = "admin:\n  listen: 127.0.0.1:0\n";
  WriteConfig(admin + Yaml(false, false));
  auto agent = Start();
  std::string port;
  ASSERT_TRUE(Eventually([&] {
    const std::string err = agent->err();
    const size_t at = err.find("(port ");
    if (at == std::string::npos) return false;
    port = err.substr(at + 6, err.find(')', at) - at - 6);
    return true;
  })) << agent->err();
  std::string lines;
  for (int i = 0; i < 30; ++i) lines += ShopOrderLine("m" + std::to_string(i));
  AppendFile(shop_, lines);
  ASSERT_TRUE(collector_.WaitForEvents(30)) << agent->err();
  WriteConfig(admin + Yaml(true, false, "    idle_flush: 3s\n"));  // shop restarts, rules are replaced
  agent->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return Count(*agent, "configuration reloaded") == 1; })) << agent->err();
  AppendFile(shop_, ShopOrderLine("m30"));
  ASSERT_TRUE(collector_.WaitForEvents(31)) << agent->err();
  auto metric = [&](const std::string& sample) {
    httplib::Client client("127.0.0.1", std::stoi(port));
    const auto answer = client.Get("/metrics");
    const std::string text = answer ? answer->body : std::string();
    const size_t at = text.find("\n" + sample + " ");
    return at == std::string::npos ? std::string("missing") : text.substr(at + sample.size() + 2, text.find('\n', at + 1) - at - sample.size() - 2);
  };
  EXPECT_TRUE(Eventually([&] { return metric("tailtrack_lines_read_total{source=\"shop\"}") == "31"; }))
      << metric("tailtrack_lines_read_total{source=\"shop\"}");
  EXPECT_EQ(metric("tailtrack_lines_matched_total{source=\"shop\",rule=\"order-completed\"}"), "31");
  EXPECT_EQ(metric("tailtrack_reloads_total{result=\"ok\"}"), "1");
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(10)), 0) << agent->err();
}

// A dry run reloads too (nothing waits there to pause on).
TEST_F(ReloadTest, ADryRunReloads) {
  WriteConfig(Yaml(false, false));
  Child agent({TAILTRACK_BINARY, "run", "--dry-run", "-c", config_});
  ASSERT_TRUE(Eventually([&] { return agent.err().find("dry run") != std::string::npos; })) << agent.err();
  WriteConfig(Yaml(true, false, "    idle_flush: 3s\n"));
  agent.Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return Count(agent, "configuration reloaded") == 1; })) << agent.err();
  AppendFile(shop_, RefundLine(5));
  ASSERT_TRUE(Eventually([&] { return agent.out().find("\"refund_id\":\"r5\"") != std::string::npos; }))
      << agent.out() << agent.err();
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(seconds(10)), 0) << agent.err();
}

}  // namespace
}  // namespace tailtrack::testing
