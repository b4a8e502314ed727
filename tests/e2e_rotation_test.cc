// End to end: log rotation the way users do it, with the real logrotate(8)
// (a generated configuration, run with -f -s STATEFILE), while an application
// writes at a steady rate:
//   create        rename app.log to app.log.1 and create a new app.log; the
//                 application goes on writing into the renamed file for a
//                 second before it reopens its log (as after a late postrotate
//                 signal);
//   copytruncate  copy app.log to app.log.1 and truncate app.log; the
//                 application writes on (O_APPEND) into the truncated file.
// Three rotations each, with a glob that matches the live file only
// (`app.log`) and with one that also matches the rotated files (`app.log*`).
//
// What must hold (spec sections 4 and 6: "Rotation is handled: rename-and-
// create, copytruncate, ..."; messageIds deterministic per file identity,
// offset and rule; files identified by device, inode and a fingerprint of
// their first bytes):
//   - every line that is on disk at the end (in app.log or app.log.N)
//     reached the collector. (copytruncate itself loses the lines written
//     between its copy and its truncate: those are on no disk, and are not
//     asked for.)
//   - no line was delivered under two messageIds (a duplicate the collector
//     cannot drop: a copy read again as a new file, a truncated file read
//     again under the old ids...), and no messageId was used for two lines.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kKey[] = "rk_rotation_7b2e91d04c";
constexpr char kTokenPath[] = "properties.order_id";
constexpr char kLogrotate[] = "/usr/sbin/logrotate";

enum class Mode { kCreate, kCopyTruncate };

class RotationTest : public ::testing::Test {
 protected:
  void Run(Mode mode, bool glob_matches_rotated) {
    ASSERT_TRUE(std::filesystem::exists(kLogrotate))
        << kLogrotate << " is missing: packaging/install-deps.sh installs logrotate";
    const std::string state = dir_ / "logrotate.state";
    const std::string rotate_conf = dir_ / "logrotate.conf";
    WriteFile(rotate_conf, log_ + " {\n"
                               "    rotate 10\n" +
                               std::string(mode == Mode::kCreate ? "    create\n" : "    copytruncate\n") +
                               "    missingok\n"
                               "    nocompress\n"
                               "}\n");
    E2eConfig c;
    c.url = collector_.url();
    c.write_key = kKey;
    c.state_dir = dir_ / "state";
    c.paths = {glob_matches_rotated ? log_ + "*" : log_};
    c.start_at = "beginning";
    c.poll_interval = "250ms";
    const std::string config = dir_ / "tailtrack.yaml";
    WriteFile(config, E2eConfigYaml(c));
    WriteFile(log_, "");

    Child agent({TAILTRACK_BINARY, "run", "-c", config});
    LineWriter writer(log_, [](int i) { return ShopOrderLine("ord_" + std::to_string(i)); }, 200);
    for (int rotation = 0; rotation < 3; ++rotation) {
      std::this_thread::sleep_for(milliseconds(1500));
      Child logrotate({kLogrotate, "-f", "-s", state, rotate_conf});
      ASSERT_EQ(logrotate.Wait(), 0) << logrotate.out() << logrotate.err();
      if (mode == Mode::kCreate) {
        std::this_thread::sleep_for(seconds(1));  // the application reopens its log a second late
        writer.Reopen();
      }
    }
    std::this_thread::sleep_for(seconds(1));
    writer.Stop();

    // What is on disk: the truth to deliver.
    std::map<std::string, std::string> where;  // token -> the file it is in
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("app.log", 0) != 0) continue;
      for (const auto& t : ShopOrderTokens(ReadFile(entry.path().string()))) where.emplace(t, name);
    }
    std::vector<std::string> on_disk;
    for (const auto& [t, file] : where) on_disk.push_back(t);
    if (mode == Mode::kCreate) {
      // Nothing is lost by a rename: the test itself is sound.
      ASSERT_EQ(on_disk.size(), static_cast<size_t>(writer.written()));
    }
    ASSERT_GT(on_disk.size(), 1000u);

    const bool delivered = collector_.WaitFor([&] { return Missing(on_disk).empty(); }, seconds(10));
    std::this_thread::sleep_for(milliseconds(500));  // time for a (wrong) re-send to arrive
    agent.Signal(SIGTERM);
    EXPECT_EQ(agent.Wait(), 0) << agent.err();

    const auto missing = Missing(on_disk);
    std::cout << "[ info     ] " << writer.written() << " lines written, " << on_disk.size() << " on disk, "
              << on_disk.size() - missing.size() << " delivered; " << collector_.duplicate_deliveries()
              << " re-sends under the same messageId" << std::endl;
    EXPECT_TRUE(delivered);
    if (!missing.empty()) {
      std::map<std::string, std::vector<std::string>> by_file;
      for (const auto& t : missing) by_file[where[t]].push_back(t);
      std::string detail;
      for (const auto& [file, tokens] : by_file) {
        detail += "\n  " + std::to_string(tokens.size()) + " now in " + file + ": " + tokens.front() + " ...";
      }
      ADD_FAILURE() << missing.size() << " lines on disk never reached the collector:" << detail << "\n"
                    << agent.err();
    }
    EXPECT_EQ(collector_.foreign_id_collisions(), 0u) << Examples();
    std::vector<std::string> several;
    for (const auto& [token, ids] : collector_.AcceptedIdsBy(kTokenPath)) {
      if (ids.size() > 1) several.push_back(token);
    }
    EXPECT_TRUE(several.empty()) << several.size()
                                 << " lines delivered again under another messageId (duplicates a collector cannot "
                                    "drop), e.g. "
                                 << (several.empty() ? std::string() : several.front()) << "\n"
                                 << agent.err();
  }

  std::vector<std::string> Missing(const std::vector<std::string>& tokens) const {
    const auto accepted = collector_.AcceptedIdsBy(kTokenPath);
    std::vector<std::string> missing;
    for (const auto& t : tokens) {
      if (!accepted.count(t)) missing.push_back(t);
    }
    return missing;
  }

  std::string Examples() const {
    std::string s;
    const auto examples = collector_.foreign_id_collision_examples();
    for (size_t i = 0; i < examples.size() && i < 3; ++i) s += "\n  " + examples[i];
    return s;
  }

  TempDir dir_;
  FakeCollector collector_{kKey};
  std::string log_ = dir_ / "app.log";
};

TEST_F(RotationTest, LogrotateCreateWithALateReopenLosesNothingAndSendsNothingTwice) { Run(Mode::kCreate, false); }

TEST_F(RotationTest, LogrotateCreateWithAGlobMatchingTheRotatedFilesLosesNothingAndSendsNothingTwice) {
  Run(Mode::kCreate, true);
}

TEST_F(RotationTest, LogrotateCopytruncateLosesNothingAndSendsNothingTwice) { Run(Mode::kCopyTruncate, false); }

TEST_F(RotationTest, LogrotateCopytruncateWithAGlobMatchingTheCopiesLosesNothingAndSendsNothingTwice) {
  Run(Mode::kCopyTruncate, true);
}

}  // namespace
}  // namespace tailtrack::testing
