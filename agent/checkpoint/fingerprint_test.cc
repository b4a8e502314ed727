#include "checkpoint/fingerprint.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace tailtrack {
namespace {

using testing::TempDir;
using testing::WriteFile;

TEST(Fingerprint, IsStableAcrossRunsAndBuilds) {
  // The first 8 bytes of SHA-256("hello\n"), little-endian: a stored value must not change.
  EXPECT_EQ(Fingerprint("hello\n"), 0x08dfd522b5b59158ull);
  EXPECT_EQ(Fingerprint("hello\n"), Fingerprint(std::string("hello\n")));
}

TEST(Fingerprint, DiffersForDifferentPrefixes) {
  const std::string line = "2024-05-01T12:00:00Z GET /a 200\n";
  EXPECT_NE(Fingerprint(line), Fingerprint(line.substr(0, line.size() - 1)));
  std::string other = line;
  other[5] = '6';
  EXPECT_NE(Fingerprint(line), Fingerprint(other));
  EXPECT_NE(Fingerprint("a"), Fingerprint("b"));
}

TEST(Fingerprint, IsZeroOnlyForNothing) {
  EXPECT_EQ(Fingerprint(""), 0u);
  EXPECT_NE(Fingerprint(std::string(1, '\0')), 0u);
}

TEST(FingerprintFile, ReadsTheFirstLenBytesAsFingerprintWould) {
  TempDir dir;
  std::string content;
  for (int i = 0; content.size() < 50000; ++i) content += "line " + std::to_string(i) + "\n";
  WriteFile(dir / "a.log", content);
  const int fd = open((dir / "a.log").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(lseek(fd, 123, SEEK_SET), 123);
  for (uint32_t len : {1u, 1024u, 16384u, 16385u, 40000u}) {
    uint64_t fp = 0;
    uint32_t got = 0;
    ASSERT_TRUE(FingerprintFile(fd, len, &fp, &got));
    EXPECT_EQ(got, len);
    EXPECT_EQ(fp, Fingerprint(std::string_view(content).substr(0, len))) << len;
  }
  EXPECT_EQ(lseek(fd, 0, SEEK_CUR), 123);  // pread: the read position is the caller's
  close(fd);
}

TEST(FingerprintFile, AShortFileGivesWhatItHas) {
  TempDir dir;
  WriteFile(dir / "short.log", "one line\n");
  const int fd = open((dir / "short.log").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  uint64_t fp = 0;
  uint32_t got = 0;
  ASSERT_TRUE(FingerprintFile(fd, 1024, &fp, &got));
  EXPECT_EQ(got, 9u);
  EXPECT_EQ(fp, Fingerprint("one line\n"));
  close(fd);

  WriteFile(dir / "empty.log", "");
  const int empty = open((dir / "empty.log").c_str(), O_RDONLY);
  ASSERT_TRUE(FingerprintFile(empty, 1024, &fp, &got));
  EXPECT_EQ(got, 0u);
  EXPECT_EQ(fp, 0u);
  close(empty);
}

TEST(FingerprintFile, AReadErrorIsFalse) {
  TempDir dir;
  const int fd = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  uint64_t fp = 0;
  uint32_t got = 0;
  EXPECT_FALSE(FingerprintFile(fd, 1024, &fp, &got));
  EXPECT_EQ(errno, EISDIR);
  close(fd);
}

}  // namespace
}  // namespace tailtrack
