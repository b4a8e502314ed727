#include "checkpoint/checkpoint_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <limits>

#include "test_util.h"

namespace tailtrack {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

std::vector<CheckpointEntry> SomeEntries(int n) {
  std::vector<CheckpointEntry> entries;
  for (int i = 0; i < n; ++i) {
    CheckpointEntry e;
    e.source = i % 3 == 0 ? "" : "source-" + std::to_string(i % 7);
    e.path = "/var/log/app/" + std::to_string(i) + (i % 5 == 0 ? "-caf\xc3\xa9.log" : ".log");
    e.dev = 0x0803 + i;
    e.ino = std::numeric_limits<uint64_t>::max() - i;
    e.file_id = 0x0123456789abcdefull * (i + 1);
    e.fingerprint = i == 0 ? 0 : 0xfedcba9876543210ull ^ i;
    e.fingerprint_len = i % 1025;
    e.offset = static_cast<uint64_t>(i) << 33;
    e.updated_ms = i % 2 ? 1700000000000 + i : -i;
    entries.push_back(e);
  }
  return entries;
}

std::string Reason(std::string_view bytes) {
  std::vector<CheckpointEntry> out;
  std::string error;
  if (ParseCheckpoints(bytes, &out, &error)) return "accepted";
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

TEST(CheckpointFile, ManyEntriesSurviveASaveAndLoad) {
  TempDir dir;
  auto entries = SomeEntries(10000);
  entries[1].path = std::string(kMaxCheckpointString, 'p');
  entries[2].source = std::string(kMaxCheckpointString, 's');
  std::string error;
  ASSERT_TRUE(SaveCheckpoints(dir / "checkpoints", entries, &error)) << error;
  std::vector<CheckpointEntry> loaded;
  ASSERT_TRUE(LoadCheckpoints(dir / "checkpoints", &loaded, &error)) << error;
  EXPECT_EQ(loaded, entries);
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoints.tmp"));
  struct stat st;
  ASSERT_EQ(stat((dir / "checkpoints").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(CheckpointFile, NoEntriesIsAValidFile) {
  std::vector<CheckpointEntry> out = SomeEntries(2);
  std::string error;
  ASSERT_TRUE(ParseCheckpoints(EncodeCheckpoints({}), &out, &error)) << error;
  EXPECT_TRUE(out.empty());
}

TEST(CheckpointFile, EveryTruncationIsRefused) {
  const std::string bytes = EncodeCheckpoints(SomeEntries(4));
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_NE(Reason(bytes.substr(0, n)), "accepted") << "truncated to " << n;
  }
  EXPECT_EQ(Reason(bytes), "accepted");
  EXPECT_NE(Reason(bytes.substr(0, bytes.size() - 1)).find("truncated"), std::string::npos);
}

TEST(CheckpointFile, EveryFlippedBitIsRefused) {
  const std::string bytes = EncodeCheckpoints(SomeEntries(3));
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      EXPECT_NE(Reason(damaged), "accepted") << "byte " << i << " bit " << bit;
    }
  }
}

TEST(CheckpointFile, AFlippedByteInAnOffsetIsAChecksumMismatch) {
  std::string bytes = EncodeCheckpoints(SomeEntries(1));
  bytes[bytes.size() - 4 - 8 - 3] ^= 0x40;  // inside the offset
  EXPECT_NE(Reason(bytes).find("checksum mismatch"), std::string::npos) << Reason(bytes);
}

TEST(CheckpointFile, BadMagicIsRefused) {
  EXPECT_NE(Reason("{\"offsets\": []}\n and some more bytes").find("bad magic"), std::string::npos);
}

// The checksum made right again after an edit, so that only the edit is wrong.
void Reseal(std::string& bytes) {
  const size_t body = bytes.size() - 4;
  const uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), body);
  for (int i = 0; i < 4; ++i) bytes[body + i] = static_cast<char>(crc >> (8 * i));
}

TEST(CheckpointFile, AnUnknownVersionIsRefusedByName) {
  std::string bytes = EncodeCheckpoints(SomeEntries(2));
  bytes[8] = 2;
  Reseal(bytes);
  EXPECT_EQ(Reason(bytes), "unknown version 2 (this agent reads version 1)");
}

TEST(CheckpointFile, TrailingGarbageIsRefused) {
  // Garbage between the entries and the checksum: the count says there is no more.
  std::string bytes = EncodeCheckpoints(SomeEntries(2));
  bytes.insert(bytes.size() - 4, "xyz");
  EXPECT_NE(Reason(bytes).find("trailing garbage"), std::string::npos) << Reason(bytes);
  // Garbage after a whole file.
  EXPECT_NE(Reason(EncodeCheckpoints(SomeEntries(2)) + "\n"), "accepted");
}

TEST(CheckpointFile, AnEntryCountBeyondTheBoundIsRefusedBeforeAllocating) {
  std::string bytes = EncodeCheckpoints({});
  const uint32_t count = kMaxCheckpointEntries + 1;
  for (int i = 0; i < 4; ++i) bytes[12 + i] = static_cast<char>(count >> (8 * i));
  Reseal(bytes);
  EXPECT_NE(Reason(bytes).find("entry count 10000001"), std::string::npos) << Reason(bytes);
  bytes[14] = 0;  // 38529: within the bound, still more than the bytes could hold
  Reseal(bytes);
  EXPECT_NE(Reason(bytes).find("cannot fit"), std::string::npos) << Reason(bytes);
}

TEST(CheckpointFile, AStringBeyondTheBoundIsRefused) {
  auto entries = SomeEntries(1);
  entries[0].path = std::string(kMaxCheckpointString + 1, 'p');
  EXPECT_NE(Reason(EncodeCheckpoints(entries)).find("string of 4097 bytes"), std::string::npos);
}

TEST(CheckpointFile, SaveRefusesAnEntryItCouldNotLoadAgain) {
  TempDir dir;
  auto entries = SomeEntries(3);
  entries[2].path = std::string(kMaxCheckpointString + 1, 'p');
  std::string error;
  EXPECT_FALSE(SaveCheckpoints(dir / "checkpoints", entries, &error));
  EXPECT_NE(error.find("entry 2"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoints"));
}

TEST(CheckpointFile, AMissingFileIsEmpty) {
  TempDir dir;
  std::vector<CheckpointEntry> out = SomeEntries(1);
  std::string error;
  EXPECT_TRUE(LoadCheckpoints(dir / "checkpoints", &out, &error));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(error.empty());
}

TEST(CheckpointFile, ADamagedFileIsAnErrorNamingThePath) {
  TempDir dir;
  WriteFile(dir / "checkpoints", "TTCKPT\r\n\x01");
  std::vector<CheckpointEntry> out;
  std::string error;
  EXPECT_FALSE(LoadCheckpoints(dir / "checkpoints", &out, &error));
  EXPECT_EQ(error.rfind(dir / "checkpoints: truncated", 0), 0u) << error;
}

TEST(CheckpointFile, AnUnreadableFileIsAnErrorNamingThePath) {
  TempDir dir;
  std::filesystem::create_directory(dir / "checkpoints");
  std::vector<CheckpointEntry> out;
  std::string error;
  EXPECT_FALSE(LoadCheckpoints(dir / "checkpoints", &out, &error));
  EXPECT_EQ(error, dir / "checkpoints: cannot read: Is a directory");
}

TEST(CheckpointFile, ALeftoverTmpFromACrashDoesNotHurt) {
  TempDir dir;
  const auto entries = SomeEntries(5);
  std::string error;
  WriteFile(dir / "checkpoints.tmp", std::string(100000, '\xee'));  // longer than what comes
  std::vector<CheckpointEntry> out;
  ASSERT_TRUE(LoadCheckpoints(dir / "checkpoints", &out, &error)) << error;
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(SaveCheckpoints(dir / "checkpoints", entries, &error)) << error;
  ASSERT_TRUE(LoadCheckpoints(dir / "checkpoints", &out, &error)) << error;
  EXPECT_EQ(out, entries);
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoints.tmp"));
}

TEST(CheckpointFile, TheOldFileIsIntactWhenTheNewOneCannotBeWritten) {
  TempDir dir;
  const std::string path = dir / "checkpoints";
  std::string error;
  ASSERT_TRUE(SaveCheckpoints(path, SomeEntries(3), &error)) << error;
  const std::string before = ReadFile(path);

  // The temporary file cannot be created (root is not stopped by modes, but is by this).
  std::filesystem::create_directory(path + ".tmp");
  EXPECT_FALSE(SaveCheckpoints(path, SomeEntries(4), &error));
  EXPECT_EQ(error, path + ".tmp: cannot open: Is a directory");
  EXPECT_EQ(ReadFile(path), before);
  std::filesystem::remove(path + ".tmp");

  // The disk is full: the write fails, the temporary file is removed.
  ASSERT_EQ(symlink("/dev/full", (path + ".tmp").c_str()), 0);
  EXPECT_FALSE(SaveCheckpoints(path, SomeEntries(4), &error));
  EXPECT_EQ(error, path + ".tmp: cannot write: No space left on device");
  EXPECT_EQ(ReadFile(path), before);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path + ".tmp")));

  std::vector<CheckpointEntry> out;
  ASSERT_TRUE(LoadCheckpoints(path, &out, &error)) << error;
  EXPECT_EQ(out, SomeEntries(3));
}

TEST(CheckpointFile, SavingUnderARegularFileFailsWithTheErrno) {
  TempDir dir;
  WriteFile(dir / "state", "not a directory");
  std::string error;
  EXPECT_FALSE(SaveCheckpoints(dir / "state/checkpoints", SomeEntries(1), &error));
  EXPECT_EQ(error, dir / "state/checkpoints.tmp: cannot open: Not a directory");
}

TEST(CheckpointFile, ADamagedFileIsSetAsideUnderANewName) {
  TempDir dir;
  const std::string path = dir / "checkpoints";
  WriteFile(path, "damaged");
  const std::string first = SetAsideCheckpoints(path);
  ASSERT_EQ(first.rfind(path + ".damaged-", 0), 0u) << first;
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(ReadFile(first), "damaged");

  // Twice in one second: the first one is kept.
  WriteFile(path, "again");
  const std::string second = SetAsideCheckpoints(path);
  ASSERT_FALSE(second.empty());
  EXPECT_NE(second, first);
  EXPECT_EQ(ReadFile(first), "damaged");
  EXPECT_EQ(ReadFile(second), "again");

  EXPECT_EQ(SetAsideCheckpoints(dir / "missing"), "");
}

// --- checkpoints.ahead ---

TEST(CheckpointAhead, RecordsAreReadBackInTheOrderTheyWereAppended) {
  TempDir dir;
  const auto all = SomeEntries(7);
  std::string error;
  ASSERT_TRUE(AppendCheckpointRecord(dir / "ahead", {all.begin(), all.begin() + 3}, &error)) << error;
  ASSERT_TRUE(AppendCheckpointRecord(dir / "ahead", {}, &error)) << error;
  ASSERT_TRUE(AppendCheckpointRecord(dir / "ahead", {all.begin() + 3, all.end()}, &error)) << error;
  std::vector<CheckpointEntry> loaded;
  ASSERT_TRUE(LoadCheckpointRecords(dir / "ahead", &loaded, &error)) << error;
  EXPECT_EQ(loaded, all);
  struct stat st;
  ASSERT_EQ(stat((dir / "ahead").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(CheckpointAhead, ARecordCutByACrashIsLeftOutAndCutOffSoThatLaterRecordsAreRead) {
  TempDir dir;
  const auto all = SomeEntries(4);
  std::string error;
  ASSERT_TRUE(AppendCheckpointRecord(dir / "ahead", {all[0], all[1]}, &error)) << error;
  const uint64_t whole = std::filesystem::file_size(dir / "ahead");
  ASSERT_TRUE(AppendCheckpointRecord(dir / "ahead", {all[2], all[3]}, &error)) << error;
  const std::string both = ReadFile(dir / "ahead");
  // Every cut inside the second record keeps the first, whole.
  for (uint64_t size = whole; size < both.size(); ++size) {
    WriteFile(dir / "ahead", both.substr(0, size));
    std::vector<CheckpointEntry> loaded;
    ASSERT_TRUE(LoadCheckpointRecords(dir / "ahead", &loaded, &error)) << error;
    EXPECT_EQ(loaded, (std::vector<CheckpointEntry>{all[0], all[1]})) << "cut at " << size;
    EXPECT_EQ(std::filesystem::file_size(dir / "ahead"), whole);
  }
  ASSERT_TRUE(AppendCheckpointRecord(dir / "ahead", {all[3]}, &error)) << error;
  std::vector<CheckpointEntry> loaded;
  ASSERT_TRUE(LoadCheckpointRecords(dir / "ahead", &loaded, &error)) << error;
  EXPECT_EQ(loaded, (std::vector<CheckpointEntry>{all[0], all[1], all[3]}));
}

TEST(CheckpointAhead, AnEntryItCouldNotReadBackIsNotAppended) {
  TempDir dir;
  auto entries = SomeEntries(2);
  entries[1].path = std::string(kMaxCheckpointString + 1, 'p');
  std::string error;
  EXPECT_FALSE(AppendCheckpointRecord(dir / "ahead", entries, &error));
  EXPECT_NE(error.find("longer than"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(dir / "ahead"));
}

TEST(CheckpointAhead, AMissingFileHasNoEntries) {
  TempDir dir;
  std::vector<CheckpointEntry> loaded = SomeEntries(1);
  std::string error;
  ASSERT_TRUE(LoadCheckpointRecords(dir / "missing", &loaded, &error)) << error;
  EXPECT_TRUE(loaded.empty());
}

TEST(CheckpointAhead, NewerEntriesReplaceTheSameFilesAndAddTheOthers) {
  auto entry = [](const std::string& source, uint64_t ino, uint64_t file_id, uint64_t offset, int64_t updated) {
    CheckpointEntry e;
    e.source = source;
    e.path = "/var/log/app.log";
    e.dev = 8;
    e.ino = ino;
    e.file_id = file_id;
    e.offset = offset;
    e.updated_ms = updated;
    return e;
  };
  std::vector<CheckpointEntry> entries = {entry("a", 10, 1, 100, 1000), entry("a", 11, 2, 200, 1000),
                                          entry("a", 0, 3, 300, 1000), entry("b", 10, 4, 400, 1000)};
  MergeNewer(&entries, {
                           entry("a", 10, 5, 0, 2000),   // the same file, a new generation: replaces
                           entry("a", 11, 2, 150, 900),  // by order, not by the (stepped back) clock: replaces
                           entry("a", 0, 3, 310, 2000),  // a rewritten generation, by file_id: replaces
                           entry("a", 0, 6, 600, 2000),  // another rewritten generation: added
                           entry("c", 12, 7, 0, 2000),   // a file the checkpoint did not know: added
                       });
  EXPECT_EQ(entries, (std::vector<CheckpointEntry>{entry("a", 10, 5, 0, 2000), entry("a", 11, 2, 150, 900),
                                                   entry("a", 0, 3, 310, 2000), entry("b", 10, 4, 400, 1000),
                                                   entry("a", 0, 6, 600, 2000), entry("c", 12, 7, 0, 2000)}));
}

}  // namespace
}  // namespace tailtrack
