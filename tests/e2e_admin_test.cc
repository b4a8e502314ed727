// End to end: the admin endpoint of the real binary (admin.listen), scraped
// while it ships lines to the fake collector.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kKey[] = "wk_admin_3f9c1d7e5b2a";

struct Reply {
  int status = 0;  // 0: no answer
  std::string content_type;
  std::string body;
};

Reply Get(int port, const std::string& path, const std::string& method = "GET", int timeout_s = 10) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(timeout_s);
  auto res = method == "HEAD" ? client.Head(path) : client.Get(path);
  if (!res) return {};
  return {res->status, res->get_header_value("Content-Type"), res->body};
}

// "name{labels}" -> value, for every sample of a /metrics text.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return out;
}

class AdminTest : public ::testing::Test {
 protected:
  E2eConfig Config() {
    E2eConfig c;
    c.url = collector_.url();
    c.write_key = kKey;
    c.state_dir = dir_ / "state";
    c.paths = {log_};
    return c;
  }

  // The configuration with `admin.listen` first, on line 2 column 11.
  std::string WriteConfig(const E2eConfig& c, const std::string& listen = "127.0.0.1:0") {
    const std::string path = dir_ / "tailtrack.yaml";
    WriteFile(path, "admin:\n  listen: " + listen + "\n" + E2eConfigYaml(c));
    return path;
  }

  // Starts the agent and finds the port its admin endpoint bound (it listens on port 0).
  std::unique_ptr<Child> Start(const std::string& config) {
    auto agent = std::make_unique<Child>(std::vector<std::string>{TAILTRACK_BINARY, "run", "-c", config});
    port_ = AdminPort(*agent);
    EXPECT_GT(port_, 0) << agent->err();
    return agent;
  }

  std::map<std::string, double> Metrics() { return Samples(Get(port_, "/metrics").body); }

  FakeCollector collector_{kKey};
  TempDir dir_;
  std::string log_ = dir_ / "shop.log";
  int port_ = 0;
};

TEST_F(AdminTest, MetricsAndStatusCountWhatTheCollectorReceived) {
  WriteFile(log_, "");
  auto agent = Start(WriteConfig(Config()));
  std::string lines;
  for (int i = 0; i < 120; ++i) lines += ShopOrderLine("ord_" + std::to_string(i));
  for (int i = 0; i < 7; ++i) lines += "2026-01-20T06:30:00.123Z DEBUG cache warm\n";
  AppendFile(log_, lines);
  ASSERT_TRUE(collector_.WaitForEvents(120, seconds(20))) << agent->err();

  // The agent counts an answer once curl has it, a moment after the collector sent it.
  std::map<std::string, double> m;
  size_t requests_2xx = 0;
  ASSERT_TRUE(Eventually([&] {
    m = Metrics();
    requests_2xx = 0;
    for (const auto& r : collector_.requests()) requests_2xx += r.status / 100 == 2;
    return m["tailtrack_events_sent_total"] == static_cast<double>(collector_.accepted_events()) &&
           m["tailtrack_requests_total{status_class=\"2xx\"}"] == static_cast<double>(requests_2xx);
  }, seconds(20))) << Get(port_, "/metrics").body;
  EXPECT_EQ(m["tailtrack_events_sent_total"], 120);
  EXPECT_EQ(m["tailtrack_batches_sent_total"], static_cast<double>(requests_2xx));
  EXPECT_EQ(m["tailtrack_batch_events_count"], static_cast<double>(requests_2xx));
  EXPECT_EQ(m["tailtrack_batch_events_sum"], 120);
  EXPECT_EQ(m["tailtrack_request_duration_seconds_count"], static_cast<double>(requests_2xx));
  EXPECT_EQ(m["tailtrack_requests_total{status_class=\"5xx\"}"], 0);
  EXPECT_EQ(m["tailtrack_lines_read_total{source=\"shop\"}"], 127);
  EXPECT_EQ(m["tailtrack_lines_matched_total{source=\"shop\",rule=\"order-completed\"}"], 120);
  EXPECT_EQ(m["tailtrack_lines_unmatched_total{source=\"shop\"}"], 7);
  EXPECT_EQ(m["tailtrack_bytes_read_total{source=\"shop\"}"], static_cast<double>(lines.size()));
  EXPECT_EQ(m["tailtrack_files_watched{source=\"shop\"}"], 1);
  EXPECT_EQ(m["tailtrack_files_open{source=\"shop\"}"], 1);
  EXPECT_EQ(m["tailtrack_collector_state{state=\"healthy\"}"], 1);
  EXPECT_EQ(m["tailtrack_collector_state{state=\"unauthorized\"}"], 0);
  EXPECT_EQ(m["tailtrack_ready"], 1);
  EXPECT_EQ(m["tailtrack_build_info{version=\"" TAILTRACK_VERSION "\"}"], 1);
  EXPECT_GT(m["tailtrack_last_delivery_timestamp_seconds"], 1.7e9);
  EXPECT_GT(m["tailtrack_resident_memory_bytes"], 0);
  EXPECT_EQ(m["tailtrack_source_lag_bytes{source=\"shop\"}"], 0);

  const Reply metrics = Get(port_, "/metrics");
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");

  const Reply status = Get(port_, "/status");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(status.content_type, "application/json");
  simdjson::dom::parser parser;
  simdjson::dom::element s;
  ASSERT_EQ(parser.parse(status.body).get(s), simdjson::SUCCESS) << status.body;
  EXPECT_EQ(std::string_view(s["version"]), TAILTRACK_VERSION);
  EXPECT_EQ(int64_t(s["pid"]), agent->pid());
  EXPECT_TRUE(bool(s["ready"]));
  EXPECT_EQ(std::string_view(s["ready_reason"]), "ready");
  EXPECT_EQ(std::string_view(s["config"]["path"]), dir_ / "tailtrack.yaml");
  EXPECT_EQ(uint64_t(s["config"]["reloads"]), 0u);
  EXPECT_TRUE(s["config"]["last_reload_error"].is_null());
  EXPECT_EQ(std::string_view(s["collector"]["url"]), collector_.url());
  EXPECT_EQ(std::string_view(s["collector"]["state"]), "healthy");
  EXPECT_EQ(uint64_t(s["collector"]["requests"]), requests_2xx);
  EXPECT_TRUE(s["collector"]["last_error"].is_null());
  EXPECT_EQ(std::string_view(s["collector"]["last_delivery_at"]).size(), 24u);  // 2026-11-30T15:00:00.000Z
  EXPECT_EQ(uint64_t(s["totals"]["lines_read"]), 127u);
  EXPECT_EQ(uint64_t(s["totals"]["events_sent"]), 120u);
  EXPECT_EQ(uint64_t(s["totals"]["unmatched_lines"]), 7u);
  EXPECT_EQ(uint64_t(s["totals"]["dropped_events"]), 0u);
  EXPECT_TRUE(bool(s["spool"]["enabled"]));
  EXPECT_TRUE(s["spool"]["oldest_age_seconds"].is_null());
  EXPECT_GT(uint64_t(s["memory"]["rss_bytes"]), 0u);
  simdjson::dom::element source = s["sources"].at(0);
  EXPECT_EQ(std::string_view(source["name"]), "shop");
  EXPECT_EQ(std::string_view(source["type"]), "file");
  EXPECT_EQ(uint64_t(source["lines_read"]), 127u);
  EXPECT_EQ(uint64_t(source["files_watched"]), 1u);
  EXPECT_EQ(uint64_t(source["files_not_listed"]), 0u);
  simdjson::dom::element file = source["files"].at(0);
  EXPECT_EQ(std::string_view(file["path"]), log_);
  EXPECT_EQ(uint64_t(file["offset"]), lines.size());
  EXPECT_EQ(uint64_t(file["lag_bytes"]), 0u);
  EXPECT_TRUE(bool(file["open"]));
  EXPECT_EQ(std::string_view(source["rules"].at(0)["name"]), "order-completed");
  EXPECT_EQ(uint64_t(source["rules"].at(0)["matched"]), 120u);
  EXPECT_TRUE(s["last_errors"].is_array());

  const Reply healthz = Get(port_, "/healthz");
  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.body, "ok\n");
  const Reply readyz = Get(port_, "/readyz");
  EXPECT_EQ(readyz.status, 200);
  EXPECT_EQ(readyz.body, "ready\n");
  const Reply page = Get(port_, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(Get(port_, "/nope").status, 404);
  const Reply head = Get(port_, "/status", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");

  for (const std::string& out : {metrics.body, status.body, healthz.body, readyz.body, page.body}) {
    EXPECT_EQ(out.find(kKey), std::string::npos) << "the write key is in an answer:\n" << out;
  }
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(10)), 0) << agent->err();
}

TEST_F(AdminTest, PromtoolAcceptsTheMetrics) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool not found (Debian's `prometheus` package; packaging/install-deps.sh installs it)";
  }
  WriteFile(log_, ShopOrderLine("ord_1") + "not an order\n");
  auto agent = Start(WriteConfig(Config()));
  ASSERT_TRUE(collector_.WaitForEvents(1, seconds(20))) << agent->err();
  ASSERT_TRUE(Eventually([&] { return Metrics()["tailtrack_events_sent_total"] == 1; }, seconds(10)));
  const std::string path = dir_ / "metrics.txt";
  WriteFile(path, Get(port_, "/metrics").body);
  Child promtool({"/bin/sh", "-c", "promtool check metrics < " + path});
  EXPECT_EQ(promtool.Wait(seconds(30)), 0) << promtool.out() << promtool.err() << ReadFile(path);
  EXPECT_EQ(promtool.out() + promtool.err(), "") << ReadFile(path);
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(10)), 0) << agent->err();
}

TEST_F(AdminTest, ReadyzFailsDuringA401AndRecoversAfterTheKeyFileIsFixedAndSighup) {
  const std::string key_file = dir_ / "write_key";
  WriteFile(key_file, std::string(kKey) + "\n");
  E2eConfig c = Config();
  c.write_key = "";
  c.write_key_file = key_file;
  WriteFile(log_, "");
  auto agent = Start(WriteConfig(c));
  ASSERT_TRUE(Eventually([&] { return Get(port_, "/readyz").status == 200; })) << agent->err();

  const std::string rotated = "wk_rotated_8e2d4c6a0b1f";
  collector_.SetWriteKey(rotated);
  AppendFile(log_, ShopOrderLine("ord_1"));
  Reply readyz;
  ASSERT_TRUE(Eventually([&] {
    readyz = Get(port_, "/readyz");
    return readyz.status == 503;
  }, seconds(10))) << agent->err();
  EXPECT_EQ(readyz.body, "collector unauthorized (401): fix the write key (write_key_file, then SIGHUP)\n");
  EXPECT_EQ(Get(port_, "/healthz").status, 200);  // alive, not ready
  std::map<std::string, double> m = Metrics();
  EXPECT_EQ(m["tailtrack_ready"], 0);
  EXPECT_EQ(m["tailtrack_collector_state{state=\"unauthorized\"}"], 1);
  EXPECT_EQ(m["tailtrack_requests_total{status_class=\"4xx\"}"], 1);
  const Reply status = Get(port_, "/status");
  simdjson::dom::parser parser;
  simdjson::dom::element s;
  ASSERT_EQ(parser.parse(status.body).get(s), simdjson::SUCCESS) << status.body;
  EXPECT_EQ(std::string_view(s["collector"]["state"]), "unauthorized");
  EXPECT_FALSE(bool(s["ready"]));
  EXPECT_NE(std::string_view(s["collector"]["last_error"]).find("401"), std::string::npos);
  // The refusal was logged as an error: it is among the last errors.
  simdjson::dom::array errors = s["last_errors"];
  ASSERT_GE(errors.size(), 1u) << status.body;
  EXPECT_EQ(std::string_view(errors.at(errors.size() - 1)["level"]), "error");
  EXPECT_NE(std::string_view(errors.at(errors.size() - 1)["message"]).find("401"), std::string::npos);

  WriteFile(key_file, rotated + "\n");
  agent->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return Get(port_, "/readyz").status == 200; }, seconds(10))) << agent->err();
  EXPECT_TRUE(collector_.WaitForEvents(1, seconds(10)));
  for (const std::string path : {"/metrics", "/status", "/readyz", "/healthz"}) {
    const std::string body = Get(port_, path).body;
    EXPECT_EQ(body.find(kKey), std::string::npos) << path << " holds the write key:\n" << body;
    EXPECT_EQ(body.find(rotated), std::string::npos) << path << " holds the write key:\n" << body;
  }
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(10)), 0) << agent->err();
}

TEST_F(AdminTest, ReadyzSaysDrainingWhileTheDrainWaits) {
  E2eConfig c = Config();
  c.drain_timeout = "30s";
  c.timeout = "30s";
  WriteFile(log_, "");
  auto agent = Start(WriteConfig(c));
  // The first request is answered only after 4 s: the drain waits for it.
  collector_.Script(ScriptedAnswer::Slow(4'000));
  AppendFile(log_, ShopOrderLine("ord_1"));
  ASSERT_TRUE(Eventually([&] { return Metrics()["tailtrack_requests_in_flight"] == 1; }, seconds(10)))
      << agent->err();
  agent->Signal(SIGTERM);
  Reply readyz;
  ASSERT_TRUE(Eventually([&] {
    readyz = Get(port_, "/readyz");
    return readyz.status == 503 && readyz.body == "draining\n";
  }, seconds(10))) << readyz.status << " " << readyz.body << agent->err();
  EXPECT_EQ(Get(port_, "/healthz").status, 200);
  EXPECT_EQ(agent->Wait(seconds(30)), 0) << agent->err();
  EXPECT_EQ(collector_.accepted_events(), 1u);
}

TEST_F(AdminTest, AStoppedLoopDoesNotAnswerHealthzSoAProbesTimeoutFailsIt) {
  WriteFile(log_, "");
  auto agent = Start(WriteConfig(Config()));
  ASSERT_EQ(Get(port_, "/healthz").status, 200) << agent->err();
  agent->Signal(SIGSTOP);  // the loop no longer turns
  EXPECT_EQ(Get(port_, "/healthz", "GET", /*timeout_s=*/2).status, 0);
  agent->Signal(SIGCONT);
  EXPECT_TRUE(Eventually([&] { return Get(port_, "/healthz").status == 200; }, seconds(10)));
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(10)), 0) << agent->err();
}

TEST_F(AdminTest, AnAdminPortInUseExits78WithOneLinePointingAtTheKey) {
  const int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string listen = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  WriteFile(log_, ShopOrderLine("ord_1"));
  const std::string config = WriteConfig(Config(), listen);
  Child agent({TAILTRACK_BINARY, "run", "-c", config});
  EXPECT_EQ(agent.Wait(seconds(10)), 78);
  EXPECT_EQ(agent.err(), config + ":2:11: admin.listen " + listen + ": cannot listen: address already in use\n");
  EXPECT_EQ(collector_.request_count(), 0u);  // nothing was read before the endpoint failed
  ::close(taken);
}

}  // namespace
}  // namespace tailtrack::testing
