// The spool through real files: append, hand out, ack, reopen, limits, damage.
#include "spool/spool.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>

#include "checkpoint/state_lock.h"
#include "core/clock.h"
#include "spool/batch_record.h"
#include "spool/crc32c.h"
#include "test_util.h"

namespace tailtrack {
namespace {

using testing::Child;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

// A sealed batch of `events` events "TAG-0", "TAG-1"..., each padded with
// `pad` bytes, `age_ms` old.
std::unique_ptr<Batch> MakeBatch(const std::string& tag, size_t events = 3, size_t pad = 0, int64_t age_ms = 0) {
  auto batch = std::make_unique<Batch>();
  for (size_t i = 0; i < events; ++i) {
    batch->Append(fmt::format(R"({{"messageId":"{}-{}","pad":"{}"}})", tag, i, std::string(pad, 'x')),
                  static_cast<uint32_t>(i % 2));
  }
  batch->Seal();
  batch->origins.push_back(BatchOrigin{1, 77, 100, 200});
  batch->origins.push_back(BatchOrigin{2, 0xfedcba9876543210ull, 1ull << 40, (1ull << 40) + 5});
  batch->created_ms = MonotonicMillis() - age_ms;
  return batch;
}

// The TAG of a batch made by MakeBatch.
std::string TagOf(const Batch& batch) {
  const std::string_view first = batch.event(0);
  const size_t begin = first.find(":\"") + 2;
  return std::string(first.substr(begin, first.find('-') - begin));
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

void Poke(const std::string& path, uint64_t offset) {
  std::string bytes = ReadFile(path);
  ASSERT_LT(offset, bytes.size());
  bytes[offset] ^= 0x20;
  WriteFile(path, bytes);
}

TEST(BatchRecord, RoundTripsEveryPart) {
  const auto batch = MakeBatch("a", 4);
  std::string record;
  EncodeBatchRecord(*batch, 1234567890123, &record);
  EXPECT_EQ(record[0], 1);  // the version comes first
  int64_t created = 0;
  const auto back = DecodeBatchRecord(std::string(record), &created);
  ASSERT_TRUE(back);
  EXPECT_EQ(created, 1234567890123);
  EXPECT_EQ(back->body(), batch->body());
  EXPECT_EQ(back->ends(), batch->ends());
  EXPECT_EQ(back->sources(), batch->sources());
  ASSERT_EQ(back->origins.size(), batch->origins.size());
  EXPECT_EQ(back->origins[1].file_id, batch->origins[1].file_id);
}

TEST(BatchRecord, EveryCutOrChangedLengthIsRefused) {
  std::string record;
  EncodeBatchRecord(*MakeBatch("a", 2), 1, &record);
  int64_t created = 0;
  for (size_t n = 0; n < record.size(); ++n) {
    EXPECT_EQ(DecodeBatchRecord(record.substr(0, n), &created), nullptr) << n;
  }
  EXPECT_EQ(DecodeBatchRecord(record + "x", &created), nullptr);
  for (size_t field : {size_t{9}, size_t{13}, size_t{17}}) {  // event count, origin count, body length
    std::string changed = record;
    changed[field] = static_cast<char>(changed[field] + 1);
    EXPECT_EQ(DecodeBatchRecord(std::move(changed), &created), nullptr) << field;
  }
  std::string version = record;
  version[0] = 2;
  EXPECT_EQ(DecodeBatchRecord(std::move(version), &created), nullptr);
  std::string end = record;
  end[21] = static_cast<char>(end[21] + 1);  // the first event's end no longer falls before a ','
  EXPECT_EQ(DecodeBatchRecord(std::move(end), &created), nullptr);
}

class SpoolTest : public ::testing::Test {
 protected:
  SpoolOptions Options(uint64_t max_bytes = 1ull << 30, WhenFull when_full = WhenFull::kDropOldest,
                       uint64_t segment_bytes = 8ull << 20) {
    return SpoolOptions{dir_ / "spool", max_bytes, when_full, false, segment_bytes};
  }

  std::unique_ptr<Spool> Open(const SpoolOptions& options) {
    std::string error;
    auto spool = Spool::Open(options, &error);
    EXPECT_TRUE(spool) << error;
    return spool;
  }

  // The names in the spool directory, sorted.
  std::vector<std::string> Files() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_ / "spool", ec)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string Segment(uint64_t seq) { return dir_ / "spool/" + SegmentName(seq); }

  // Hands out everything unread; acks it when `ack`. The tags, in order.
  std::vector<std::string> Drain(Spool& spool, bool ack = true) {
    std::vector<std::string> tags;
    SpoolRef ref;
    while (auto batch = spool.Next(&ref)) {
      tags.push_back(TagOf(*batch));
      if (ack) spool.Ack(ref);
    }
    return tags;
  }

  void Append(Spool& spool, const std::string& tag, size_t pad = 0) {
    EXPECT_EQ(spool.Append(*MakeBatch(tag, 3, pad)), Spool::AppendResult::kOk) << tag;
  }

  TempDir dir_;
};

// One record of MakeBatch(tag, 3, 300) is a little over 1000 bytes: a
// segment of 1500 bytes holds two.
constexpr size_t kPad = 300;
constexpr uint64_t kTwoPerSegment = 1500;
constexpr uint64_t kOnePerSegment = 1;

TEST_F(SpoolTest, AppendedBatchesComeBackOldestFirstAndWhole) {
  auto spool = Open(Options());
  const auto a = MakeBatch("a", 3, 0, 5000);
  ASSERT_EQ(spool->Append(*a), Spool::AppendResult::kOk);
  Append(*spool, "b");
  EXPECT_TRUE(spool->has_unread());

  SpoolRef ref;
  auto back = spool->Next(&ref);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->body(), a->body());
  EXPECT_EQ(back->ends(), a->ends());
  EXPECT_EQ(back->sources(), a->sources());
  ASSERT_EQ(back->origins.size(), 2u);
  EXPECT_EQ(back->origins[1].source, 2u);
  EXPECT_EQ(back->origins[1].file_id, 0xfedcba9876543210ull);
  EXPECT_EQ(back->origins[1].first_offset, 1ull << 40);
  EXPECT_EQ(back->origins[1].last_offset, (1ull << 40) + 5);
  EXPECT_NEAR(static_cast<double>(MonotonicMillis() - back->created_ms), 5000, 1000);  // its age is kept
  EXPECT_TRUE(back->from_spool);
  EXPECT_EQ(back->spool_ref.segment, ref.segment);
  EXPECT_EQ(back->spool_ref.record, ref.record);
  EXPECT_EQ(ref.record, kSegmentHeaderSize);

  ASSERT_TRUE(spool->Next(&ref));
  EXPECT_FALSE(spool->has_unread());
  EXPECT_EQ(spool->Next(&ref), nullptr);
  EXPECT_FALSE(spool->empty());  // handed out, not acked
  EXPECT_EQ(spool->stats().replayed_batches, 2u);
}

TEST_F(SpoolTest, StatsCountWhatWaitsAndWhatIsOnDisk) {
  auto spool = Open(Options());
  EXPECT_TRUE(spool->empty());
  Append(*spool, "a");
  Append(*spool, "b");
  const SpoolStats& stats = spool->stats();
  EXPECT_EQ(stats.segments, 1u);
  EXPECT_EQ(stats.batches, 2u);
  EXPECT_EQ(stats.events, 6u);
  EXPECT_EQ(stats.bytes, FileSize(Segment(1)));
  EXPECT_EQ(stats.appended_batches, 2u);

  SpoolRef ref;
  ASSERT_TRUE(spool->Next(&ref));
  spool->Ack(ref);
  EXPECT_EQ(stats.batches, 1u);
  EXPECT_EQ(stats.events, 3u);
  EXPECT_EQ(Drain(*spool), std::vector<std::string>{"b"});
  EXPECT_TRUE(spool->empty());
  EXPECT_EQ(stats.segments, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.oldest_ms, 0);
  EXPECT_TRUE(Files().empty());
}

TEST_F(SpoolTest, SegmentDeletedOnlyWhenEveryRecordAcked) {
  auto spool = Open(Options(1ull << 30, WhenFull::kDropOldest, kTwoPerSegment));
  for (const char* tag : {"a", "b", "c", "d"}) Append(*spool, tag, kPad);
  ASSERT_EQ(Files(), (std::vector<std::string>{SegmentName(1), SegmentName(2)}));

  SpoolRef a, b, c;
  ASSERT_TRUE(spool->Next(&a));
  ASSERT_TRUE(spool->Next(&b));
  ASSERT_TRUE(spool->Next(&c));
  EXPECT_EQ(a.segment, 1u);
  EXPECT_EQ(c.segment, 2u);
  spool->Ack(b);
  spool->Ack(b);  // twice: ignored
  EXPECT_EQ(Files().size(), 2u);
  EXPECT_EQ(spool->stats().batches, 3u);
  spool->Ack(a);
  EXPECT_EQ(Files(), std::vector<std::string>{SegmentName(2)});
  spool->Ack(c);  // d is not handed out yet
  EXPECT_EQ(Files(), std::vector<std::string>{SegmentName(2)});
  EXPECT_EQ(spool->stats().segments, 1u);
  EXPECT_EQ(spool->stats().batches, 1u);
}

TEST_F(SpoolTest, FullyAckedSegmentBeingWrittenIsDeletedAndTheNextAppendStartsANewOne) {
  auto spool = Open(Options());
  Append(*spool, "a");
  EXPECT_EQ(Drain(*spool), std::vector<std::string>{"a"});
  EXPECT_TRUE(Files().empty());
  Append(*spool, "b");
  EXPECT_EQ(Files(), std::vector<std::string>{SegmentName(2)});
  EXPECT_EQ(Drain(*spool), std::vector<std::string>{"b"});
}

TEST_F(SpoolTest, BatchesAppendedAfterTheReaderCaughtUpAreHandedOut) {
  auto spool = Open(Options());
  Append(*spool, "a");
  EXPECT_EQ(Drain(*spool, false), std::vector<std::string>{"a"});
  Append(*spool, "b");
  EXPECT_TRUE(spool->has_unread());
  EXPECT_EQ(Drain(*spool, false), std::vector<std::string>{"b"});
}

TEST_F(SpoolTest, UnknownAckIsIgnored) {
  auto spool = Open(Options());
  Append(*spool, "a");
  spool->Ack(SpoolRef{1, kSegmentHeaderSize});  // not handed out
  spool->Ack(SpoolRef{99, 0});
  EXPECT_EQ(spool->stats().batches, 1u);
  EXPECT_EQ(Drain(*spool), std::vector<std::string>{"a"});
}

TEST_F(SpoolTest, ReopenReplaysUnackedRecords) {
  {
    auto spool = Open(Options(1ull << 30, WhenFull::kDropOldest, kOnePerSegment));
    for (const char* tag : {"a", "b", "c", "d", "e"}) Append(*spool, tag);
    SpoolRef a, b, c;
    ASSERT_TRUE(spool->Next(&a));
    ASSERT_TRUE(spool->Next(&b));
    ASSERT_TRUE(spool->Next(&c));
    spool->Ack(a);
    spool->Ack(b);  // c was handed out and never acked
  }
  auto spool = Open(Options(1ull << 30, WhenFull::kDropOldest, kOnePerSegment));
  EXPECT_EQ(spool->stats().batches, 3u);
  EXPECT_EQ(spool->stats().events, 9u);
  EXPECT_EQ(spool->stats().segments, 3u);
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"c", "d", "e"}));
}

TEST_F(SpoolTest, ReopenNeverAppendsToAnOldSegment) {
  { Append(*Open(Options()), "a"); }
  const uint64_t size = FileSize(Segment(1));
  auto spool = Open(Options());
  Append(*spool, "b");
  EXPECT_EQ(FileSize(Segment(1)), size);
  EXPECT_EQ(Files(), (std::vector<std::string>{SegmentName(1), SegmentName(2)}));
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"a", "b"}));
}

// What InspectSpool says of segment `seq`.
SpoolSegmentReport Inspect(const std::string& dir, uint64_t seq, bool agent_running = false) {
  std::vector<SpoolSegmentReport> reports;
  std::string error;
  EXPECT_TRUE(InspectSpool(dir, &reports, &error, agent_running)) << error;
  for (SpoolSegmentReport& r : reports) {
    if (r.path == dir + "/" + SegmentName(seq)) return std::move(r);
  }
  ADD_FAILURE() << "no segment " << seq << " in " << dir;
  return {};
}

// Appends encoded batches to a new segment and leaves it unsealed, as an
// agent killed while writing it would.
void WriteUnsealed(const std::string& path, const std::vector<std::string>& tags) {
  std::string error;
  auto writer = SegmentWriter::Create(path, &error);
  ASSERT_TRUE(writer) << error;
  for (const std::string& tag : tags) {
    std::string record;
    EncodeBatchRecord(*MakeBatch(tag), WallClockMillis(), &record);
    uint64_t offset = 0;
    ASSERT_TRUE(writer->Append(record, &offset, &error)) << error;
  }
}

TEST_F(SpoolTest, SegmentsAreSealedWhenClosedAndWhenTheSpoolGoes) {
  {
    auto spool = Open(Options(1ull << 30, WhenFull::kDropOldest, kTwoPerSegment));
    for (const char* tag : {"a", "b", "c"}) Append(*spool, tag, kPad);
    EXPECT_TRUE(Inspect(dir_ / "spool", 1).sealed);   // rollover
    EXPECT_FALSE(Inspect(dir_ / "spool", 2).sealed);  // being written
    uint64_t on_disk = 0;
    for (const std::string& name : Files()) on_disk += FileSize(dir_ / "spool/" + name);
    EXPECT_EQ(spool->stats().bytes, on_disk);
  }
  const SpoolSegmentReport second = Inspect(dir_ / "spool", 2);
  EXPECT_TRUE(second.sealed);
  EXPECT_EQ(second.damaged, 0u);
  auto spool = Open(Options());
  EXPECT_EQ(spool->stats().damaged_records, 0u);
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(SpoolTest, TruncatedTrailingRecordOfTheNewestSegmentIsATornTailCutAtOpen) {
  {
    auto spool = Open(Options());
    Append(*spool, "a");
    Append(*spool, "b");
  }
  // The seal and 5 bytes of b: what an agent killed while writing b leaves.
  const uint64_t cut = FileSize(Segment(1)) - kSealBytes - 5;
  ASSERT_EQ(::truncate(Segment(1).c_str(), static_cast<off_t>(cut)), 0);
  auto spool = Open(Options());
  EXPECT_EQ(spool->stats().batches, 1u);
  EXPECT_EQ(spool->stats().damaged_records, 0u);
  // Cut back to the end of a, and sealed.
  const SpoolSegmentReport report = Inspect(dir_ / "spool", 1);
  EXPECT_TRUE(report.sealed);
  EXPECT_EQ(report.damaged, 0u);
  EXPECT_EQ(report.batches, 1u);
  EXPECT_LT(report.bytes, cut);
  EXPECT_EQ(spool->stats().bytes, report.bytes);
  EXPECT_EQ(Drain(*spool), std::vector<std::string>{"a"});
  EXPECT_EQ(spool->stats().damaged_records, 0u);
  EXPECT_TRUE(Files().empty());
}

TEST_F(SpoolTest, AnUnsealedSegmentLeftByACrashIsSealedAtOpen) {
  std::filesystem::create_directories(dir_ / "spool");
  WriteUnsealed(Segment(1), {"a", "b"});
  const uint64_t end = FileSize(Segment(1));
  testing::AppendFile(Segment(1), std::string(300, '\0'));  // extended, never written
  EXPECT_EQ(Inspect(dir_ / "spool", 1).damaged, 1u);            // no agent: cut short, or killed
  EXPECT_EQ(Inspect(dir_ / "spool", 1, true).damaged, 0u);       // an agent is writing it
  {
    auto spool = Open(Options());
    EXPECT_EQ(spool->stats().batches, 2u);
    EXPECT_EQ(spool->stats().damaged_records, 0u);
    EXPECT_EQ(FileSize(Segment(1)), end + kSealBytes);
    Append(*spool, "c");  // to a new segment
  }
  const SpoolSegmentReport report = Inspect(dir_ / "spool", 1);
  EXPECT_TRUE(report.sealed);
  EXPECT_EQ(report.damaged, 0u);
  auto spool = Open(Options());
  EXPECT_EQ(spool->stats().damaged_records, 0u);
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(SpoolTest, AnOlderSegmentCutShortIsDamage) {
  {
    auto spool = Open(Options(1ull << 30, WhenFull::kDropOldest, kTwoPerSegment));
    for (const char* tag : {"a", "b", "c"}) Append(*spool, tag, kPad);
  }
  ASSERT_EQ(::truncate(Segment(1).c_str(), static_cast<off_t>(FileSize(Segment(1)) - kSealBytes - 20)), 0);
  const SpoolSegmentReport before = Inspect(dir_ / "spool", 1, true);  // even with an agent running
  EXPECT_FALSE(before.sealed);
  ASSERT_EQ(before.damaged, 1u);
  EXPECT_NE(before.damage[0].find("not sealed: cut short, or its writer was killed; the last "), std::string::npos)
      << before.damage[0];
  EXPECT_NE(before.damage[0].find(" bytes are a torn record"), std::string::npos) << before.damage[0];

  auto spool = Open(Options());
  EXPECT_EQ(spool->stats().damaged_records, 1u);
  EXPECT_EQ(spool->stats().batches, 2u);
  EXPECT_TRUE(Inspect(dir_ / "spool", 1).sealed);  // cut back and sealed: said once
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(spool->stats().damaged_records, 1u);
}

TEST_F(SpoolTest, AnOlderSegmentThatLostOnlyItsSealIsDamageToo) {
  {
    auto spool = Open(Options(1ull << 30, WhenFull::kDropOldest, kOnePerSegment));
    for (const char* tag : {"a", "b"}) Append(*spool, tag);
  }
  ASSERT_EQ(::truncate(Segment(1).c_str(), static_cast<off_t>(FileSize(Segment(1)) - kSealBytes)), 0);
  const SpoolSegmentReport report = Inspect(dir_ / "spool", 1);
  ASSERT_EQ(report.damage.size(), 1u);
  EXPECT_NE(report.damage[0].find("it ends after its last whole record"), std::string::npos) << report.damage[0];
  auto spool = Open(Options(1ull << 30, WhenFull::kDropOldest, kOnePerSegment));
  EXPECT_EQ(spool->stats().damaged_records, 1u);
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"a", "b"}));
}

TEST_F(SpoolTest, GarbageAfterTheSealIsDamageAndEveryRecordIsKept) {
  {
    auto spool = Open(Options());
    for (const char* tag : {"a", "b"}) Append(*spool, tag);
  }
  testing::AppendFile(Segment(1), "garbage after the seal");
  EXPECT_EQ(Inspect(dir_ / "spool", 1).damaged, 1u);
  auto spool = Open(Options());
  EXPECT_EQ(spool->stats().damaged_records, 1u);
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(spool->stats().damaged_records, 1u);
}

TEST_F(SpoolTest, AHeaderOnlyNewestSegmentIsRemovedQuietly) {
  std::filesystem::create_directories(dir_ / "spool");
  WriteUnsealed(Segment(1), {"a"});
  WriteFile(Segment(2), SegmentHeader());  // the newest: created just before the crash
  auto spool = Open(Options());
  // Segment 1 is not the newest: cut short (here: never sealed) is damage.
  EXPECT_EQ(spool->stats().damaged_records, 1u);
  EXPECT_EQ(Files(), std::vector<std::string>{SegmentName(1)});
  EXPECT_EQ(Drain(*spool), std::vector<std::string>{"a"});
}

TEST_F(SpoolTest, BadChecksumIsSkippedAndCountedOnce) {
  SpoolRef b;
  {
    auto spool = Open(Options());
    Append(*spool, "a");
    Append(*spool, "b");
    Append(*spool, "c", 40'000);  // starts in the first block, ends in the second
    Append(*spool, "d");          // in the second block
    SpoolRef ref;
    spool->Next(&ref);
    spool->Next(&b);
  }
  Poke(Segment(1), b.record + kFragmentHeaderSize + 10);
  auto spool = Open(Options());
  EXPECT_EQ(spool->stats().damaged_records, 1u);
  EXPECT_EQ(spool->stats().batches, 3u);  // only b: c, in the same block, is found again
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"a", "c", "d"}));
  EXPECT_EQ(spool->stats().damaged_records, 1u);
  EXPECT_TRUE(spool->empty());
  EXPECT_TRUE(Files().empty());
}

TEST_F(SpoolTest, DamageFoundWhileReplayingIsCountedAndSkipped) {
  auto spool = Open(Options());
  Append(*spool, "a");
  Append(*spool, "b");
  Poke(Segment(1), FileSize(Segment(1)) - 3);  // inside b, on disk under the spool's feet
  SpoolRef a;
  ASSERT_TRUE(spool->Next(&a));
  SpoolRef ref;
  EXPECT_EQ(spool->Next(&ref), nullptr);
  EXPECT_FALSE(spool->has_unread());
  EXPECT_EQ(spool->stats().damaged_records, 1u);
  spool->Ack(a);
  EXPECT_TRUE(spool->empty());
  EXPECT_TRUE(Files().empty());
}

// A header whose magic and checksum are right but whose version is `version`.
std::string HeaderOfVersion(uint32_t version) {
  std::string header(kSegmentMagic, sizeof kSegmentMagic);
  for (int i = 0; i < 4; ++i) header.push_back(static_cast<char>(version >> (8 * i)));
  const uint32_t crc = crc32c::Mask(crc32c::Value(header.data(), header.size()));
  for (int i = 0; i < 4; ++i) header.push_back(static_cast<char>(crc >> (8 * i)));
  return header;
}

TEST_F(SpoolTest, UnknownVersionSegmentIsQuarantined) {
  { Append(*Open(Options()), "a"); }
  std::filesystem::create_directories(dir_ / "spool");
  WriteFile(Segment(5), HeaderOfVersion(2) + "a future layout");
  auto spool = Open(Options());
  EXPECT_EQ(spool->stats().quarantined_segments, 1u);
  EXPECT_EQ(Files(), (std::vector<std::string>{SegmentName(1), SegmentName(5) + ".quarantined"}));
  EXPECT_EQ(ReadFile(Segment(5) + ".quarantined"), HeaderOfVersion(2) + "a future layout");
  Append(*spool, "b");  // numbers are not reused
  EXPECT_EQ(Files(), (std::vector<std::string>{SegmentName(1), SegmentName(5) + ".quarantined", SegmentName(6)}));
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"a", "b"}));
}

TEST_F(SpoolTest, BadMagicAndTornHeadersAreQuarantinedAndEmptyFilesRemoved) {
  std::filesystem::create_directories(dir_ / "spool");
  WriteFile(Segment(1), "NOTASPOOLSEGMENT and more");
  WriteFile(Segment(2), SegmentHeader().substr(0, 9));
  WriteFile(Segment(3), "");                // created just before a crash
  WriteFile(Segment(4), SegmentHeader());   // no record yet
  auto spool = Open(Options());
  EXPECT_EQ(spool->stats().quarantined_segments, 2u);
  EXPECT_EQ(spool->stats().segments, 0u);
  EXPECT_TRUE(spool->empty());
  EXPECT_EQ(Files(), (std::vector<std::string>{SegmentName(1) + ".quarantined", SegmentName(2) + ".quarantined"}));
}

TEST_F(SpoolTest, DropOldestDeletesWholeSegmentsAndCounts) {
  const uint64_t max = 8 * kTwoPerSegment;
  auto spool = Open(Options(max, WhenFull::kDropOldest, kTwoPerSegment));
  for (int i = 0; i < 30; ++i) {
    Append(*spool, "b" + std::to_string(i), kPad);
    ASSERT_LE(spool->stats().bytes, max);
  }
  const SpoolStats& stats = spool->stats();
  EXPECT_GT(stats.dropped_batches, 0u);
  EXPECT_EQ(stats.dropped_batches % 2, 0u);  // whole segments of two
  EXPECT_EQ(stats.dropped_events, 3 * stats.dropped_batches);
  EXPECT_EQ(stats.dropped_batches + stats.batches, 30u);
  EXPECT_EQ(stats.refused_batches, 0u);
  const uint64_t waiting = stats.batches;
  const std::vector<std::string> left = Drain(*spool);
  ASSERT_EQ(left.size(), waiting);
  EXPECT_EQ(left.front(), "b" + std::to_string(stats.dropped_batches));
  EXPECT_EQ(left.back(), "b29");
}

TEST_F(SpoolTest, DropOldestForgetsHandedOutBatchesAndIgnoresTheirAck) {
  const uint64_t max = 8 * kTwoPerSegment;
  auto spool = Open(Options(max, WhenFull::kDropOldest, kTwoPerSegment));
  Append(*spool, "first", kPad);
  SpoolRef first;
  ASSERT_TRUE(spool->Next(&first));
  for (int i = 0; i < 20; ++i) Append(*spool, "b" + std::to_string(i), kPad);
  ASSERT_GT(spool->stats().dropped_batches, 0u);
  const SpoolStats before = spool->stats();
  spool->Ack(first);
  EXPECT_EQ(spool->stats().batches, before.batches);
  EXPECT_EQ(spool->stats().segments, before.segments);
}

TEST_F(SpoolTest, BlockRefusesWhenFull) {
  const uint64_t max = 8 * kTwoPerSegment;
  auto spool = Open(Options(max, WhenFull::kBlock, kTwoPerSegment));
  int appended = 0;
  while (spool->Append(*MakeBatch("b" + std::to_string(appended), 3, kPad)) == Spool::AppendResult::kOk) {
    ++appended;
    ASSERT_LT(appended, 100);
  }
  EXPECT_GT(appended, 5);
  EXPECT_LE(spool->stats().bytes, max);
  EXPECT_EQ(spool->stats().refused_batches, 1u);
  EXPECT_EQ(spool->stats().dropped_batches, 0u);
  EXPECT_EQ(spool->stats().batches, static_cast<uint64_t>(appended));

  // Once the oldest segment is delivered there is room again.
  SpoolRef a, b;
  ASSERT_TRUE(spool->Next(&a));
  ASSERT_TRUE(spool->Next(&b));
  spool->Ack(a);
  spool->Ack(b);
  EXPECT_EQ(spool->Append(*MakeBatch("more", 3, kPad)), Spool::AppendResult::kOk);
}

TEST_F(SpoolTest, BatchLargerThanTheWholeSpoolIsRefusedWithoutDroppingAnything) {
  auto spool = Open(Options(4000, WhenFull::kDropOldest));
  Append(*spool, "small");
  EXPECT_EQ(spool->Append(*MakeBatch("huge", 3, 5000)), Spool::AppendResult::kFull);
  EXPECT_EQ(spool->stats().refused_batches, 1u);
  EXPECT_EQ(spool->stats().dropped_batches, 0u);
  EXPECT_EQ(Drain(*spool), std::vector<std::string>{"small"});
}

TEST_F(SpoolTest, WriteErrorIsFullNotCrash) {
  auto spool = Open(Options());
  Append(*spool, "before");
  const uint64_t size = FileSize(Segment(1));
  // RLIMIT_FSIZE: write(2) writes part of the record, then fails with EFBIG.
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limited = old;
  limited.rlim_cur = size + 2000;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  const Spool::AppendResult result = spool->Append(*MakeBatch("big", 3, 5000));
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);

  EXPECT_EQ(result, Spool::AppendResult::kFull);
  EXPECT_EQ(spool->stats().refused_batches, 1u);
  EXPECT_EQ(FileSize(Segment(1)), size);  // cut back
  EXPECT_EQ(spool->stats().bytes, size);
  Append(*spool, "after");
  spool.reset();
  spool = Open(Options());
  EXPECT_EQ(spool->stats().damaged_records, 0u);
  EXPECT_EQ(Drain(*spool), (std::vector<std::string>{"before", "after"}));
}

TEST_F(SpoolTest, FullFileSystemIsFullNotCrash) {
  const std::string mount = dir_ / "small-fs";
  std::filesystem::create_directories(mount);
  if (::mount("tmpfs", mount.c_str(), "tmpfs", 0, "size=256k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount};
  std::vector<std::string> appended;
  {
    std::string error;
    auto spool = Spool::Open(SpoolOptions{mount + "/spool", 1ull << 30, WhenFull::kDropOldest, true, 64 << 10},
                             &error);
    ASSERT_TRUE(spool) << error;
    for (int i = 0; i < 200; ++i) {
      const std::string tag = "b" + std::to_string(i);
      if (spool->Append(*MakeBatch(tag, 3, 3000)) == Spool::AppendResult::kOk) appended.push_back(tag);
    }
    EXPECT_TRUE(spool->Sync());
    EXPECT_GT(spool->stats().refused_batches, 0u);  // ENOSPC
    EXPECT_GT(appended.size(), 10u);
  }
  {
    std::string error;
    auto spool = Spool::Open(SpoolOptions{mount + "/spool", 1ull << 30, WhenFull::kDropOldest, true}, &error);
    ASSERT_TRUE(spool) << error;
    EXPECT_EQ(spool->stats().damaged_records, 0u);
    std::vector<std::string> tags;
    SpoolRef ref;
    while (auto batch = spool->Next(&ref)) tags.push_back(TagOf(*batch));
    EXPECT_EQ(tags, appended);
  }
}

TEST_F(SpoolTest, OpenCreatesTheDirectoryAndSegmentsPrivately) {
  SpoolOptions options = Options();
  options.dir = dir_ / "a/b/spool";
  auto spool = Open(options);
  struct stat st;
  ASSERT_EQ(::stat(options.dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  Append(*spool, "a");
  ASSERT_EQ(::stat((options.dir + "/" + SegmentName(1)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SpoolTest, OpenFailsWhenTheDirectoryCannotBeCreated) {
  WriteFile(dir_ / "file", "");
  SpoolOptions options = Options();
  options.dir = dir_ / "file/spool";
  std::string error;
  EXPECT_EQ(Spool::Open(options, &error), nullptr);
  EXPECT_EQ(error, "spool dir " + options.dir + ": cannot create: Not a directory");
}

TEST_F(SpoolTest, SyncIsTrueAndCheapWhenNothingIsNew) {
  SpoolOptions options = Options();
  options.fsync = true;
  auto spool = Open(options);
  EXPECT_TRUE(spool->Sync());
  Append(*spool, "a");
  EXPECT_TRUE(spool->Sync());
  EXPECT_TRUE(spool->Sync());
}

TEST_F(SpoolTest, OldestIsTheCreationTimeOfTheOldestWaitingBatch) {
  auto spool = Open(Options(1ull << 30, WhenFull::kDropOldest, kOnePerSegment));
  EXPECT_EQ(spool->stats().oldest_ms, 0);
  ASSERT_EQ(spool->Append(*MakeBatch("a", 1, 0, 60'000)), Spool::AppendResult::kOk);
  ASSERT_EQ(spool->Append(*MakeBatch("b", 1, 0, 30'000)), Spool::AppendResult::kOk);
  EXPECT_NEAR(static_cast<double>(WallClockMillis() - spool->stats().oldest_ms), 60'000, 1000);
  SpoolRef a;
  ASSERT_TRUE(spool->Next(&a));
  spool->Ack(a);
  EXPECT_NEAR(static_cast<double>(WallClockMillis() - spool->stats().oldest_ms), 30'000, 1000);
  spool.reset();
  spool = Open(Options(1ull << 30, WhenFull::kDropOldest, kOnePerSegment));
  EXPECT_NEAR(static_cast<double>(WallClockMillis() - spool->stats().oldest_ms), 30'000, 1000);
}

TEST_F(SpoolTest, InspectCountsEverySegmentAndNamesDamageWithoutChangingAnything) {
  SpoolRef b;
  {
    auto spool = Open(Options(1ull << 30, WhenFull::kDropOldest, kTwoPerSegment));
    for (const char* tag : {"a", "b", "c"}) Append(*spool, tag, kPad);
    SpoolRef ref;
    spool->Next(&ref);
    spool->Next(&b);
  }
  Poke(Segment(1), b.record + 100);
  WriteFile(Segment(7), "NOTASPOOLSEGMENT");
  const std::string before1 = ReadFile(Segment(1)), before7 = ReadFile(Segment(7));

  std::vector<SpoolSegmentReport> reports;
  std::string error;
  ASSERT_TRUE(InspectSpool(dir_ / "spool", &reports, &error)) << error;
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0].path, Segment(1));
  EXPECT_EQ(reports[0].batches, 1u);
  EXPECT_EQ(reports[0].events, 3u);
  EXPECT_EQ(reports[0].bytes, before1.size());
  EXPECT_EQ(reports[0].damaged, 1u);
  EXPECT_EQ(reports[0].damage,
            std::vector<std::string>{Segment(1) + ": offset " + std::to_string(b.record) + ": bad checksum"});
  EXPECT_GT(reports[0].oldest_ms, 0);
  EXPECT_EQ(reports[1].batches, 1u);
  EXPECT_EQ(reports[1].damaged, 0u);
  EXPECT_EQ(reports[2].damage, std::vector<std::string>{Segment(7) + ": offset 0: bad magic"});

  EXPECT_EQ(ReadFile(Segment(1)), before1);
  EXPECT_EQ(ReadFile(Segment(7)), before7);
  EXPECT_EQ(Files(), (std::vector<std::string>{SegmentName(1), SegmentName(2), SegmentName(7)}));
}

TEST_F(SpoolTest, InspectReportsQuarantinedSegmentsAndAMissingDirectoryIsEmpty) {
  std::vector<SpoolSegmentReport> reports;
  std::string error;
  EXPECT_TRUE(InspectSpool(dir_ / "nowhere", &reports, &error)) << error;
  EXPECT_TRUE(reports.empty());

  std::filesystem::create_directories(dir_ / "spool");
  WriteFile(Segment(3) + ".quarantined", HeaderOfVersion(9));
  ASSERT_TRUE(InspectSpool(dir_ / "spool", &reports, &error)) << error;
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].damage,
            std::vector<std::string>{Segment(3) + ".quarantined: set aside by the agent: unknown version 9"});
}

// `tailtrack spool` on the real binary.
class SpoolCli : public ::testing::Test {
 protected:
  // No write key: the command sends nothing and does not ask for one.
  std::string WriteConfig() {
    const std::string path = dir_ / "tailtrack.yaml";
    WriteFile(path, "collector:\n"
                    "  url: http://127.0.0.1:9\n"
                    "state_dir: " + (dir_ / "state") + "\n"
                    "sources:\n"
                    "  - name: app\n"
                    "    type: file\n"
                    "    paths: [\"" + (dir_ / "*.log") + "\"]\n"
                    "rules:\n"
                    "  - name: r\n"
                    "    regex: 'x'\n"
                    "    event:\n"
                    "      type: track\n"
                    "      event: X\n"
                    "      userId: u\n");
    return path;
  }

  // Three batches of three events in one segment; the refs of the first two.
  void MakeSpool(SpoolRef* a = nullptr, SpoolRef* b = nullptr) {
    std::string error;
    auto spool = Spool::Open(SpoolOptions{dir_ / "state/spool", 1ull << 30, WhenFull::kDropOldest, true}, &error);
    ASSERT_TRUE(spool) << error;
    for (const char* tag : {"a", "b", "c"}) ASSERT_EQ(spool->Append(*MakeBatch(tag)), Spool::AppendResult::kOk);
    SpoolRef ref;
    spool->Next(a ? a : &ref);
    spool->Next(b ? b : &ref);
  }

  std::string Segment(uint64_t seq) { return dir_ / "state/spool/" + SegmentName(seq); }

  TempDir dir_;
};

TEST_F(SpoolCli, ListsWhatWaitsAndTheDeadLetters) {
  const std::string config = WriteConfig();
  MakeSpool();
  WriteFile(dir_ / "state/dead-letter.jsonl", "{\"reason\":\"400\"}\n{\"reason\":\"too big\"}\n");
  Child c({TAILTRACK_BINARY, "spool", "-c", config});
  EXPECT_EQ(c.Wait(), 0) << c.err();
  const std::string out = c.out();
  EXPECT_NE(out.find("spool " + (dir_ / "state/spool") + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find(SegmentName(1)), std::string::npos) << out;
  EXPECT_NE(out.find("total: segments 1, batches 3, events 9, "), std::string::npos) << out;
  EXPECT_NE(out.find("dead letters " + (dir_ / "state/dead-letter.jsonl") + ": 38 B, lines 2"), std::string::npos)
      << out;
  EXPECT_EQ(c.err(), "");
}

TEST_F(SpoolCli, MissingSpoolIsEmptyAndSound) {
  Child c({TAILTRACK_BINARY, "spool", "-c", WriteConfig(), "--verify"});
  EXPECT_EQ(c.Wait(), 0) << c.err();
  EXPECT_EQ(c.out(), "spool " + (dir_ / "state/spool") + ": empty\n" + "dead letters " +
                         (dir_ / "state/dead-letter.jsonl") + ": none\n" + "verify: every checksum is sound\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "state"));  // nothing created
}

TEST_F(SpoolCli, VerifyFindsAFlippedByteAndSaysWhere) {
  const std::string config = WriteConfig();
  SpoolRef b;
  MakeSpool(nullptr, &b);
  Poke(Segment(1), b.record + kFragmentHeaderSize + 3);
  const std::string before = ReadFile(Segment(1));
  Child c({TAILTRACK_BINARY, "spool", "-c", config, "--verify"});
  EXPECT_EQ(c.Wait(), 1);
  EXPECT_NE(c.out().find(Segment(1) + ": offset " + std::to_string(b.record) + ": bad checksum"), std::string::npos)
      << c.out();
  EXPECT_EQ(ReadFile(Segment(1)), before);

  Child list({TAILTRACK_BINARY, "spool", "-c", config});  // without --verify: a summary, exit 0
  EXPECT_EQ(list.Wait(), 0);
  EXPECT_NE(list.out().find("damage in 1 places (--verify lists them)"), std::string::npos) << list.out();
}

TEST_F(SpoolCli, VerifyFindsASegmentCutInsideItsHeaderAndLeavesItAlone) {
  const std::string config = WriteConfig();
  MakeSpool();
  ASSERT_EQ(::truncate(Segment(1).c_str(), 10), 0);
  Child c({TAILTRACK_BINARY, "spool", "-c", config, "--verify"});
  EXPECT_EQ(c.Wait(), 1);
  EXPECT_NE(c.out().find(Segment(1) + ": offset 0: torn header"), std::string::npos) << c.out();
  EXPECT_TRUE(std::filesystem::exists(Segment(1)));  // not quarantined: the command changes nothing
}

TEST_F(SpoolCli, VerifyFindsASegmentCutShort) {
  const std::string config = WriteConfig();
  MakeSpool();
  const uint64_t size = FileSize(Segment(1));
  ASSERT_EQ(::truncate(Segment(1).c_str(), static_cast<off_t>(size - kSealBytes - 20)), 0);
  Child c({TAILTRACK_BINARY, "spool", "-c", config, "--verify"});
  EXPECT_EQ(c.Wait(), 1) << c.out();
  EXPECT_NE(c.out().find("batches 2, events 6"), std::string::npos) << c.out();
  EXPECT_NE(c.out().find(Segment(1) + ": offset "), std::string::npos) << c.out();
  EXPECT_NE(c.out().find(": not sealed: cut short, or its writer was killed; the last "), std::string::npos)
      << c.out();
}

TEST_F(SpoolCli, TheNewestSegmentOfARunningAgentMayEndInATornRecord) {
  const std::string config = WriteConfig();
  MakeSpool();
  ASSERT_EQ(::truncate(Segment(1).c_str(), static_cast<off_t>(FileSize(Segment(1)) - kSealBytes - 20)), 0);
  std::string error;
  auto lock = StateLock::Acquire(dir_ / "state", &error);  // as a running agent holds it
  ASSERT_TRUE(lock) << error;
  Child c({TAILTRACK_BINARY, "spool", "-c", config, "--verify"});
  EXPECT_EQ(c.Wait(), 0) << c.out();
  EXPECT_NE(c.out().find("batches 2, events 6"), std::string::npos) << c.out();
  EXPECT_NE(c.out().find("verify: every checksum is sound"), std::string::npos) << c.out();
  // And the command did not keep the lock: an agent can still start.
  lock.reset();
  EXPECT_TRUE(StateLock::Acquire(dir_ / "state", &error)) << error;
}

TEST_F(SpoolCli, ConfigErrorIsOneLineAndExit78) {
  const std::string config = dir_ / "bad.yaml";
  WriteFile(config, "collector:\n  url: http://127.0.0.1:9\n  timout: 5s\n");
  Child c({TAILTRACK_BINARY, "spool", "-c", config, "--verify"});
  EXPECT_EQ(c.Wait(), 78);
  const std::string err = c.err();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_EQ(err.rfind(config + ":3:3: ", 0), 0u) << err;
  EXPECT_EQ(c.out(), "");
}

}  // namespace
}  // namespace tailtrack
