// packaging/grafana/: the alert rules pass `promtool check rules` and their
// unit tests (alerts_test.yml, `promtool test rules`); every dashboard query
// is valid PromQL (checked by promtool as a recording rule); and every metric
// the dashboard and the rules name is one the agent exposes (the shared
// contract: docs/admin.md once it exists, else the list below) and, where the
// binary has the admin endpoint, one the running agent's /metrics exposes.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "external_tool.h"
#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

// The contract's /metrics names (histograms by their base name).
const std::set<std::string> kContractMetrics = {
    "tailtrack_build_info", "tailtrack_start_time_seconds", "tailtrack_ready",
    // counters
    "tailtrack_lines_read_total", "tailtrack_bytes_read_total", "tailtrack_lines_matched_total",
    "tailtrack_lines_unmatched_total", "tailtrack_long_lines_total", "tailtrack_decode_errors_total",
    "tailtrack_mapping_errors_total", "tailtrack_events_sent_total", "tailtrack_batches_sent_total",
    "tailtrack_requests_total", "tailtrack_retries_total", "tailtrack_dead_letters_total",
    "tailtrack_dropped_events_total", "tailtrack_dropped_lines_total", "tailtrack_spooled_batches_total",
    "tailtrack_replayed_batches_total", "tailtrack_reloads_total",
    // gauges
    "tailtrack_files_watched", "tailtrack_files_open", "tailtrack_source_lag_bytes", "tailtrack_socket_clients",
    "tailtrack_batches_in_memory", "tailtrack_requests_in_flight", "tailtrack_collector_state",
    "tailtrack_last_delivery_timestamp_seconds", "tailtrack_spool_bytes", "tailtrack_spool_max_bytes",
    "tailtrack_spool_batches", "tailtrack_spool_events", "tailtrack_spool_oldest_age_seconds",
    // histograms
    "tailtrack_request_duration_seconds", "tailtrack_batch_events", "tailtrack_batch_bytes"};
const std::set<std::string> kHistograms = {"tailtrack_request_duration_seconds", "tailtrack_batch_events",
                                           "tailtrack_batch_bytes"};

std::set<std::string> MetricNames(const std::string& text) {
  static const std::regex kName(R"(\btailtrack_[a-z0-9_]+)");
  std::set<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), kName), end; it != end; ++it) out.insert((*it)[0].str());
  return out;
}

// A histogram's series are NAME_bucket, NAME_sum and NAME_count.
std::string BaseName(const std::string& name) {
  for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::string base = name.substr(0, name.size() - suffix.size());
      if (kHistograms.count(base)) return base;
    }
  }
  return name;
}

// The contract's names: docs/admin.md's when the admin endpoint's docs are there.
std::set<std::string> ContractMetrics() {
  const std::string admin_doc = SourcePath("docs/admin.md");
  if (!std::filesystem::exists(admin_doc)) return kContractMetrics;
  std::set<std::string> names;
  for (const auto& n : MetricNames(ReadFile(admin_doc))) names.insert(BaseName(n));
  return names;
}

std::vector<std::string> DashboardQueries(const std::string& json);

// Every metric the dashboard's queries and the rules' expressions use, by base name.
std::set<std::string> MetricsUsed() {
  std::set<std::string> used;
  for (const auto& q : DashboardQueries(ReadFile(SourcePath("packaging/grafana/tailtrack-dashboard.json")))) {
    for (const auto& n : MetricNames(q)) used.insert(BaseName(n));
  }
  const std::string alerts = ReadFile(SourcePath("packaging/grafana/alerts.yml"));
  static const std::regex kExpr(R"(\n\s+expr: ([^\n]+))");
  for (std::sregex_iterator it(alerts.begin(), alerts.end(), kExpr), end; it != end; ++it) {
    for (const auto& n : MetricNames((*it)[1].str())) used.insert(BaseName(n));
  }
  return used;
}

// The dashboard's queries: every "expr" string, JSON escapes undone.
std::vector<std::string> DashboardQueries(const std::string& json) {
  static const std::regex kExpr(R"re("expr": "((?:[^"\\]|\\.)*)")re");
  std::vector<std::string> out;
  for (std::sregex_iterator it(json.begin(), json.end(), kExpr), end; it != end; ++it) {
    std::string e = (*it)[1].str(), unescaped;
    for (size_t i = 0; i < e.size(); ++i) {
      if (e[i] == '\\' && i + 1 < e.size()) ++i;
      unescaped += e[i];
    }
    out.push_back(unescaped);
  }
  return out;
}

class GrafanaAssets : public ::testing::Test {
 protected:
  void SetUp() override {
    promtool_ = FindProgram("promtool");
    if (promtool_.empty()) GTEST_SKIP() << "promtool is not installed (Debian's prometheus; packaging/install-deps.sh installs it)";
  }
  std::string promtool_;
};

TEST_F(GrafanaAssets, AlertRulesPassPromtoolAndTheirUnitTests) {
  const ToolResult check = RunTool({promtool_, "check", "rules", SourcePath("packaging/grafana/alerts.yml")});
  EXPECT_EQ(check.status, 0) << check.Describe();
  EXPECT_NE(check.out.find("SUCCESS: 10 rules found"), std::string::npos) << check.out;
  const ToolResult test = RunTool({promtool_, "test", "rules", SourcePath("packaging/grafana/alerts_test.yml")});
  EXPECT_EQ(test.status, 0) << test.Describe();
  EXPECT_NE(test.out.find("SUCCESS"), std::string::npos) << test.out;
}

TEST_F(GrafanaAssets, EveryDashboardQueryIsValidPromql) {
  const std::string json = ReadFile(SourcePath("packaging/grafana/tailtrack-dashboard.json"));
  const std::vector<std::string> queries = DashboardQueries(json);
  ASSERT_GE(queries.size(), 30u);
  // Grafana's variables as Prometheus would see them after substitution.
  std::string rules = "groups:\n  - name: dashboard\n    rules:\n";
  int n = 0;
  for (std::string q : queries) {
    q = std::regex_replace(q, std::regex(R"(\$__rate_interval)"), "2m");
    q = std::regex_replace(q, std::regex(R"(\$(instance|source))"), ".*");
    std::string quoted;
    for (char c : q) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    rules += "      - record: dashboard:query_" + std::to_string(n++) + "\n        expr: '" + quoted + "'\n";
  }
  TempDir dir;
  WriteFile(dir / "dashboard-queries.yml", rules);
  const ToolResult r = RunTool({promtool_, "check", "rules", dir / "dashboard-queries.yml"});
  EXPECT_EQ(r.status, 0) << r.Describe() << "\n" << rules;
}

TEST_F(GrafanaAssets, TheDashboardAndRulesUseOnlyTheContractsMetricsAndCoverWhatOperatorsWatch) {
  const std::set<std::string> contract = ContractMetrics();
  ASSERT_TRUE(contract.count("tailtrack_lines_read_total"));
  const std::string dashboard = ReadFile(SourcePath("packaging/grafana/tailtrack-dashboard.json"));
  const std::string alerts = ReadFile(SourcePath("packaging/grafana/alerts.yml"));
  std::set<std::string> used_by_dashboard;
  for (const auto& q : DashboardQueries(dashboard)) {
    for (const auto& n : MetricNames(q)) used_by_dashboard.insert(BaseName(n));
  }
  for (const auto& n : used_by_dashboard) EXPECT_TRUE(contract.count(n)) << "the dashboard queries " << n << ", not in the contract";
  // The rules' expressions (annotations name no metric).
  static const std::regex kExpr(R"(\n\s+expr: ([^\n]+))");
  std::set<std::string> used_by_alerts;
  for (std::sregex_iterator it(alerts.begin(), alerts.end(), kExpr), end; it != end; ++it) {
    for (const auto& n : MetricNames((*it)[1].str())) used_by_alerts.insert(BaseName(n));
  }
  for (const auto& n : used_by_alerts) EXPECT_TRUE(contract.count(n)) << "alerts.yml uses " << n << ", not in the contract";

  // What the dashboard is for: rates, lag, spool, errors, collector, requests, durations.
  for (const std::string m : {"tailtrack_lines_read_total", "tailtrack_events_sent_total", "tailtrack_source_lag_bytes",
                              "tailtrack_spool_bytes", "tailtrack_spool_oldest_age_seconds", "tailtrack_dead_letters_total",
                              "tailtrack_dropped_events_total", "tailtrack_collector_state", "tailtrack_requests_total",
                              "tailtrack_request_duration_seconds", "tailtrack_ready"}) {
    EXPECT_TRUE(used_by_dashboard.count(m)) << "the dashboard shows no " << m;
  }
  for (const std::string m : {"tailtrack_collector_state", "tailtrack_spool_bytes", "tailtrack_dropped_events_total",
                              "tailtrack_ready", "tailtrack_lines_read_total", "tailtrack_source_lag_bytes"}) {
    EXPECT_TRUE(used_by_alerts.count(m)) << "no alert on " << m;
  }
}

// The names against the real agent: it runs with admin.listen, maps a line, and
// every family the dashboard and the rules use is in its /metrics (a # TYPE
// line or a sample). Skipped where the binary has no admin endpoint yet.
TEST(GrafanaAssetsLive, EveryMetricTheDashboardAndRulesUseIsExposedByARunningAgent) {
  TempDir dir;
  FakeCollector collector("live-key");
  E2eConfig c;
  c.url = collector.url();
  c.write_key = "live-key";
  c.state_dir = dir / "state";
  c.paths = {dir / "app.log"};
  const int port = FreeLoopbackPort();
  WriteFile(dir / "tailtrack.yaml", E2eConfigYaml(c) + "admin:\n  listen: 127.0.0.1:" + std::to_string(port) + "\n");
  WriteFile(dir / "app.log", ShopOrderLine("live-1"));
  Child agent({TAILTRACK_BINARY, "run", "-c", dir / "tailtrack.yaml"});
  ASSERT_TRUE(collector.WaitForEvents(1, std::chrono::seconds(20))) << agent.err();

  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(2));
  int status = -1;  // -1: no answer at all
  std::string body;
  Eventually(
      [&] {
        if (auto r = client.Get("/metrics")) {
          status = r->status;
          body = r->body;
        }
        return status == 200;
      },
      std::chrono::seconds(5));
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(std::chrono::seconds(20)), 0) << agent.err();
  if (status == -1) GTEST_SKIP() << "nothing answers on admin.listen: this build has no admin endpoint yet";
  ASSERT_EQ(status, 200) << body;

  std::set<std::string> exposed;
  static const std::regex kFamily(R"((?:^# TYPE |^)(tailtrack_[a-z0-9_]+))");
  std::stringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, kFamily)) exposed.insert(BaseName(m[1].str()));
  }
  for (const auto& name : MetricsUsed()) EXPECT_TRUE(exposed.count(name)) << name << " is not in /metrics:\n" << body;
}

}  // namespace
}  // namespace tailtrack::testing
