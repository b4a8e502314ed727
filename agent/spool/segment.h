// A spool segment file: a header, then records framed as in leveldb's log.
//
//   header   magic "TTSPOOL\0", u32 version (1), u32 masked CRC32C of the
//            twelve bytes before it; 16 bytes
//   blocks   32 KiB each, counted from the end of the header. A record is
//            cut into fragments so that no fragment crosses a block:
//            u32 masked CRC32C of (type, data), u16 data length, u8 type
//            (FULL, or FIRST MIDDLE... LAST), then the data. A block tail
//            shorter than a fragment header is zero-filled.
//
// All integers are fixed-width little-endian. Because the block boundaries are
// fixed, a reader that meets a bad checksum or a bad length (the length itself
// may be what is damaged) can skip to the next block and go on. A segment is
// only ever appended to by the process that created it: after a restart a new
// one is started, so a torn tail stays the last thing in its file.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tailtrack {

inline constexpr char kSegmentMagic[8] = {'T', 'T', 'S', 'P', 'O', 'O', 'L', '\0'};
inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 16;
inline constexpr size_t kBlockSize = 32 * 1024;
inline constexpr size_t kFragmentHeaderSize = 7;
// Larger records are refused by the writer and treated as damage by the
// reader, so that a damaged file cannot make it assemble without bound.
inline constexpr size_t kMaxRecordBytes = 64 << 20;

enum class FragmentType : uint8_t { kFull = 1, kFirst = 2, kMiddle = 3, kLast = 4 };

// "00000000000000000042.seg": names sort as their sequence numbers do.
std::string SegmentName(uint64_t seq);
// The sequence number of a segment file name; nullopt for any other name.
std::optional<uint64_t> ParseSegmentName(std::string_view name);

std::string SegmentHeader();
// Empty when `header` (the first bytes of a file, up to kSegmentHeaderSize)
// is a good version 1 header; else why not: "torn header", "bad magic",
// "bad header checksum", "unknown version N".
std::string CheckSegmentHeader(std::string_view header);

// Appends the fragments of `record` to *out, as they are to be written at file
// offset `offset` (at or after the header).
void FrameRecord(std::string_view record, uint64_t offset, std::string* out);
// The number of bytes FrameRecord would append.
uint64_t FramedSize(size_t record_bytes, uint64_t offset);

// Appends records to a new segment file. One owner, one thread.
class SegmentWriter {
 public:
  // Creates `path` (0600; fails if it exists) and writes the header. Null and
  // *error (the errno text) on failure, and no file is left behind.
  static std::unique_ptr<SegmentWriter> Create(const std::string& path, std::string* error);
  ~SegmentWriter();  // closes without syncing
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Appends one record (at most kMaxRecordBytes) and sets *offset to where it
  // starts. On a write error (ENOSPC, EIO, EFBIG...) the file is cut back to
  // its size before the call and false is returned with *error; if even that
  // fails, broken() turns true and nothing more may be appended.
  bool Append(std::string_view record, uint64_t* offset, std::string* error);
  // fdatasync when something was appended since the last successful Sync.
  bool Sync(std::string* error);

  uint64_t size() const { return size_; }
  bool dirty() const { return size_ != synced_size_; }
  bool broken() const { return broken_; }
  const std::string& path() const { return path_; }

 private:
  SegmentWriter(std::string path, int fd);

  std::string path_;
  int fd_;
  uint64_t size_ = 0;
  uint64_t synced_size_ = 0;
  bool broken_ = false;
  std::string scratch_;
};

// Reads the records of a segment, one block in memory at a time.
//
// A torn tail (a fragment, or a record's later fragments, cut off by the end
// of the file) is the end, not damage. A bad checksum, a bad length or an
// unknown fragment type is damage: it is reported and the rest of the block is
// skipped. Fragments left without their record by that skip are dropped
// quietly; a record missing a fragment for any other reason is reported.
// Nothing throws.
class SegmentReader {
 public:
  // Called for each piece of damage, with the file offset where it starts and
  // a short reason ("bad checksum").
  using DamageFn = std::function<void(uint64_t offset, std::string_view reason)>;

  // Reads the segment open on `fd` (borrowed; must outlive the reader) from
  // `offset`, a record boundary (kSegmentHeaderSize for the first record).
  SegmentReader(int fd, uint64_t offset, DamageFn on_damage);

  // The next whole record, and the file offset it starts at. False at the end
  // of what the file holds now; a later call returns records appended since.
  // A read error is reported as damage once and the reader stays at the end.
  bool Read(std::string* record, uint64_t* offset);

 private:
  // Makes the file's bytes [pos, pos + n) available in buf_; false when the
  // file ends first. [pos, pos + n) must lie in one block.
  bool Fill(uint64_t pos, size_t n);
  const char* At(uint64_t pos) const { return buf_.get() + (pos - buf_off_); }
  bool ZerosToEnd(uint64_t pos);
  void Damage(uint64_t offset, std::string_view reason);

  int fd_;
  uint64_t pos_;  // the next fragment
  DamageFn on_damage_;
  std::unique_ptr<char[]> buf_;
  uint64_t buf_off_ = 0;  // the file offset of buf_[0]
  size_t buf_len_ = 0;
  bool resyncing_ = false;  // after damage: fragments of a cut record are expected, not reported
  bool failed_ = false;     // a read error: stay at the end
};

}  // namespace tailtrack
