#include "spool/segment.h"

#include <fcntl.h>
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

// The end of the block that holds file offset `pos`.
uint64_t BlockEnd(uint64_t pos) {
  return kSegmentHeaderSize + ((pos - kSegmentHeaderSize) / kBlockSize + 1) * kBlockSize;
}

uint32_t FragmentCrc(uint8_t type, const char* data, size_t n) {
  return crc32c::Mask(crc32c::Extend(crc32c::Value(&type, 1), data, n));
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

bool SegmentWriter::Append(std::string_view record, uint64_t* offset, std::string* error) {
  if (broken_) {
    *error = "segment abandoned after a failed write";
    return false;
  }
  if (record.size() > kMaxRecordBytes) {
    *error = fmt::format("record of {} bytes is over the limit of {}", record.size(), kMaxRecordBytes);
    return false;
  }
  scratch_.clear();
  FrameRecord(record, size_, &scratch_);
  if (!WriteAll(fd_, scratch_.data(), scratch_.size(), size_)) {
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
  // The record starts after any zero fill that FrameRecord put first.
  const uint64_t left = BlockEnd(size_) - size_;
  *offset = left < kFragmentHeaderSize ? size_ + left : size_;
  size_ += scratch_.size();
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
      buf_(new char[kBlockSize]) {}

void SegmentReader::Damage(uint64_t offset, std::string_view reason) {
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

bool SegmentReader::Read(std::string* record, uint64_t* offset) {
  record->clear();
  bool in_record = false;
  uint64_t record_start = 0;
  while (!failed_) {
    const uint64_t block_end = BlockEnd(pos_);
    if (block_end - pos_ < kFragmentHeaderSize) {
      // Zero fill, present only once the writer has gone on to the next block.
      if (!Fill(block_end - 1, 1)) break;
      pos_ = block_end;
      continue;
    }
    if (!Fill(pos_, kFragmentHeaderSize)) break;
    const char* header = At(pos_);
    const uint32_t masked = GetFixed32(header);
    const uint16_t length = GetFixed16(header + 4);
    const uint8_t type = static_cast<uint8_t>(header[6]);
    if (masked == 0 && length == 0 && type == 0 && ZerosToEnd(pos_)) {
      // A file extended but never written (a crash before the data reached
      // the disk) ends in zeros: a torn tail like any other.
      break;
    }
    if (length > block_end - pos_ - kFragmentHeaderSize) {
      Damage(pos_, "bad length");
      in_record = false;
      resyncing_ = true;
      pos_ = block_end;
      continue;
    }
    if (!Fill(pos_, kFragmentHeaderSize + length)) break;  // torn: the data did not all reach the file
    const char* data = At(pos_) + kFragmentHeaderSize;
    if (crc32c::Unmask(masked) != crc32c::Extend(crc32c::Value(&type, 1), data, length)) {
      Damage(pos_, "bad checksum");
      in_record = false;
      resyncing_ = true;
      pos_ = block_end;
      continue;
    }
    const uint64_t fragment = pos_;
    pos_ += kFragmentHeaderSize + length;
    switch (static_cast<FragmentType>(type)) {
      case FragmentType::kFull:
      case FragmentType::kFirst:
        if (in_record) Damage(record_start, "record without its last fragment");
        resyncing_ = false;
        record->assign(data, length);
        if (static_cast<FragmentType>(type) == FragmentType::kFull) {
          *offset = fragment;
          return true;
        }
        in_record = true;
        record_start = fragment;
        break;
      case FragmentType::kMiddle:
      case FragmentType::kLast:
        if (!in_record) {
          if (!resyncing_) Damage(fragment, "fragment without its first");
          break;
        }
        if (record->size() + length > kMaxRecordBytes) {
          Damage(record_start, "record too large");
          in_record = false;
          resyncing_ = true;
          break;
        }
        record->append(data, length);
        if (static_cast<FragmentType>(type) == FragmentType::kLast) {
          *offset = record_start;
          return true;
        }
        break;
      default:
        Damage(fragment, fmt::format("unknown fragment type {}", type));
        in_record = false;
        resyncing_ = true;
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
