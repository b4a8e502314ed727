#include "spool/segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "spool/crc32c.h"

namespace tailtrack {
namespace {

void PutFixed16(std::string* out, uint16_t v) {
  const char b[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
  out->append(b, 2);
}

void PutFixed32(std::string* out, uint32_t v) {
  const char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 24)};
  out->append(b, 4);
}

uint16_t GetFixed16(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}

uint32_t GetFixed32(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return uint32_t{u[0]} | (uint32_t{u[1]} << 8) | (uint32_t{u[2]} << 16) | (uint32_t{u[3]} << 24);
}

uint64_t GetFixed64(const char* p) { return uint64_t{GetFixed32(p)} | (uint64_t{GetFixed32(p + 4)} << 32); }

// The end of the block that holds file offset `pos`.
uint64_t BlockEnd(uint64_t pos) {
  return kSegmentHeaderSize + ((pos - kSegmentHeaderSize) / kBlockSize + 1) * kBlockSize;
}

uint32_t FragmentCrc(uint8_t type, const char* data, size_t n) {
  return crc32c::Mask(crc32c::Extend(crc32c::Value(&type, 1), data, n));
}

// The fragment header at `header` checks against its data.
bool CrcHolds(const char* header) {
  const auto type = static_cast<uint8_t>(header[6]);
  return crc32c::Unmask(GetFixed32(header)) ==
         crc32c::Extend(crc32c::Value(&type, 1), header + kFragmentHeaderSize, GetFixed16(header + 4));
}

// A fragment header that the writer could have written at a position with
// `left` bytes to the end of its block (at least kFragmentHeaderSize): a
// known type, and a length that fits. FIRST and MIDDLE fill their block.
bool Plausible(uint8_t type, uint16_t length, uint64_t left) {
  const uint64_t room = left - kFragmentHeaderSize;
  switch (static_cast<FragmentType>(type)) {
    case FragmentType::kFull:
    case FragmentType::kLast: return length <= room;
    case FragmentType::kFirst:
    case FragmentType::kMiddle: return length == room;
    case FragmentType::kSeal: return length == kSealBytes - kFragmentHeaderSize && length <= room;
  }
  return false;
}

}  // namespace

std::string SegmentName(uint64_t seq) { return fmt::format("{:020}.seg", seq); }

std::optional<uint64_t> ParseSegmentName(std::string_view name) {
  if (name.size() != 24 || name.substr(20) != ".seg") return std::nullopt;
  uint64_t seq = 0;
  for (char c : name.substr(0, 20)) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (seq > (UINT64_MAX - digit) / 10) return std::nullopt;
    seq = seq * 10 + digit;
  }
  return seq;
}

std::string SegmentHeader() {
  std::string header(kSegmentMagic, sizeof kSegmentMagic);
  PutFixed32(&header, kSegmentVersion);
  PutFixed32(&header, crc32c::Mask(crc32c::Value(header.data(), header.size())));
  return header;
}

std::string CheckSegmentHeader(std::string_view header) {
  if (header.size() < kSegmentHeaderSize) return "torn header";
  if (header.substr(0, sizeof kSegmentMagic) != std::string_view(kSegmentMagic, sizeof kSegmentMagic)) {
    return "bad magic";
  }
  if (crc32c::Unmask(GetFixed32(header.data() + 12)) != crc32c::Value(header.data(), 12)) {
    return "bad header checksum";
  }
  const uint32_t version = GetFixed32(header.data() + 8);
  if (version != kSegmentVersion) return fmt::format("unknown version {}", version);
  return "";
}

void FrameRecord(std::string_view record, uint64_t offset, std::string* out) {
  bool first = true;
  while (true) {
    const uint64_t left = BlockEnd(offset) - offset;
    if (left < kFragmentHeaderSize) {
      out->append(left, '\0');
      offset += left;
      continue;
    }
    const size_t n = std::min<uint64_t>(left - kFragmentHeaderSize, record.size());
    const bool last = n == record.size();
    const FragmentType type = first && last ? FragmentType::kFull
                              : first       ? FragmentType::kFirst
                              : last        ? FragmentType::kLast
                                            : FragmentType::kMiddle;
    const auto t = static_cast<uint8_t>(type);
    PutFixed32(out, FragmentCrc(t, record.data(), n));
    PutFixed16(out, static_cast<uint16_t>(n));
    out->push_back(static_cast<char>(t));
    out->append(record.data(), n);
    offset += kFragmentHeaderSize + n;
    record.remove_prefix(n);
    first = false;
    if (last) return;
  }
}

uint64_t FramedSize(size_t record_bytes, uint64_t offset) {
  const uint64_t start = offset;
  while (true) {
    const uint64_t left = BlockEnd(offset) - offset;
    if (left < kFragmentHeaderSize) {
      offset += left;
      continue;
    }
    const uint64_t n = std::min<uint64_t>(left - kFragmentHeaderSize, record_bytes);
    offset += kFragmentHeaderSize + n;
    record_bytes -= n;
    if (record_bytes == 0) return offset - start;
  }
}

void FrameSeal(uint64_t records, uint64_t offset, std::string* out) {
  const uint64_t left = BlockEnd(offset) - offset;
  if (left < kSealBytes) out->append(left, '\0');
  std::string count;
  PutFixed32(&count, static_cast<uint32_t>(records));
  PutFixed32(&count, static_cast<uint32_t>(records >> 32));
  const auto t = static_cast<uint8_t>(FragmentType::kSeal);
  PutFixed32(out, FragmentCrc(t, count.data(), count.size()));
  PutFixed16(out, static_cast<uint16_t>(count.size()));
  out->push_back(static_cast<char>(t));
  out->append(count);
}

uint64_t SealSize(uint64_t offset) {
  const uint64_t left = BlockEnd(offset) - offset;
  return (left < kSealBytes ? left : 0) + kSealBytes;
}

// SegmentWriter

namespace {

bool WriteAll(int fd, const char* data, size_t n, uint64_t offset) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (w == 0) {  // not expected from a regular file; do not spin
      errno = EIO;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return true;
}

}  // namespace

SegmentWriter::SegmentWriter(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

SegmentWriter::~SegmentWriter() { ::close(fd_); }

std::unique_ptr<SegmentWriter> SegmentWriter::Create(const std::string& path, std::string* error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = std::strerror(errno);
    return nullptr;
  }
  const std::string header = SegmentHeader();
  if (!WriteAll(fd, header.data(), header.size(), 0)) {
    *error = std::strerror(errno);
    ::close(fd);
    ::unlink(path.c_str());
    return nullptr;
  }
  std::unique_ptr<SegmentWriter> writer(new SegmentWriter(path, fd));
  writer->size_ = header.size();
  return writer;
}

std::unique_ptr<SegmentWriter> SegmentWriter::Reopen(const std::string& path, uint64_t size, uint64_t records,
                                                     std::string* error) {
  if (size < kSegmentHeaderSize) {
    *error = fmt::format("cannot cut a segment to {} bytes, inside its header", size);
    return nullptr;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::strerror(errno);
    return nullptr;
  }
  int rc;
  do rc = ::ftruncate(fd, static_cast<off_t>(size));
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    *error = std::strerror(errno);
    ::close(fd);
    return nullptr;
  }
  std::unique_ptr<SegmentWriter> writer(new SegmentWriter(path, fd));
  writer->size_ = size;
  writer->records_ = records;
  return writer;  // dirty: the cut is not synced
}

bool SegmentWriter::WriteScratch(std::string* error) {
  if (WriteAll(fd_, scratch_.data(), scratch_.size(), size_)) return true;
  *error = std::strerror(errno);
  // A partial record left in place would sit before the next one and read
  // as damage; cut it off so that the segment stays clean.
  while (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    if (errno == EINTR) continue;
    broken_ = true;
    break;
  }
  return false;
}

bool SegmentWriter::Append(std::string_view record, uint64_t* offset, std::string* error) {
  if (broken_) {
    *error = "segment abandoned after a failed write";
    return false;
  }
  if (sealed_) {
    *error = "segment sealed";
    return false;
  }
  if (record.size() > kMaxRecordBytes) {
    *error = fmt::format("record of {} bytes is over the limit of {}", record.size(), kMaxRecordBytes);
    return false;
  }
  scratch_.clear();
  FrameRecord(record, size_, &scratch_);
  if (!WriteScratch(error)) return false;
  // The record starts after any zero fill that FrameRecord put first.
  const uint64_t left = BlockEnd(size_) - size_;
  *offset = left < kFragmentHeaderSize ? size_ + left : size_;
  size_ += scratch_.size();
  ++records_;
  return true;
}

bool SegmentWriter::Seal(std::string* error) {
  if (sealed_) return true;
  if (broken_) {
    *error = "segment abandoned after a failed write";
    return false;
  }
  scratch_.clear();
  FrameSeal(records_, size_, &scratch_);
  if (!WriteScratch(error)) return false;
  size_ += scratch_.size();
  sealed_ = true;
  return true;
}

bool SegmentWriter::Sync(std::string* error) {
  if (!dirty()) return true;
  if (::fdatasync(fd_) != 0) {
    *error = std::strerror(errno);
    return false;
  }
  synced_size_ = size_;
  return true;
}

// SegmentReader

SegmentReader::SegmentReader(int fd, uint64_t offset, DamageFn on_damage)
    : fd_(fd), pos_(std::max<uint64_t>(offset, kSegmentHeaderSize)), on_damage_(std::move(on_damage)),
      buf_(new char[kBlockSize]), from_start_(pos_ == kSegmentHeaderSize), end_(pos_) {}

void SegmentReader::Damage(uint64_t offset, std::string_view reason) {
  damaged_ = true;
  if (on_damage_) on_damage_(offset, reason);
}

bool SegmentReader::Fill(uint64_t pos, size_t n) {
  if (failed_) return false;
  if (pos >= buf_off_ && pos + n <= buf_off_ + buf_len_) return true;
  const size_t want = BlockEnd(pos) - pos;
  size_t got = 0;
  while (got < want) {
    const ssize_t r = ::pread(fd_, buf_.get() + got, want - got, static_cast<off_t>(pos + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      Damage(pos + got, fmt::format("read error: {}", std::strerror(errno)));
      failed_ = true;
      buf_len_ = 0;
      return false;
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  buf_off_ = pos;
  buf_len_ = got;
  buf_at_eof_ = got < want;
  return got >= n;
}

bool SegmentReader::ZerosToEnd(uint64_t pos) {
  while (Fill(pos, 1)) {
    const char* p = At(pos);
    const size_t n = buf_off_ + buf_len_ - pos;
    if (std::any_of(p, p + n, [](char c) { return c != 0; })) return false;
    pos += n;
  }
  return !failed_;
}

bool SegmentReader::SealPaddingAt(uint64_t pos) {
  const uint64_t block_end = BlockEnd(pos);
  const size_t left = block_end - pos;
  if (left >= kSealBytes || !Fill(pos, left)) return false;
  const char* p = At(pos);
  if (std::any_of(p, p + left, [](char c) { return c != 0; })) return false;
  return Fill(block_end, kFragmentHeaderSize) &&
         static_cast<uint8_t>(At(block_end)[6]) == static_cast<uint8_t>(FragmentType::kSeal);
}

bool SegmentReader::EndsInSealAfter(uint64_t pos) {
  if (failed_) return false;
  struct stat st;
  if (::fstat(fd_, &st) != 0) return false;
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < pos + kSealBytes) return false;
  const uint64_t seal = size - kSealBytes;
  if (BlockEnd(seal) - seal < kSealBytes) return false;  // a seal never crosses a block
  char header[kSealBytes];
  if (::pread(fd_, header, kSealBytes, static_cast<off_t>(seal)) != static_cast<ssize_t>(kSealBytes)) return false;
  return static_cast<uint8_t>(header[6]) == static_cast<uint8_t>(FragmentType::kSeal) &&
         GetFixed16(header + 4) == kSealBytes - kFragmentHeaderSize && CrcHolds(header);
}

bool SegmentReader::Resync() {
  // Candidates whose data runs past the end of the file cannot be checked
  // yet; the search goes on past them (the file may hold a record after
  // them, which would make them false), and comes back to the first of them
  // when nothing is found, in case the rest of it is still to be written.
  uint64_t unchecked = UINT64_MAX;
  uint64_t q = pos_;
  while (true) {
    const uint64_t block_end = BlockEnd(q);
    const uint64_t left = block_end - q;
    if (left < kFragmentHeaderSize) {
      q = block_end;
      continue;
    }
    if (!Fill(q, kFragmentHeaderSize)) {
      pos_ = std::min(unchecked, q);
      return false;
    }
    const char* header = At(q);
    const auto type = static_cast<uint8_t>(header[6]);
    const uint16_t length = GetFixed16(header + 4);
    if (!Plausible(type, length, left)) {
      ++q;
      continue;
    }
    // (When the buffer already ends where the file did, reading again would
    // only find that out again.)
    const bool past_end = buf_at_eof_ && q + kFragmentHeaderSize + length > buf_off_ + buf_len_;
    if (past_end || !Fill(q, kFragmentHeaderSize + length)) {
      if (failed_) return false;
      unchecked = std::min(unchecked, q);
      ++q;
      continue;
    }
    if (!CrcHolds(At(q))) {
      ++q;
      continue;
    }
    const auto t = static_cast<FragmentType>(type);
    if (t == FragmentType::kMiddle || t == FragmentType::kLast) {
      // A sound fragment of a record whose start was lost: its framing can
      // be trusted, so the search goes on after it.
      q += kFragmentHeaderSize + length;
      continue;
    }
    pos_ = q;
    resyncing_ = false;
    return true;
  }
}

bool SegmentReader::Read(std::string* record, uint64_t* offset) {
  record->clear();
  bool in_record = false;
  uint64_t record_start = 0;
  // Damage at `at`: whatever record was being assembled goes with it, and
  // reading goes on at the next record start found from `from` on.
  auto skip = [&](uint64_t at, std::string_view reason, uint64_t from) {
    Damage(at, reason);
    in_record = false;
    record->clear();
    resyncing_ = true;
    pos_ = from;
  };
  while (!failed_ && !done_) {
    if (resyncing_ && !Resync()) break;
    const uint64_t block_end = BlockEnd(pos_);
    if (block_end - pos_ < kFragmentHeaderSize) {
      // Zero fill, present only once the writer has gone on to the next block.
      if (!Fill(block_end - 1, 1)) break;
      pos_ = block_end;
      continue;
    }
    if (!Fill(pos_, kFragmentHeaderSize)) break;  // torn: a header cut by the end of the file
    const char* header = At(pos_);
    const uint32_t masked = GetFixed32(header);
    const uint16_t length = GetFixed16(header + 4);
    const uint8_t type = static_cast<uint8_t>(header[6]);
    if (masked == 0 && length == 0 && type == 0) {
      // A file extended but never written (a crash before the data reached
      // the disk) ends in zeros: a torn tail like any other.
      if (ZerosToEnd(pos_)) break;
      // A block tail too short for the seal is zero-filled before it.
      if (SealPaddingAt(pos_)) {
        pos_ = block_end;
        continue;
      }
      if (failed_) break;
      if (!Fill(pos_, kFragmentHeaderSize)) break;
      header = At(pos_);
    }
    if (length > block_end - pos_ - kFragmentHeaderSize) {
      skip(pos_, "bad length", pos_ + 1);
      continue;
    }
    if (!Fill(pos_, kFragmentHeaderSize + length)) {
      if (failed_) break;
      // The data did not all reach the file: torn, unless the header is not
      // one the writer writes, or the file ends in a seal (when the length is
      // what is wrong).
      if (type < static_cast<uint8_t>(FragmentType::kFull) || type > static_cast<uint8_t>(FragmentType::kSeal)) {
        skip(pos_, fmt::format("unknown fragment type {}", type), pos_ + 1);
        continue;
      }
      if (EndsInSealAfter(pos_ + 1)) {
        skip(pos_, "bad length", pos_ + 1);
        continue;
      }
      break;
    }
    header = At(pos_);
    const char* data = header + kFragmentHeaderSize;
    if (!CrcHolds(header)) {
      skip(pos_, "bad checksum", pos_ + 1);
      continue;
    }
    const uint64_t fragment = pos_;
    pos_ += kFragmentHeaderSize + length;
    switch (static_cast<FragmentType>(type)) {
      case FragmentType::kFull:
      case FragmentType::kFirst:
        if (in_record) Damage(record_start, "record without its last fragment");
        record->assign(data, length);
        if (static_cast<FragmentType>(type) == FragmentType::kFull) {
          *offset = fragment;
          ++records_;
          end_ = pos_;
          return true;
        }
        in_record = true;
        record_start = fragment;
        break;
      case FragmentType::kMiddle:
      case FragmentType::kLast:
        if (!in_record) {
          // Its checksum holds, so its framing does: the search for the next
          // record starts after it.
          skip(fragment, "fragment without its first", pos_);
          break;
        }
        if (record->size() + length > kMaxRecordBytes) {
          skip(record_start, "record too large", pos_);
          break;
        }
        record->append(data, length);
        if (static_cast<FragmentType>(type) == FragmentType::kLast) {
          *offset = record_start;
          ++records_;
          end_ = pos_;
          return true;
        }
        break;
      case FragmentType::kSeal:
        if (in_record) {
          Damage(record_start, "record without its last fragment");
          in_record = false;
          record->clear();
        }
        if (length != kSealBytes - kFragmentHeaderSize) {
          Damage(fragment, fmt::format("seal of {} bytes", length));
          break;
        }
        done_ = true;
        sealed_ = true;
        sealed_records_ = GetFixed64(data);
        // Lost records that were not seen as damage: a piece cut out whole.
        if (from_start_ && sealed_records_ != records_ && !damaged_) {
          Damage(fragment, fmt::format("the seal counts {} records, {} were read", sealed_records_, records_));
        }
        if (Fill(pos_, 1)) Damage(pos_, "data after the seal");
        break;
      default:
        // Its checksum holds, so the framing after it is trusted.
        Damage(fragment, fmt::format("unknown fragment type {}", type));
        in_record = false;
        record->clear();
        break;
    }
  }
  // The end of the file cut a record: start from it again next time, in case
  // the rest is still to come.
  if (in_record) pos_ = record_start;
  record->clear();
  return false;
}

}  // namespace tailtrack
