// A spool segment file: a header, then records framed as in leveldb's log,
// then, once the segment is closed, a seal.
//
//   header   magic "TTSPOOL\0", u32 version (1), u32 masked CRC32C of the
//            twelve bytes before it; 16 bytes
//   blocks   32 KiB each, counted from the end of the header. A record is
//            cut into fragments so that no fragment crosses a block:
//            u32 masked CRC32C of (type, data), u16 data length, u8 type
//            (FULL, or FIRST MIDDLE... LAST), then the data. A block tail
//            shorter than a fragment header is zero-filled.
//   seal     the last fragment of a closed segment: type SEAL, data the
//            number of records in the segment (u64). When the block tail is
//            too short for it (under kSealBytes) the tail is zero-filled and
//            the seal starts the next block.
//
// All integers are fixed-width little-endian. A reader that meets a bad
// checksum or a bad length (the length itself may be what is damaged) looks
// forward byte by byte for the next fragment whose header is plausible and
// whose checksum holds and that starts a record, and goes on from there.
//
// A segment is appended to only by the process that created it, and sealed
// when that process closes it (rollover, shutdown). A segment left unsealed by
// a process that died is cut back to its last whole record and sealed by the
// next one (Spool::Open); nothing else is ever appended to an old segment. So
// a segment without its seal is either the one being written or one that was
// cut short.
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

enum class FragmentType : uint8_t { kFull = 1, kFirst = 2, kMiddle = 3, kLast = 4, kSeal = 5 };
// A seal fragment: a header and a u64 record count.
inline constexpr size_t kSealBytes = kFragmentHeaderSize + 8;

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
// Appends the seal of a segment holding `records` records, to be written at
// `offset` (after any zero fill it needs).
void FrameSeal(uint64_t records, uint64_t offset, std::string* out);
// The number of bytes FrameSeal would append.
uint64_t SealSize(uint64_t offset);

// Appends records to a new segment file. One owner, one thread.
class SegmentWriter {
 public:
  // Creates `path` (0600; fails if it exists) and writes the header. Null and
  // *error (the errno text) on failure, and no file is left behind.
  static std::unique_ptr<SegmentWriter> Create(const std::string& path, std::string* error);
  // Opens an existing, unsealed segment to seal it: cuts it to `size` (the
  // end of its last whole record, as SegmentReader::end() says) and goes on
  // counting from `records`. Null and *error on failure.
  static std::unique_ptr<SegmentWriter> Reopen(const std::string& path, uint64_t size, uint64_t records,
                                               std::string* error);
  ~SegmentWriter();  // closes without sealing or syncing
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Appends one record (at most kMaxRecordBytes) and sets *offset to where it
  // starts. On a write error (ENOSPC, EIO, EFBIG...) the file is cut back to
  // its size before the call and false is returned with *error; if even that
  // fails, broken() turns true and nothing more may be appended.
  bool Append(std::string_view record, uint64_t* offset, std::string* error);
  // Appends the seal (the count of records appended); nothing may be
  // appended after it. A second call does nothing. A write error is handled
  // as in Append: the segment stays unsealed.
  bool Seal(std::string* error);
  // fdatasync when something was appended since the last successful Sync.
  bool Sync(std::string* error);

  uint64_t size() const { return size_; }
  uint64_t records() const { return records_; }
  bool sealed() const { return sealed_; }
  bool dirty() const { return size_ != synced_size_; }
  bool broken() const { return broken_; }
  const std::string& path() const { return path_; }

 private:
  SegmentWriter(std::string path, int fd);
  // Writes scratch_ at size_; on failure cuts the file back to size_.
  bool WriteScratch(std::string* error);

  std::string path_;
  int fd_;
  uint64_t size_ = 0;
  uint64_t synced_size_ = 0;
  uint64_t records_ = 0;
  bool sealed_ = false;
  bool broken_ = false;
  std::string scratch_;
};

// Reads the records of a segment, one block in memory at a time.
//
// A torn tail (a fragment, or a record's later fragments, cut off by the end
// of the file, or zeros to the end) is the end, not damage, unless the file
// ends in a seal or the cut fragment's type is not one the writer writes.
//
// A bad checksum or a bad length is damage: it is reported once, and the
// reader looks forward from the next byte (through the block and into the
// next ones) for a fragment that starts a record (FULL or FIRST) or is the
// seal, whose header is plausible (a known type, a length that fits its
// block) and whose checksum holds; a false match is about one chance in 2^32
// per plausible position. Fragments passed on the way (the rest of a damaged
// record) are part of the same damage. A fragment whose checksum holds but
// that is out of place (a MIDDLE or LAST without its FIRST, an unknown type)
// and a record whose last fragment is missing are damage too; so is anything
// after the seal, and (for a reader that started at the first record) a seal
// whose count differs from the records read when nothing else was found
// wrong. Nothing throws.
class SegmentReader {
 public:
  // Called for each piece of damage, with the file offset where it starts and
  // a short reason ("bad checksum").
  using DamageFn = std::function<void(uint64_t offset, std::string_view reason)>;

  // Reads the segment open on `fd` (borrowed; must outlive the reader) from
  // `offset`, a record boundary (kSegmentHeaderSize for the first record).
  SegmentReader(int fd, uint64_t offset, DamageFn on_damage);

  // The next whole record, and the file offset it starts at. False at the end
  // of what the file holds now, or after the seal; a later call returns
  // records appended since. A read error is reported as damage once and the
  // reader stays at the end.
  bool Read(std::string* record, uint64_t* offset);

  // What the reads so far found.
  uint64_t records() const { return records_; }  // whole records returned
  // The offset just past the last whole record returned (the start offset
  // when none was): where an unsealed segment is cut back before its seal.
  uint64_t end() const { return end_; }
  bool sealed() const { return sealed_; }
  uint64_t sealed_records() const { return sealed_records_; }  // the count in the seal

 private:
  // Makes the file's bytes [pos, pos + n) available in buf_; false when the
  // file ends first. [pos, pos + n) must lie in one block.
  bool Fill(uint64_t pos, size_t n);
  const char* At(uint64_t pos) const { return buf_.get() + (pos - buf_off_); }
  bool ZerosToEnd(uint64_t pos);
  // A zero-filled block tail too short for a seal, with a seal after it.
  bool SealPaddingAt(uint64_t pos);
  // The file ends in a whole seal fragment that starts at or after `pos`.
  bool EndsInSealAfter(uint64_t pos);
  // After damage: moves pos_ to the next fragment, from pos_ on, that starts a
  // record or is the seal, and whose checksum holds. False when the file ends
  // first; pos_ is then where the search goes on once more is written.
  bool Resync();
  void Damage(uint64_t offset, std::string_view reason);

  int fd_;
  uint64_t pos_;  // the next fragment, or where Resync goes on
  DamageFn on_damage_;
  std::unique_ptr<char[]> buf_;
  uint64_t buf_off_ = 0;  // the file offset of buf_[0]
  size_t buf_len_ = 0;
  bool buf_at_eof_ = false;  // the read that filled buf_ met the end of the file
  bool resyncing_ = false;  // after damage: looking for a record start from pos_
  bool failed_ = false;     // a read error: stay at the end
  bool done_ = false;       // the seal was read: nothing more comes
  bool damaged_ = false;    // some damage was reported
  bool from_start_;         // reading from the first record: the seal's count can be checked
  bool sealed_ = false;
  uint64_t sealed_records_ = 0;
  uint64_t records_ = 0;
  uint64_t end_;
};

}  // namespace tailtrack
