// End to end: the promises of docs/security.md that the running binary
// keeps — the write key shows nowhere, the state is owner-only whatever the
// umask, and configuration errors about the key do not quote it.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

using std::chrono::seconds;

// Two keys: the one the agent starts with (refused: 401), and the one it is
// given by the key file and SIGHUP. Neither may be written or served anywhere.
constexpr char kOldKey[] = "wk_OLD_4f9a2c71e0d3b6";
constexpr char kNewKey[] = "wk_NEW_b83e5d09a7c214";

std::string Get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10);
  auto res = client.Get(path);
  return res ? res->body : std::string();
}

// Every regular file under `dir`, with its bytes.
std::vector<std::pair<std::string, std::string>> AllFiles(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.emplace_back(e.path().string(), ReadFile(e.path().string()));
  }
  return out;
}

class SecurityTest : public ::testing::Test {
 protected:
  // The agent with admin.listen, a key file, its spool and dead letters in
  // state_dir; returns it once its admin port is known.
  std::unique_ptr<Child> Start() {
    WriteFile(key_file_, std::string(kOldKey) + "\n");
    E2eConfig c;
    c.url = collector_.url();
    c.write_key_file = key_file_;
    c.state_dir = state_;
    c.spool_dir = state_ + "/spool";
    c.paths = {log_};
    c.timeout = "1s";
    c.max_events = "5";
    const std::string config = dir_ / "tailtrack.yaml";
    WriteFile(config, "admin:\n  listen: 127.0.0.1:0\n" + E2eConfigYaml(c));
    auto agent = std::make_unique<Child>(std::vector<std::string>{TAILTRACK_BINARY, "run", "-c", config});
    port_ = AdminPort(*agent);
    EXPECT_GT(port_, 0) << agent->err();
    return agent;
  }

  // Everything the agent says or serves, gathered as it goes.
  void Scrape() {
    for (const char* path : {"/status", "/metrics", "/", "/healthz", "/readyz"}) served_ += Get(port_, path);
  }

  // Runs the agent through a 401, a key change by SIGHUP, a refused (dead-
  // lettered) event, a collector gone (spooled batches, connection errors)
  // and a stop (checkpoints).
  void RunThroughEverything() {
    collector_.SetWriteKey(kNewKey);
    collector_.RefuseEventsContaining("poison");
    auto agent = Start();
    WriteFile(log_, ShopOrderLine("a1") + ShopOrderLine("a2"));
    ASSERT_TRUE(Eventually([&] { return agent->err().find("(401)") != std::string::npos; }, seconds(20)))
        << agent->err();
    Scrape();
    WriteFile(key_file_, std::string(kNewKey) + "\n");
    agent->Signal(SIGHUP);
    ASSERT_TRUE(collector_.WaitForEvents(2, seconds(20))) << agent->err();
    AppendFile(log_, ShopOrderLine("poison"));
    ASSERT_TRUE(Eventually([&] { return FileSize(state_ + "/dead-letter.jsonl") > 0; }, seconds(20)))
        << agent->err();
    collector_.Stop();
    for (int i = 0; i < 20; ++i) AppendFile(log_, ShopOrderLine("b" + std::to_string(i)));
    ASSERT_TRUE(Eventually([&] { return !FindFiles(state_ + "/spool", "").empty() &&
                                        TotalSize(FindFiles(state_ + "/spool", "")) > 0; }, seconds(20)))
        << agent->err();
    ASSERT_TRUE(Eventually([&] { return agent->err().find("cannot deliver") != std::string::npos; }, seconds(20)))
        << agent->err();
    Scrape();
    agent->Signal(SIGTERM);
    EXPECT_EQ(agent->Wait(seconds(30)), 0) << agent->err();
    said_ = agent->out() + agent->err();
  }

  TempDir dir_;
  FakeCollector collector_{kNewKey};
  std::string state_ = dir_ / "state";
  std::string log_ = dir_ / "shop.log";
  std::string key_file_ = dir_ / "write_key";
  int port_ = 0;
  std::string served_;
  std::string said_;
};

TEST_F(SecurityTest, TheWriteKeyIsInNoLogLineAnswerSpoolDeadLetterOrCheckpoint) {
  RunThroughEverything();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_FALSE(served_.empty());
  ASSERT_NE(said_.find("refuses the write key (401)"), std::string::npos) << said_;  // the paths were taken
  ASSERT_NE(said_.find("SIGHUP: configuration reloaded"), std::string::npos) << said_;
  const auto files = AllFiles(state_);
  bool checkpoint = false, spool = false, dead = false;
  for (const auto& [path, bytes] : files) {
    checkpoint |= path == state_ + "/checkpoints";
    spool |= path.find("/spool/") != std::string::npos;
    dead |= path.find("dead-letter") != std::string::npos;
  }
  EXPECT_TRUE(checkpoint && spool && dead) << "the state holds every kind of file";
  for (const char* key : {kOldKey, kNewKey}) {
    // The key's distinctive half is enough: a key cut or quoted in part is a leak too.
    const std::string needle = std::string(key).substr(7);
    EXPECT_EQ(said_.find(needle), std::string::npos) << key << " in the agent's output:\n" << said_;
    EXPECT_EQ(served_.find(needle), std::string::npos) << key << " served by the admin endpoint";
    for (const auto& [path, bytes] : files) EXPECT_EQ(bytes.find(needle), std::string::npos) << key << " in " << path;
  }
}

// Created by the agent under the most permissive umask, every directory of
// the state is 0700 and every file 0600: nothing of it is readable by others.
TEST_F(SecurityTest, StateDirectoriesAre0700AndStateFiles0600WhateverTheUmask) {
  const mode_t old_mask = ::umask(0);
  RunThroughEverything();
  ::umask(old_mask);
  ASSERT_FALSE(HasFatalFailure());
  struct stat st;
  ASSERT_EQ(::stat(state_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u) << state_;
  size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(state_)) {
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    if (S_ISDIR(st.st_mode)) {
      EXPECT_EQ(st.st_mode & 07777, 0700u) << e.path();
    } else {
      ++files;
      EXPECT_EQ(st.st_mode & 07777, 0600u) << e.path();
    }
  }
  EXPECT_GE(files, 4u) << "checkpoints, lock, a spool segment, dead letters";
}

// Errors about the key name the key and where it is, never its value.
TEST(SecurityConfigTest, AnErrorAboutTheWriteKeyDoesNotQuoteIt) {
  TempDir dir;
  const std::vector<std::string> bad_keys = {
      "\"wk_CTRL_e1d2c3b4\\u0001\"",       // a control character
      "[wk_LIST_e1d2c3b4]",               // not a string
      "{wk_MAP_e1d2c3b4: 1}",
  };
  for (const std::string& key : bad_keys) {
    const std::string config = dir / "tailtrack.yaml";
    WriteFile(config, "collector:\n  url: http://127.0.0.1:1\n  write_key: " + key + "\nstate_dir: " + (dir / "s") +
                          "\nsources:\n  - name: a\n    type: file\n    paths: [" + (dir / "a.log") + "]\n"
                          "rules: []\n");
    Child validate({TAILTRACK_BINARY, "validate", "-c", config});
    EXPECT_EQ(validate.Wait(), 78) << key << ": " << validate.err();
    EXPECT_EQ(validate.err().find("e1d2c3b4"), std::string::npos) << validate.err();
    Child run({TAILTRACK_BINARY, "run", "-c", config});
    EXPECT_EQ(run.Wait(), 78) << key << ": " << run.err();
    EXPECT_EQ(run.err().find("e1d2c3b4"), std::string::npos) << run.err();
  }
}

}  // namespace
}  // namespace tailtrack::testing
