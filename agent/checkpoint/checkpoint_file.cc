#include "checkpoint/checkpoint_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <tuple>

namespace tailtrack {
namespace {

constexpr char kMagic[8] = {'T', 'T', 'C', 'K', 'P', 'T', '\r', '\n'};
constexpr size_t kHeaderSize = sizeof(kMagic) + 4 + 4;
constexpr size_t kCrcSize = 4;
// An entry with two empty strings: two lengths, six u64 and one u32.
constexpr size_t kMinEntrySize = 4 + 4 + 6 * 8 + 4;

uint32_t Crc(std::string_view bytes) {
  // zlib's crc32 takes a uInt length; the file could in principle be larger.
  uLong crc = crc32(0L, Z_NULL, 0);
  while (!bytes.empty()) {
    const uInt n = static_cast<uInt>(std::min<size_t>(bytes.size(), 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), n);
    bytes.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Reads from a span whose size is known; every getter checks before reading.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  size_t pos() const { return pos_; }
  size_t left() const { return bytes_.size() - pos_; }

  bool U32(uint32_t* v) {
    if (left() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= static_cast<uint32_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    pos_ += 4;
    return true;
  }
  bool U64(uint64_t* v) {
    if (left() < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return true;
  }
  void Skip(size_t n) { pos_ += std::min(n, left()); }
  bool Bytes(size_t n, std::string* s) {
    if (left() < n) return false;
    s->assign(bytes_.data() + pos_, n);
    pos_ += n;
    return true;
  }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

std::string Errno(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::string EncodeCheckpoints(const std::vector<CheckpointEntry>& entries) {
  std::string out;
  size_t size = kHeaderSize + kCrcSize;
  for (const auto& e : entries) size += kMinEntrySize + e.source.size() + e.path.size();
  out.reserve(size);
  out.append(kMagic, sizeof(kMagic));
  PutU32(out, kCheckpointVersion);
  PutU32(out, static_cast<uint32_t>(entries.size()));
  for (const auto& e : entries) {
    PutString(out, e.source);
    PutString(out, e.path);
    PutU64(out, e.dev);
    PutU64(out, e.ino);
    PutU64(out, e.file_id);
    PutU64(out, e.fingerprint);
    PutU32(out, e.fingerprint_len);
    PutU64(out, e.offset);
    PutU64(out, static_cast<uint64_t>(e.updated_ms));
  }
  PutU32(out, Crc(out));
  return out;
}

bool ParseCheckpoints(std::string_view bytes, std::vector<CheckpointEntry>* out, std::string* error) {
  out->clear();
  auto fail = [&](std::string reason) {
    out->clear();
    *error = std::move(reason);
    return false;
  };
  if (bytes.size() < sizeof(kMagic)) {
    return fail("truncated: " + std::to_string(bytes.size()) + " bytes, shorter than the magic");
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return fail("bad magic: not a tailtrack checkpoint file");
  if (bytes.size() < kHeaderSize + kCrcSize) {
    return fail("truncated: " + std::to_string(bytes.size()) + " bytes, shorter than the header and checksum");
  }
  Reader r(bytes.substr(0, bytes.size() - kCrcSize));
  Reader crc_reader(bytes.substr(bytes.size() - kCrcSize));
  uint32_t version = 0, count = 0, crc = 0;
  r.Skip(sizeof(kMagic));
  r.U32(&version);
  r.U32(&count);
  crc_reader.U32(&crc);
  if (version != kCheckpointVersion) {
    return fail("unknown version " + std::to_string(version) + " (this agent reads version " +
                std::to_string(kCheckpointVersion) + ")");
  }
  if (count > kMaxCheckpointEntries) {
    return fail("entry count " + std::to_string(count) + " is more than " + std::to_string(kMaxCheckpointEntries));
  }
  // Before any allocation: the count must fit in the bytes there are.
  if (static_cast<uint64_t>(count) * kMinEntrySize > r.left()) {
    return fail("truncated: " + std::to_string(count) + " entries cannot fit in " + std::to_string(bytes.size()) +
                " bytes");
  }
  out->reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    CheckpointEntry e;
    auto at = [&] { return "entry " + std::to_string(i) + " of " + std::to_string(count); };
    for (std::string* s : {&e.source, &e.path}) {
      uint32_t len = 0;
      if (!r.U32(&len)) return fail("truncated in " + at());
      if (len > kMaxCheckpointString) {
        return fail(at() + ": string of " + std::to_string(len) + " bytes, more than " +
                    std::to_string(kMaxCheckpointString));
      }
      if (!r.Bytes(len, s)) return fail("truncated in " + at());
    }
    uint64_t updated = 0;
    if (!r.U64(&e.dev) || !r.U64(&e.ino) || !r.U64(&e.file_id) || !r.U64(&e.fingerprint) ||
        !r.U32(&e.fingerprint_len) || !r.U64(&e.offset) || !r.U64(&updated)) {
      return fail("truncated in " + at());
    }
    e.updated_ms = static_cast<int64_t>(updated);
    out->push_back(std::move(e));
  }
  if (r.left() != 0) {
    return fail(std::to_string(r.left()) + " bytes of trailing garbage after " + std::to_string(count) + " entries");
  }
  const uint32_t want = Crc(bytes.substr(0, bytes.size() - kCrcSize));
  if (crc != want) {
    char reason[96];
    std::snprintf(reason, sizeof(reason), "checksum mismatch (stored %08x, computed %08x)", crc, want);
    return fail(reason);
  }
  return true;
}

// A new name (a rename, a file created) is durable once its directory is synced.
static bool SyncDirectoryOf(const std::string& path, std::string* error) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    *error = Errno(dir, "cannot open the directory to fsync it");
    return false;
  }
  const bool synced = ::fsync(dfd) == 0;
  if (!synced) *error = Errno(dir, "cannot fsync the directory");
  ::close(dfd);
  return synced;
}

// The bytes of PATH; a missing file reads as none, with *missing set.
static bool ReadAll(const std::string& path, std::string* bytes, bool* missing, std::string* error) {
  bytes->clear();
  *missing = false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *missing = errno == ENOENT;
    if (*missing) return true;
    *error = Errno(path, "cannot open");
    return false;
  }
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = Errno(path, "cannot read");
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    bytes->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

bool LoadCheckpoints(const std::string& path, std::vector<CheckpointEntry>* out, std::string* error) {
  out->clear();
  std::string bytes;
  bool missing = false;
  if (!ReadAll(path, &bytes, &missing, error)) return false;
  if (missing) return true;
  std::string reason;
  if (!ParseCheckpoints(bytes, out, &reason)) {
    *error = path + ": " + reason;
    return false;
  }
  return true;
}

// Whether ParseCheckpoints could read `entries` back; else a one-line *error.
static bool WithinBounds(const std::string& path, const std::vector<CheckpointEntry>& entries, std::string* error) {
  if (entries.size() > kMaxCheckpointEntries) {
    *error = path + ": " + std::to_string(entries.size()) + " entries, more than " +
             std::to_string(kMaxCheckpointEntries);
    return false;
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const CheckpointEntry& e = entries[i];
    if (e.source.size() > kMaxCheckpointString || e.path.size() > kMaxCheckpointString) {
      *error = path + ": entry " + std::to_string(i) + " (source " + e.source.substr(0, 64) + ") has a " +
               (e.path.size() > kMaxCheckpointString ? "path" : "source name") + " longer than " +
               std::to_string(kMaxCheckpointString) + " bytes; nothing written";
      return false;
    }
  }
  return true;
}

bool SaveCheckpoints(const std::string& path, const std::vector<CheckpointEntry>& entries, std::string* error) {
  if (!WithinBounds(path, entries, error)) return false;
  const std::string bytes = EncodeCheckpoints(entries);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = Errno(tmp, "cannot open");
    return false;
  }
  std::string failed;
  if (!WriteAll(fd, bytes)) {
    failed = Errno(tmp, "cannot write");
  } else if (::fsync(fd) != 0) {
    failed = Errno(tmp, "cannot fsync");
  }
  if (::close(fd) != 0 && failed.empty()) failed = Errno(tmp, "cannot close");  // NFS may report write errors here
  if (failed.empty() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    failed = Errno(tmp, ("cannot rename to " + path).c_str());
  }
  if (!failed.empty()) {
    *error = std::move(failed);
    ::unlink(tmp.c_str());
    return false;
  }
  // The rename is durable only once the directory is.
  return SyncDirectoryOf(path, error);
}

std::string EncodeCheckpointRecord(const std::vector<CheckpointEntry>& entries) {
  const std::string blob = EncodeCheckpoints(entries);
  std::string record;
  PutU32(record, static_cast<uint32_t>(blob.size()));
  return record + blob;
}

bool AppendCheckpointRecord(const std::string& path, const std::vector<CheckpointEntry>& entries,
                            std::string* error) {
  if (!WithinBounds(path, entries, error)) return false;
  const std::string record = EncodeCheckpointRecord(entries);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = Errno(path, "cannot open");
    return false;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    *error = Errno(path, "cannot stat");
    ::close(fd);
    return false;
  }
  const bool created = st.st_size == 0;
  std::string failed;
  if (!WriteAll(fd, record)) {
    failed = Errno(path, "cannot write");
  } else if (::fdatasync(fd) != 0) {
    failed = Errno(path, "cannot fsync");
  }
  // A record cut short (a full disk) would hide every record appended after it.
  if (!failed.empty()) (void)::ftruncate(fd, st.st_size);
  if (::close(fd) != 0 && failed.empty()) failed = Errno(path, "cannot close");
  if (!failed.empty()) {
    *error = std::move(failed);
    return false;
  }
  return !created || SyncDirectoryOf(path, error);
}

bool LoadCheckpointRecords(const std::string& path, std::vector<CheckpointEntry>* out, std::string* error) {
  out->clear();
  std::string bytes;
  bool missing = false;
  if (!ReadAll(path, &bytes, &missing, error)) return false;
  const size_t whole = ParseCheckpointRecords(bytes, out);
  // Records appended after a torn one would never be read: cut it off.
  if (whole < bytes.size() && ::truncate(path.c_str(), static_cast<off_t>(whole)) != 0) {
    *error = Errno(path, "cannot cut off a torn record");
    return false;
  }
  return true;
}

size_t ParseCheckpointRecords(std::string_view bytes, std::vector<CheckpointEntry>* out) {
  out->clear();
  Reader r(bytes);
  uint32_t len = 0;
  std::vector<CheckpointEntry> record;
  std::string ignored;
  size_t whole = 0;
  // A record cut by a crash (and anything after it) is not one.
  while (r.U32(&len) && len <= r.left() && ParseCheckpoints(bytes.substr(r.pos(), len), &record, &ignored)) {
    r.Skip(len);
    whole = r.pos();
    out->insert(out->end(), std::make_move_iterator(record.begin()), std::make_move_iterator(record.end()));
  }
  return whole;
}

void MergeNewer(std::vector<CheckpointEntry>* entries, const std::vector<CheckpointEntry>& newer) {
  // One file: source, device and inode, or source and file_id without an inode.
  using Key = std::tuple<std::string, uint64_t, uint64_t, uint64_t>;
  auto key = [](const CheckpointEntry& e) { return Key{e.source, e.dev, e.ino, e.ino == 0 ? e.file_id : 0}; };
  std::map<Key, size_t> at;
  for (size_t i = 0; i < entries->size(); ++i) at[key((*entries)[i])] = i;
  for (const CheckpointEntry& n : newer) {
    auto [it, added] = at.emplace(key(n), entries->size());
    if (added) {
      entries->push_back(n);
    } else {
      (*entries)[it->second] = n;
    }
  }
}

std::string SetAsideCheckpoints(const std::string& path) {
  const std::string base = path + ".damaged-" + std::to_string(static_cast<long long>(std::time(nullptr)));
  std::string name = base;
  struct stat st;
  // The state lock is held, so no one else creates names here between the check and the rename.
  for (int n = 1; ::lstat(name.c_str(), &st) == 0; ++n) name = base + "." + std::to_string(n);
  if (::rename(path.c_str(), name.c_str()) != 0) return "";
  return name;
}

}  // namespace tailtrack
