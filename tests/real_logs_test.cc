// Real logs (tests/data/logs, with their licences) through `tailtrack test`
// with the rules of tests/data/rules/real-logs.yaml: no crash, exit 0, and
// every output line is a JSON object with a messageId.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <string>

namespace tailtrack {
namespace {

struct Case {
  const char* source;
  const char* file;  // under tests/data/logs
  bool expect_events;
};

const Case kCases[] = {
    {"access", "elastic-examples_apache_access_combined_2k.log", true},
    {"access", "edge-cases/beats_nginx-module_access_test.log", true},
    {"apache_error", "loghub_Apache_2k.log", true},
    {"openssh", "loghub_OpenSSH_2k.log", true},
    {"healthapp", "loghub_HealthApp_2k.log", true},
    {"zookeeper", "loghub_Zookeeper_2k.log", true},
    {"anything", "loghub_HDFS_2k.log", true},
    {"anything", "loghub_Linux_2k.log", true},
    {"anything", "loghub_OpenStack_2k.log", true},
    {"anything", "edge-cases/fluent-bit_tail_generic_enc_win1252.log", true},
    {"anything", "edge-cases/vector_utf-16le.log", true},
    {"anything", "edge-cases/fluent-bit_tail_unicode_c.log", true},
    {"anything", "edge-cases/fluent-bit_tail_3943.log", true},
    {"anything", "edge-cases/beats_docker_corrupted.log", true},
    {"anything", "edge-cases/elastic-examples_nginxplus_status_40_long_lines.ndjson", true},
    {"ndjson", "edge-cases/beats_es_json_logs_tests.log", true},
    {"ndjson", "edge-cases/elastic-examples_nginxplus_status_40_long_lines.ndjson", true},
    {"ndjson", "edge-cases/fluent-bit_tail_multiline_001.log", true},
    {"ndjson", "loghub_Linux_2k.log", false},
    {"docker", "edge-cases/beats_docker_corrupted.log", true},
    {"docker", "edge-cases/fluent-bit_tail_dockermode_splitted_line.log", true},
    {"events", "edge-cases/beats_es_json_logs_tests.log", false},
    {"events", "edge-cases/vector_utf-16le.log", false},
};

class RealLogs : public testing::TestWithParam<Case> {};

TEST_P(RealLogs, EveryOutputLineIsAJsonEvent) {
  const Case& c = GetParam();
  const std::string dir = std::string(TAILTRACK_SOURCE_DIR) + "/tests/data";
  const std::string command = std::string(TAILTRACK_BINARY) + " test -c " + dir + "/rules/real-logs.yaml --source " +
                              c.source + " " + dir + "/logs/" + c.file + " 2>/dev/null";
  FILE* p = popen(command.c_str(), "r");
  ASSERT_NE(p, nullptr);
  simdjson::dom::parser parser;
  char* buf = nullptr;
  size_t cap = 0;
  ssize_t n;
  size_t events = 0;
  while ((n = getline(&buf, &cap, p)) > 0) {
    std::string_view line(buf, static_cast<size_t>(n));
    ASSERT_EQ(line.back(), '\n');
    line.remove_suffix(1);
    ++events;
    const auto doc = parser.parse(line.data(), line.size(), true);  // also checks UTF-8
    ASSERT_EQ(doc.error(), simdjson::SUCCESS) << line;
    std::string_view id;
    ASSERT_EQ(doc["messageId"].get(id), simdjson::SUCCESS) << line;
    EXPECT_LE(id.size(), 100u);
  }
  std::free(buf);
  const int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  if (c.expect_events) {
    EXPECT_GT(events, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Files, RealLogs, testing::ValuesIn(kCases), [](const testing::TestParamInfo<Case>& info) {
  std::string name = std::string(info.param.source) + "_" + info.param.file;
  for (char& ch : name) {
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
});

}  // namespace
}  // namespace tailtrack
