#include "checkpoint/state_lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "test_util.h"

namespace tailtrack {
namespace {

using testing::Child;
using testing::ReadFile;
using testing::TempDir;

TEST(StateLock, ASecondLockOnTheSameDirFailsNamingTheHolder) {
  TempDir dir;
  std::string error;
  auto first = StateLock::Acquire(dir.path(), &error);
  ASSERT_TRUE(first) << error;
  EXPECT_EQ(ReadFile(dir / "lock"), std::to_string(getpid()) + "\n");
  EXPECT_FALSE(StateLock::Acquire(dir.path(), &error));
  EXPECT_EQ(error, "state_dir " + dir.path() + " is in use by another tailtrack (pid " + std::to_string(getpid()) +
                       "); two agents on one state would both send");
}

TEST(StateLock, TheLockIsFreeAfterTheHolderIsDestroyed) {
  TempDir dir;
  std::string error;
  auto first = StateLock::Acquire(dir.path(), &error);
  ASSERT_TRUE(first) << error;
  first.reset();
  auto second = StateLock::Acquire(dir.path(), &error);
  EXPECT_TRUE(second) << error;
  EXPECT_TRUE(std::filesystem::exists(dir / "lock"));
}

TEST(StateLock, AnotherProcessCannotTakeIt) {
  TempDir dir;
  std::string error;
  auto lock = StateLock::Acquire(dir.path(), &error);
  ASSERT_TRUE(lock) << error;
  // util-linux flock(1): exit 1 when -n finds the lock taken.
  Child held({"/usr/bin/flock", "-n", dir / "lock", "true"});
  EXPECT_EQ(held.Wait(), 1) << held.err();
  lock.reset();
  Child free({"/usr/bin/flock", "-n", dir / "lock", "true"});
  EXPECT_EQ(free.Wait(), 0) << free.err();
}

TEST(StateLock, AnotherProcessHoldingItIsNamedAndKill9ReleasesIt) {
  TempDir dir;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string error;
    auto lock = StateLock::Acquire(dir.path(), &error);
    const char c = lock ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1) _exit(2);
    for (;;) pause();
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  ASSERT_EQ(c, 'y');

  std::string error;
  EXPECT_FALSE(StateLock::Acquire(dir.path(), &error));
  EXPECT_NE(error.find("(pid " + std::to_string(child) + ")"), std::string::npos) << error;

  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  auto lock = StateLock::Acquire(dir.path(), &error);
  EXPECT_TRUE(lock) << error;
  EXPECT_EQ(ReadFile(dir / "lock"), std::to_string(getpid()) + "\n");
}

TEST(StateLock, AMissingStateDirIsTheErrnoText) {
  TempDir dir;
  std::string error;
  EXPECT_FALSE(StateLock::Acquire(dir / "missing", &error));
  EXPECT_EQ(error, dir / "missing/lock: cannot open: No such file or directory");
}

TEST(StateLock, AStalePidFromAnEarlierHolderIsReplaced) {
  TempDir dir;
  testing::WriteFile(dir / "lock", "99999999\nmore text from an older version\n");
  std::string error;
  auto lock = StateLock::Acquire(dir.path(), &error);
  ASSERT_TRUE(lock) << error;
  EXPECT_EQ(ReadFile(dir / "lock"), std::to_string(getpid()) + "\n");
}

}  // namespace
}  // namespace tailtrack
