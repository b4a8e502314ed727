// The segment format, written and read back through real files; in the
// manner of leveldb's log_test.cc.
#include "spool/segment.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <random>

#include "spool/crc32c.h"
#include "test_util.h"

namespace tailtrack {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

// `n` bytes of a repeated pattern that starts with `start`, so that records differ.
std::string Record(const std::string& start, size_t n) {
  std::string r;
  while (r.size() < n) r += start;
  r.resize(n);
  return r;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

class SegmentFormat : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    writer_ = SegmentWriter::Create(path_, &error);
    ASSERT_TRUE(writer_) << error;
  }

  uint64_t Write(const std::string& record) {
    uint64_t offset = 0;
    std::string error;
    EXPECT_TRUE(writer_->Append(record, &offset, &error)) << error;
    return offset;
  }

  struct Read {
    std::vector<std::string> records;
    std::vector<uint64_t> offsets;
    std::vector<std::pair<uint64_t, std::string>> damage;
    bool sealed = false;
    uint64_t sealed_records = 0, end = 0;
  };

  void Seal() {
    std::string error;
    ASSERT_TRUE(writer_->Seal(&error)) << error;
  }

  Read ReadAll() {
    Read read;
    const int fd = ::open(path_.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0);
    SegmentReader reader(fd, kSegmentHeaderSize, [&read](uint64_t offset, std::string_view reason) {
      read.damage.emplace_back(offset, std::string(reason));
    });
    std::string record;
    uint64_t offset = 0;
    while (reader.Read(&record, &offset)) {
      read.records.push_back(record);
      read.offsets.push_back(offset);
    }
    read.sealed = reader.sealed();
    read.sealed_records = reader.sealed_records();
    read.end = reader.end();
    ::close(fd);
    return read;
  }

  // Flips bits of the byte at `offset`.
  void Poke(uint64_t offset, uint8_t flip = 0x40) {
    std::string bytes = ReadFile(path_);
    ASSERT_LT(offset, bytes.size());
    bytes[offset] = static_cast<char>(bytes[offset] ^ flip);
    WriteFile(path_, bytes);
  }

  void Truncate(uint64_t size) { ASSERT_EQ(::truncate(path_.c_str(), static_cast<off_t>(size)), 0); }

  TempDir dir_;
  std::string path_ = dir_ / SegmentName(1);
  std::unique_ptr<SegmentWriter> writer_;
};

TEST_F(SegmentFormat, NamesAreTwentyDigitsAndParseBack) {
  EXPECT_EQ(SegmentName(42), "00000000000000000042.seg");
  EXPECT_EQ(ParseSegmentName(SegmentName(42)), 42u);
  EXPECT_EQ(ParseSegmentName(SegmentName(UINT64_MAX)), UINT64_MAX);
  EXPECT_EQ(ParseSegmentName("00000000000000000042.seg.quarantined"), std::nullopt);
  EXPECT_EQ(ParseSegmentName("0000000000000000004x.seg"), std::nullopt);
  EXPECT_EQ(ParseSegmentName("42.seg"), std::nullopt);
  EXPECT_EQ(ParseSegmentName("99999999999999999999.seg"), std::nullopt);  // past UINT64_MAX
}

TEST_F(SegmentFormat, NewSegmentIsOnlyAHeaderAndIsPrivate) {
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadFile(path_), SegmentHeader());
  EXPECT_EQ(SegmentHeader().size(), kSegmentHeaderSize);
  EXPECT_EQ(SegmentHeader().substr(0, 8), std::string("TTSPOOL\0", 8));
  EXPECT_EQ(CheckSegmentHeader(SegmentHeader()), "");
  EXPECT_TRUE(ReadAll().records.empty());
}

TEST_F(SegmentFormat, CreatingAnExistingSegmentFails) {
  std::string error;
  EXPECT_EQ(SegmentWriter::Create(path_, &error), nullptr);
  EXPECT_EQ(error, "File exists");
}

TEST_F(SegmentFormat, BadHeadersAreNamed) {
  std::string header = SegmentHeader();
  EXPECT_EQ(CheckSegmentHeader(header.substr(0, 15)), "torn header");
  EXPECT_EQ(CheckSegmentHeader(""), "torn header");
  std::string magic = header;
  magic[0] = 'X';
  EXPECT_EQ(CheckSegmentHeader(magic), "bad magic");
  std::string version = header;
  version[8] = 2;
  EXPECT_EQ(CheckSegmentHeader(version), "bad header checksum");
  // A well-formed header of a version this build does not know.
  const uint32_t crc = crc32c::Mask(crc32c::Value(version.data(), 12));
  for (int i = 0; i < 4; ++i) version[12 + i] = static_cast<char>(crc >> (8 * i));
  EXPECT_EQ(CheckSegmentHeader(version), "unknown version 2");
}

TEST_F(SegmentFormat, SmallRecordsRoundTrip) {
  const std::vector<std::string> records = {"foo", "bar", "", "xxxx"};
  for (const auto& r : records) Write(r);
  const Read read = ReadAll();
  EXPECT_EQ(read.records, records);
  EXPECT_TRUE(read.damage.empty());
  EXPECT_EQ(read.offsets[0], kSegmentHeaderSize);
  EXPECT_EQ(read.offsets[1], kSegmentHeaderSize + kFragmentHeaderSize + 3);
}

TEST_F(SegmentFormat, RecordsSpanningBlocksRoundTrip) {
  std::vector<std::string> records;
  std::vector<uint64_t> offsets;
  for (size_t n : {size_t{1}, size_t{100}, kBlockSize - kFragmentHeaderSize, kBlockSize, 3 * kBlockSize + 5,
                   size_t{100'000}, size_t{10}}) {
    records.push_back(Record(std::to_string(n) + ".", n));
    offsets.push_back(Write(records.back()));
  }
  const Read read = ReadAll();
  EXPECT_EQ(read.records, records);
  EXPECT_EQ(read.offsets, offsets);
  EXPECT_TRUE(read.damage.empty());
  EXPECT_EQ(FileSize(path_), writer_->size());
}

TEST_F(SegmentFormat, FramedSizeIsWhatIsWritten) {
  for (size_t n : {size_t{0}, size_t{5}, kBlockSize, 2 * kBlockSize + 1}) {
    const uint64_t before = writer_->size();
    const uint64_t predicted = FramedSize(n, before);
    Write(Record("z", n));
    EXPECT_EQ(writer_->size() - before, predicted) << n;
  }
}

TEST_F(SegmentFormat, BlockTailShorterThanAHeaderIsZeroFilled) {
  // Leaves 6 bytes in the first block: too few for a fragment header.
  Write(Record("a", kBlockSize - kFragmentHeaderSize - 6));
  const uint64_t second = Write("next");
  EXPECT_EQ(second, kSegmentHeaderSize + kBlockSize);
  EXPECT_EQ(ReadFile(path_).substr(second - 6, 6), std::string(6, '\0'));
  const Read read = ReadAll();
  ASSERT_EQ(read.records.size(), 2u);
  EXPECT_EQ(read.records[1], "next");
  EXPECT_EQ(read.offsets[1], second);
}

TEST_F(SegmentFormat, RecordStartingInAHeaderSizedTailRoundTrips) {
  // Leaves exactly one fragment header's room: an empty FIRST fragment.
  Write(Record("a", kBlockSize - 2 * kFragmentHeaderSize));
  Write("spans");
  const Read read = ReadAll();
  ASSERT_EQ(read.records.size(), 2u);
  EXPECT_EQ(read.records[1], "spans");
  EXPECT_TRUE(read.damage.empty());
}

TEST_F(SegmentFormat, TruncatedTrailingRecordIsIgnored) {
  Write("foo");
  Write("bar");
  Truncate(writer_->size() - 1);
  const Read read = ReadAll();
  EXPECT_EQ(read.records, std::vector<std::string>{"foo"});
  EXPECT_TRUE(read.damage.empty());
}

TEST_F(SegmentFormat, TornFragmentHeaderIsIgnored) {
  Write("foo");
  const uint64_t second = Write("bar");
  Truncate(second + 3);
  const Read read = ReadAll();
  EXPECT_EQ(read.records, std::vector<std::string>{"foo"});
  EXPECT_TRUE(read.damage.empty());
}

TEST_F(SegmentFormat, TruncatedSpanningRecordIsIgnored) {
  Write("foo");
  Write(Record("big", 3 * kBlockSize));
  Truncate(kSegmentHeaderSize + 2 * kBlockSize + 100);  // its FIRST and a MIDDLE survive
  const Read read = ReadAll();
  EXPECT_EQ(read.records, std::vector<std::string>{"foo"});
  EXPECT_TRUE(read.damage.empty());
}

TEST_F(SegmentFormat, ZeroFilledTailIsIgnored) {
  Write("foo");
  testing::AppendFile(path_, std::string(2 * kBlockSize + 10, '\0'));
  const Read read = ReadAll();
  EXPECT_EQ(read.records, std::vector<std::string>{"foo"});
  EXPECT_TRUE(read.damage.empty());
}

TEST_F(SegmentFormat, ZerosFollowedByDataAreDamage) {
  Write("foo");
  testing::AppendFile(path_, std::string(100, '\0') + "junk");
  const Read read = ReadAll();
  EXPECT_EQ(read.records, std::vector<std::string>{"foo"});
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0].second, "bad checksum");
}

TEST_F(SegmentFormat, BadChecksumLosesOnlyItsRecord) {
  Write("first");
  const uint64_t second = Write("second");
  const uint64_t third = Write("third");  // same block as the damage: read again after it
  Write(Record("fill", kBlockSize));
  const uint64_t fifth = Write("fifth");
  Poke(second + kFragmentHeaderSize + 2);
  const Read read = ReadAll();
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(second, std::string("bad checksum")));
  ASSERT_EQ(read.records.size(), 4u);
  EXPECT_EQ(read.records[0], "first");
  EXPECT_EQ(read.records[1], "third");
  EXPECT_EQ(read.offsets[1], third);
  EXPECT_EQ(read.records[2], Record("fill", kBlockSize));
  EXPECT_EQ(read.records[3], "fifth");
  EXPECT_EQ(read.offsets[3], fifth);
}

TEST_F(SegmentFormat, BadLengthLosesOnlyItsRecord) {
  Write("first");
  const uint64_t second = Write("second");
  Write("third");
  Write(Record("fill", kBlockSize));
  Write("next block");
  Poke(second + 5, 0x80);  // the length's high byte: past the end of the block
  const Read read = ReadAll();
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(second, std::string("bad length")));
  ASSERT_EQ(read.records.size(), 4u);
  EXPECT_EQ(read.records[1], "third");
  EXPECT_EQ(read.records[3], "next block");
}

// Every byte of one record's fragment, flipped in turn, in a block that holds
// many: only that record is lost, as one piece of damage at its start, and
// every other record comes back at its offset.
TEST_F(SegmentFormat, AFlippedByteInOneOfManyRecordsInABlockLosesOnlyThatRecord) {
  std::vector<std::string> records;
  std::vector<uint64_t> offsets;
  for (int i = 0; i < 40; ++i) {
    records.push_back(Record("r" + std::to_string(i) + "-", 500 + i));
    offsets.push_back(Write(records.back()));
  }
  Seal();
  ASSERT_LT(offsets.back(), kSegmentHeaderSize + kBlockSize);  // all in the first block
  const std::string clean = ReadFile(path_);
  const size_t victim = 17;
  const uint64_t start = offsets[victim], end = offsets[victim + 1];
  for (uint64_t at = start; at < end; at += (at < start + kFragmentHeaderSize ? 1 : 37)) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x80}}) {
      WriteFile(path_, clean);
      Poke(at, flip);
      const Read read = ReadAll();
      ASSERT_EQ(read.damage.size(), 1u) << "byte " << at - start << " flip " << int{flip};
      EXPECT_EQ(read.damage[0].first, start) << read.damage[0].second;
      std::vector<std::string> want = records;
      want.erase(want.begin() + victim);
      std::vector<uint64_t> want_offsets = offsets;
      want_offsets.erase(want_offsets.begin() + victim);
      ASSERT_EQ(read.records.size(), want.size()) << "byte " << at - start;
      EXPECT_TRUE(read.records == want) << "byte " << at - start;
      EXPECT_EQ(read.offsets, want_offsets) << "byte " << at - start;
      EXPECT_TRUE(read.sealed);
    }
  }
}

TEST_F(SegmentFormat, AFlippedByteInTheFirstFragmentOfASpanningRecordResumesAtTheNextRecord) {
  Write("before");
  const uint64_t big = Write(Record("big", 3 * kBlockSize));
  const uint64_t after = Write("after");
  Write("later");
  Seal();
  Poke(big + kFragmentHeaderSize + 1000);  // in its FIRST fragment, in the first block
  const Read read = ReadAll();
  EXPECT_EQ(read.records, (std::vector<std::string>{"before", "after", "later"}));
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(big, std::string("bad checksum")));
  ASSERT_EQ(read.offsets.size(), 3u);
  EXPECT_EQ(read.offsets[1], after);
  EXPECT_TRUE(read.sealed);
  EXPECT_EQ(read.sealed_records, 4u);
}

TEST_F(SegmentFormat, AFlippedLengthInTheFirstFragmentOfASpanningRecordLosesOnlyThatRecord) {
  Write("before");
  const uint64_t big = Write(Record("big", 2 * kBlockSize));
  Write("after");
  Poke(big + 4, 0x20);  // shorter: the checksum no longer holds, and the framing is off
  const Read read = ReadAll();
  EXPECT_EQ(read.records, (std::vector<std::string>{"before", "after"}));
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(big, std::string("bad checksum")));
}
TEST_F(SegmentFormat, ShortenedLengthIsCaughtByTheChecksum) {
  Write("first");
  const uint64_t second = Write("second");
  Poke(second + 4, 0x02);  // 6 -> 4
  const Read read = ReadAll();
  EXPECT_EQ(read.records, std::vector<std::string>{"first"});
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0].second, "bad checksum");
}

TEST_F(SegmentFormat, DamageInsideASpanningRecordLosesOnlyThatRecord) {
  Write("before");
  const uint64_t big = Write(Record("big", 3 * kBlockSize));
  Write("after");
  Poke(kSegmentHeaderSize + kBlockSize + 100);  // in its second fragment
  const Read read = ReadAll();
  EXPECT_EQ(read.records, (std::vector<std::string>{"before", "after"}));
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(kSegmentHeaderSize + kBlockSize, std::string("bad checksum")));
  EXPECT_LT(big, kSegmentHeaderSize + kBlockSize);
}

// Writes one fragment by hand at the end of the file.
void WriteFragment(const std::string& path, uint8_t type, const std::string& data) {
  std::string f;
  const uint32_t crc = crc32c::Mask(crc32c::Extend(crc32c::Value(&type, 1), data.data(), data.size()));
  for (int i = 0; i < 4; ++i) f.push_back(static_cast<char>(crc >> (8 * i)));
  f.push_back(static_cast<char>(data.size()));
  f.push_back(static_cast<char>(data.size() >> 8));
  f.push_back(static_cast<char>(type));
  testing::AppendFile(path, f + data);
}

TEST_F(SegmentFormat, FragmentWithoutItsFirstIsDamage) {
  Write("foo");
  const uint64_t orphan = writer_->size();
  WriteFragment(path_, static_cast<uint8_t>(FragmentType::kLast), "tail");
  WriteFragment(path_, static_cast<uint8_t>(FragmentType::kFull), "bar");
  const Read read = ReadAll();
  EXPECT_EQ(read.records, (std::vector<std::string>{"foo", "bar"}));
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(orphan, std::string("fragment without its first")));
}

TEST_F(SegmentFormat, RecordWithoutItsLastIsDamage) {
  const uint64_t first = writer_->size();
  WriteFragment(path_, static_cast<uint8_t>(FragmentType::kFirst), "head");
  WriteFragment(path_, static_cast<uint8_t>(FragmentType::kFull), "bar");
  const Read read = ReadAll();
  EXPECT_EQ(read.records, std::vector<std::string>{"bar"});
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(first, std::string("record without its last fragment")));
}

TEST_F(SegmentFormat, UnknownFragmentTypeIsDamage) {
  WriteFragment(path_, 9, "what");
  WriteFragment(path_, static_cast<uint8_t>(FragmentType::kFull), "bar");
  const Read read = ReadAll();
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0].second, "unknown fragment type 9");
  // Its checksum held, so the framing after it is trusted.
  EXPECT_EQ(read.records, std::vector<std::string>{"bar"});
}

TEST_F(SegmentFormat, ReaderSeesRecordsAppendedAfterItReachedTheEnd) {
  const int fd = ::open(path_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  int damage = 0;
  SegmentReader reader(fd, kSegmentHeaderSize, [&](uint64_t, std::string_view) { ++damage; });
  std::string record;
  uint64_t offset = 0;
  EXPECT_FALSE(reader.Read(&record, &offset));
  Write("one");
  ASSERT_TRUE(reader.Read(&record, &offset));
  EXPECT_EQ(record, "one");
  EXPECT_FALSE(reader.Read(&record, &offset));
  const std::string big = Record("two", 2 * kBlockSize);
  Write(big);
  ASSERT_TRUE(reader.Read(&record, &offset));
  EXPECT_EQ(record, big);
  EXPECT_EQ(damage, 0);
  ::close(fd);
}

TEST_F(SegmentFormat, ReadErrorIsDamageReportedOnce) {
  const int fd = ::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY);  // pread: EISDIR
  ASSERT_GE(fd, 0);
  std::vector<std::string> damage;
  SegmentReader reader(fd, kSegmentHeaderSize,
                       [&](uint64_t, std::string_view reason) { damage.emplace_back(reason); });
  std::string record;
  uint64_t offset = 0;
  EXPECT_FALSE(reader.Read(&record, &offset));
  EXPECT_FALSE(reader.Read(&record, &offset));
  EXPECT_EQ(damage, std::vector<std::string>{"read error: Is a directory"});
  ::close(fd);
}

TEST_F(SegmentFormat, OversizedRecordIsRefused) {
  uint64_t offset = 0;
  std::string error;
  EXPECT_FALSE(writer_->Append(std::string(kMaxRecordBytes + 1, 'x'), &offset, &error));
  EXPECT_NE(error.find("over the limit"), std::string::npos) << error;
  EXPECT_EQ(writer_->size(), kSegmentHeaderSize);
}

TEST_F(SegmentFormat, FailedWriteIsCutBackSoTheSegmentStaysClean) {
  Write("before");
  const uint64_t size = writer_->size();
  // RLIMIT_FSIZE makes write(2) stop part way and then fail with EFBIG: a
  // real partial write, on any file system, without root.
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limited = old;
  limited.rlim_cur = size + 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  uint64_t offset = 0;
  std::string error;
  const bool ok = writer_->Append(Record("big", 5000), &offset, &error);
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_FALSE(ok);
  EXPECT_EQ(error, "File too large");
  EXPECT_FALSE(writer_->broken());
  EXPECT_EQ(writer_->size(), size);
  EXPECT_EQ(FileSize(path_), size);
  Write("after");
  const Read read = ReadAll();
  EXPECT_EQ(read.records, (std::vector<std::string>{"before", "after"}));
  EXPECT_TRUE(read.damage.empty());
}

TEST_F(SegmentFormat, SyncIsTrueAndTracksWhatIsDirty) {
  std::string error;
  EXPECT_TRUE(writer_->dirty());  // the header
  EXPECT_TRUE(writer_->Sync(&error)) << error;
  EXPECT_FALSE(writer_->dirty());
  Write("foo");
  EXPECT_TRUE(writer_->dirty());
  EXPECT_TRUE(writer_->Sync(&error)) << error;
  EXPECT_FALSE(writer_->dirty());
}

// --- The seal ---

TEST_F(SegmentFormat, ASealIsTheLastFragmentAndCountsTheRecords) {
  Write("foo");
  Write(Record("big", 2 * kBlockSize));
  const uint64_t before = writer_->size();
  Seal();
  EXPECT_TRUE(writer_->sealed());
  EXPECT_EQ(writer_->size() - before, SealSize(before));
  EXPECT_EQ(FileSize(path_), writer_->size());
  const Read read = ReadAll();
  EXPECT_EQ(read.records.size(), 2u);
  EXPECT_TRUE(read.damage.empty());
  EXPECT_TRUE(read.sealed);
  EXPECT_EQ(read.sealed_records, 2u);

  uint64_t offset = 0;
  std::string error;
  EXPECT_FALSE(writer_->Append("more", &offset, &error));
  EXPECT_EQ(error, "segment sealed");
  EXPECT_TRUE(writer_->Seal(&error));  // twice: nothing more is written
  EXPECT_EQ(FileSize(path_), writer_->size());
}

TEST_F(SegmentFormat, AnEmptySegmentCanBeSealed) {
  Seal();
  const Read read = ReadAll();
  EXPECT_TRUE(read.records.empty());
  EXPECT_TRUE(read.damage.empty());
  EXPECT_TRUE(read.sealed);
  EXPECT_EQ(read.sealed_records, 0u);
}

TEST_F(SegmentFormat, ABlockTailTooShortForTheSealIsZeroFilled) {
  // Leaves from 0 to 16 bytes in the first block: the seal needs 15.
  for (size_t tail = 0; tail <= kSealBytes + 1; ++tail) {
    ::unlink(path_.c_str());
    std::string error;
    writer_ = SegmentWriter::Create(path_, &error);
    ASSERT_TRUE(writer_) << error;
    Write(Record("a", kBlockSize - kFragmentHeaderSize - tail));
    ASSERT_EQ(writer_->size(), kSegmentHeaderSize + kBlockSize - tail);
    Seal();
    const uint64_t block_end = kSegmentHeaderSize + kBlockSize;
    EXPECT_EQ(writer_->size(), tail < kSealBytes ? block_end + kSealBytes : block_end - tail + kSealBytes) << tail;
    const Read read = ReadAll();
    EXPECT_EQ(read.records.size(), 1u) << tail;
    EXPECT_TRUE(read.damage.empty()) << tail << ": " << read.damage[0].second;
    EXPECT_TRUE(read.sealed) << tail;
  }
}

TEST_F(SegmentFormat, ZerosBeforeSomethingOtherThanASealAreDamage) {
  Write(Record("a", kBlockSize - kFragmentHeaderSize - 10));  // a 10-byte tail, as before a seal
  testing::AppendFile(path_, std::string(10, '\0'));
  WriteFragment(path_, static_cast<uint8_t>(FragmentType::kFull), "bar");
  const Read read = ReadAll();
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(kSegmentHeaderSize + kBlockSize - 10, std::string("bad checksum")));
  EXPECT_EQ(read.records.size(), 2u);  // found again after the zeros
}

TEST_F(SegmentFormat, AnythingAfterTheSealIsDamage) {
  Write("foo");
  Seal();
  const uint64_t end = writer_->size();
  WriteFragment(path_, static_cast<uint8_t>(FragmentType::kFull), "bar");
  const Read read = ReadAll();
  EXPECT_EQ(read.records, std::vector<std::string>{"foo"});
  EXPECT_TRUE(read.sealed);
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(end, std::string("data after the seal")));
}

TEST_F(SegmentFormat, ASealWhoseCountDiffersFromWhatWasReadIsDamage) {
  WriteFragment(path_, static_cast<uint8_t>(FragmentType::kFull), "foo");
  const uint64_t seal = FileSize(path_);
  std::string count(8, '\0');
  count[0] = 2;
  WriteFragment(path_, static_cast<uint8_t>(FragmentType::kSeal), count);
  const Read read = ReadAll();
  EXPECT_EQ(read.records, std::vector<std::string>{"foo"});
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(seal, std::string("the seal counts 2 records, 1 were read")));
}

TEST_F(SegmentFormat, ASealedSegmentHasNoTornTail) {
  // A length made longer, in the last block, points past the end of the
  // file: in an unsealed segment that is what a torn record looks like, but
  // a seal at the end says the file is whole, so it is damage, and what
  // follows it is read.
  Write("first");
  const uint64_t second = Write("second");
  Write("third");
  Seal();
  Poke(second + 5, 0x01);  // 6 + 256: still inside the block, past the end of the file
  const Read read = ReadAll();
  EXPECT_EQ(read.records, (std::vector<std::string>{"first", "third"}));
  ASSERT_EQ(read.damage.size(), 1u);
  EXPECT_EQ(read.damage[0], std::make_pair(second, std::string("bad length")));
  EXPECT_TRUE(read.sealed);
}

TEST_F(SegmentFormat, UnsealedTheSameDamageIsTakenForATornTail) {
  Write("first");
  const uint64_t second = Write("second");
  Write("third");
  Poke(second + 5, 0x01);
  const Read read = ReadAll();
  EXPECT_EQ(read.records, std::vector<std::string>{"first"});  // the price of not knowing
  EXPECT_TRUE(read.damage.empty());
  EXPECT_FALSE(read.sealed);
  EXPECT_EQ(read.end, second);
}

TEST_F(SegmentFormat, EndIsAfterTheLastWholeRecord) {
  Write("foo");
  const uint64_t second = Write(Record("big", 2 * kBlockSize));
  Truncate(second + kBlockSize);  // its FIRST and some of the rest
  EXPECT_EQ(ReadAll().end, second);
}

TEST_F(SegmentFormat, ReopenCutsATornTailAndSeals) {
  Write("foo");
  Write("bar");
  const uint64_t end = writer_->size();
  writer_.reset();  // a crash: no seal
  testing::AppendFile(path_, std::string("\x12\x34\x56\x78\x10\x00\x01partial", 14));  // a torn record
  Read read = ReadAll();
  EXPECT_EQ(read.records.size(), 2u);
  EXPECT_TRUE(read.damage.empty());
  EXPECT_FALSE(read.sealed);
  ASSERT_EQ(read.end, end);

  std::string error;
  auto writer = SegmentWriter::Reopen(path_, read.end, read.records.size(), &error);
  ASSERT_TRUE(writer) << error;
  ASSERT_TRUE(writer->Seal(&error)) << error;
  EXPECT_TRUE(writer->dirty());
  EXPECT_TRUE(writer->Sync(&error)) << error;
  EXPECT_EQ(FileSize(path_), end + kSealBytes);
  read = ReadAll();
  EXPECT_EQ(read.records, (std::vector<std::string>{"foo", "bar"}));
  EXPECT_TRUE(read.damage.empty());
  EXPECT_TRUE(read.sealed);
  EXPECT_EQ(read.sealed_records, 2u);
}

TEST_F(SegmentFormat, ReopenOfAMissingFileFails) {
  std::string error;
  EXPECT_EQ(SegmentWriter::Reopen(dir_ / "nothing.seg", kSegmentHeaderSize, 0, &error), nullptr);
  EXPECT_EQ(error, "No such file or directory");
}

TEST_F(SegmentFormat, AReaderLookingForARecordStartGoesOnWhenMoreIsWritten) {
  Write("foo");
  const uint64_t junk = writer_->size();
  testing::AppendFile(path_, "junk that is not a fragment");
  const int fd = ::open(path_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::vector<std::pair<uint64_t, std::string>> damage;
  SegmentReader reader(fd, kSegmentHeaderSize,
                       [&](uint64_t offset, std::string_view reason) { damage.emplace_back(offset, reason); });
  std::string record;
  uint64_t offset = 0;
  ASSERT_TRUE(reader.Read(&record, &offset));
  EXPECT_FALSE(reader.Read(&record, &offset));
  // A whole header of an unknown type is no torn write of the writer's.
  ASSERT_EQ(damage.size(), 1u);
  EXPECT_EQ(damage[0], std::make_pair(junk, std::string("unknown fragment type 104")));
  const uint64_t bar = FileSize(path_);
  WriteFragment(path_, static_cast<uint8_t>(FragmentType::kFull), "bar");
  ASSERT_TRUE(reader.Read(&record, &offset));
  EXPECT_EQ(record, "bar");
  EXPECT_EQ(offset, bar);
  EXPECT_EQ(damage.size(), 1u);  // the same piece of damage, not a second one
  ::close(fd);
}

TEST_F(SegmentFormat, RandomFlipsNeverCrashAndNeverMakeUpARecord) {
  std::vector<std::string> records;
  std::mt19937 rng(11);
  for (int i = 0; i < 60; ++i) {
    const size_t n = i % 7 == 0 ? kBlockSize + rng() % (2 * kBlockSize) : rng() % 3000;
    records.push_back(Record("r" + std::to_string(i) + ".", n));
    Write(records.back());
  }
  Seal();
  const std::string clean = ReadFile(path_);
  for (int round = 0; round < 300; ++round) {
    std::string bytes = clean;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) {
      const size_t at = kSegmentHeaderSize + rng() % (bytes.size() - kSegmentHeaderSize);
      bytes[at] = static_cast<char>(bytes[at] ^ (1 + rng() % 255));
    }
    if (round % 5 == 0) bytes.resize(kSegmentHeaderSize + rng() % (bytes.size() - kSegmentHeaderSize));
    WriteFile(path_, bytes);
    const Read read = ReadAll();
    // What comes back is some of what was written, in order, at rising offsets.
    size_t next = 0;
    for (size_t i = 0; i < read.records.size(); ++i) {
      while (next < records.size() && records[next] != read.records[i]) ++next;
      ASSERT_LT(next, records.size()) << "round " << round << ": a record that was never written";
      ++next;
      if (i > 0) {
        ASSERT_GT(read.offsets[i], read.offsets[i - 1]);
      }
    }
    if (read.records.size() < records.size() && round % 5 != 0) {
      EXPECT_FALSE(read.damage.empty()) << "round " << round << ": records lost without a word";
    }
  }
}

TEST_F(SegmentFormat, RandomBytesAfterAGoodHeaderNeverCrashTheReader) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::string bytes = SegmentHeader();
    const size_t n = rng() % (3 * kBlockSize);
    for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>(rng() % 4 == 0 ? rng() : 0));
    WriteFile(path_, bytes);
    ReadAll();
  }
}

}  // namespace
}  // namespace tailtrack
