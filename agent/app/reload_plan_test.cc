#include "app/reload_plan.h"

#include <gtest/gtest.h>

#include "config/loader.h"

namespace tailtrack {
namespace {

Config Load(const std::string& sources, const std::string& extra = "") {
  return LoadConfigFromString("collector:\n  url: http://127.0.0.1:1\n  write_key: k\nstate_dir: /tmp/tt\n" + extra +
                                  "sources:\n" + sources,
                              "t.yaml");
}

const std::string kA = "  - {name: a, type: file, paths: [/tmp/a.log]}\n";
const std::string kB = "  - {name: b, type: file, paths: [/tmp/b.log]}\n";
const std::string kC = "  - {name: c, type: unix, path: /tmp/c.sock}\n";

TEST(ReloadPlanTest, SourcesKeepTheirIndexByName) {
  const Config running = Load(kA + kB + kC);
  // b goes, a moves after a new d, c changes.
  const ReloadPlan plan =
      PlanReload(running, Load("  - {name: d, type: file, paths: [/tmp/d.log]}\n" + kA +
                               "  - {name: c, type: unix, path: /tmp/c2.sock}\n"));
  ASSERT_EQ(plan.config.sources.size(), 4u);
  EXPECT_EQ(plan.config.sources[0].name, "a");
  EXPECT_EQ(plan.config.sources[1].name, "b");
  EXPECT_TRUE(plan.config.sources[1].retired);
  EXPECT_EQ(plan.config.sources[2].name, "c");
  EXPECT_EQ(plan.config.sources[2].path, "/tmp/c2.sock");
  EXPECT_EQ(plan.config.sources[3].name, "d");
  EXPECT_EQ(plan.kept, std::vector<size_t>{0});
  EXPECT_EQ(plan.retired, std::vector<size_t>{1});
  EXPECT_EQ(plan.restarted, std::vector<size_t>{2});
  EXPECT_EQ(plan.added, std::vector<size_t>{3});
  EXPECT_EQ(plan.config.FindSource("d"), 3u);
}

TEST(ReloadPlanTest, WhereASourceIsWrittenDoesNotRestartIt) {
  const Config running = Load(kA + kB);
  const ReloadPlan plan = PlanReload(running, Load("\n\n" + kB + kA));
  EXPECT_EQ(plan.kept, (std::vector<size_t>{0, 1}));
  EXPECT_TRUE(plan.restarted.empty());
  EXPECT_FALSE(plan.collector_changed);
  EXPECT_FALSE(plan.batch_changed);
}

TEST(ReloadPlanTest, ARemovedSourceComesBackAtItsOldIndex) {
  const Config running = Load(kA + kB);
  const ReloadPlan removed = PlanReload(running, Load(kA));
  EXPECT_EQ(removed.retired, std::vector<size_t>{1});
  const ReloadPlan back = PlanReload(removed.config, Load(kB + kA));
  ASSERT_EQ(back.config.sources.size(), 2u);
  EXPECT_FALSE(back.config.sources[1].retired);
  EXPECT_EQ(back.added, std::vector<size_t>{1});
  EXPECT_TRUE(back.retired.empty());  // already retired: nothing to stop
}

TEST(ReloadPlanTest, StateAndListenersKeepTheirRunningValues) {
  const Config running = Load(kA, "admin:\n  listen: 9464\n");
  Config next = Load(kA, "admin:\n  listen: 9465\nspool:\n  max_bytes: 1MiB\nbatch:\n  max_events: 7\n");
  next.state_dir = "/tmp/other";
  next.collector.url = "http://127.0.0.1:2";
  const ReloadPlan plan = PlanReload(running, next);
  EXPECT_EQ(plan.restart_only, (std::vector<std::string>{"state_dir", "spool", "admin.listen"}));
  EXPECT_EQ(plan.config.state_dir, running.state_dir);
  EXPECT_EQ(plan.config.spool, running.spool);
  EXPECT_EQ(plan.config.admin.listen, "9464");
  EXPECT_TRUE(plan.collector_changed);
  EXPECT_TRUE(plan.batch_changed);
  EXPECT_EQ(plan.config.batch.max_events, 7u);
}

}  // namespace
}  // namespace tailtrack
