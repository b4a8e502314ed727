#include "source/file_source.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>

#include "checkpoint/fingerprint.h"
#include "core/clock.h"
#include "core/log.h"
#include "decode/encoding.h"
#include "source/line_framer.h"

namespace tailtrack {

struct FileSource::File {
  File(FileSource* o, std::string p, const SourceConfig& c)
      : owner(o), path(std::move(p)), framer(RawLineLimit(c), c.on_long_line, Units(c.encoding)) {}

  static LineUnits Units(Encoding e) {
    switch (e) {
      case Encoding::kUtf16Le: return LineUnits::kUtf16Le;
      case Encoding::kUtf16Be: return LineUnits::kUtf16Be;
      case Encoding::kUtf16: return LineUnits::kUtf16Bom;
      default: return LineUnits::kBytes;
    }
  }

  // Container envelopes wrap a line the runtime split (16 KiB pieces, JSON
  // escaped by docker): the raw limit leaves room for them; the joined line
  // is held to max_line_bytes by the envelope decoder.
  static uint64_t RawLineLimit(const SourceConfig& c) {
    const bool envelope = c.format == Format::kCri || c.format == Format::kDocker;
    return envelope ? c.max_line_bytes + (128 << 10) : c.max_line_bytes;
  }

  FileSource* owner;
  std::string path;
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t id = 0;
  uint64_t fingerprint = 0;      // of the first fingerprint_len bytes
  uint32_t fingerprint_len = 0;  // less than fingerprint_bytes while the file is shorter
  // The generation and first bytes the checkpoints on disk name for this
  // file (SaveIdentities): lines go out only once they name them.
  uint64_t saved_id = 0;
  uint32_t saved_fingerprint_len = 0;
  uint64_t pos = 0;        // the next byte to read
  uint64_t size = 0;       // at the last stat pass (or open): what is behind pos is the lag
  LineFramer framer;       // holds the incomplete line: the bytes just before pos
  int64_t last_growth_ms = 0;  // MonotonicMillis(): idle_flush, rotate_wait and close_idle_after are ages
  struct timespec mtime {};    // at the last stat pass: a change means the fingerprint is checked again
  bool dirty = false;      // may have unread bytes
  bool retired = false;    // read to the end, then close
  bool quiet = false;      // OnFileQuiet was called since the file last grew
  uv_fs_event_t watch;
};

namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Names logrotate and friends give compressed rotations.
bool CompressedName(const std::string& path) {
  for (const char* ext : {".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z"}) {
    if (path.size() > std::strlen(ext) && path.compare(path.size() - std::strlen(ext), std::string::npos, ext) == 0) {
      return true;
    }
  }
  return false;
}

// gzip, bzip2, xz and zstd, by their magic numbers.
const char* CompressedKind(int fd) {
  unsigned char m[6] = {};
  const ssize_t n = pread(fd, m, sizeof m, 0);
  if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) return "gzip";
  if (n >= 3 && m[0] == 'B' && m[1] == 'Z' && m[2] == 'h') return "bzip2";
  if (n >= 6 && std::memcmp(m, "\xfd" "7zXZ\0", 6) == 0) return "xz";
  if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return "zstd";
  return nullptr;
}

bool Excluded(const std::string& path, const std::vector<std::string>& exclude) {
  const char* base = std::strrchr(path.c_str(), '/');
  base = base ? base + 1 : path.c_str();
  for (const auto& pattern : exclude) {
    if (fnmatch(pattern.c_str(), path.c_str(), 0) == 0 || fnmatch(pattern.c_str(), base, 0) == 0) return true;
  }
  return false;
}

}  // namespace

uint64_t NextGeneration(uint64_t file_id) {
  const uint64_t id = Mix(file_id ^ Mix(static_cast<uint64_t>(WallClockMillis())));
  return id == 0 ? 1 : id;
}

uint64_t FileIdentity(uint64_t dev, uint64_t ino, const FileBirth* birth) {
  uint64_t id = Mix(Mix(dev) ^ ino);
  if (birth) id = Mix(id ^ Mix(static_cast<uint64_t>(birth->sec) ^ (static_cast<uint64_t>(birth->nsec) << 32)));
  return id == 0 ? 1 : id;  // 0 means "not a file"
}

// The offset of the first byte of the line that holds byte `pos - 1` of the
// open file `fd`: `pos` itself when a '\n' is just before it, 0 when none is.
static uint64_t LineStart(int fd, uint64_t pos) {
  char buf[4096];
  while (pos > 0) {
    const uint64_t begin = pos > sizeof buf ? pos - sizeof buf : 0;
    const ssize_t n = pread(fd, buf, pos - begin, static_cast<off_t>(begin));
    if (n != static_cast<ssize_t>(pos - begin)) return 0;
    for (uint64_t i = pos - begin; i > 0; --i) {
      if (buf[i - 1] == '\n') return begin + i;
    }
    pos = begin;
  }
  return 0;
}

// A file time in wall-clock milliseconds, comparable with WallClockMillis().
static int64_t Millis(const struct timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1'000'000; }

std::optional<int64_t> BirthMillis(int fd) {
  struct statx stx;
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &stx) != 0 || !(stx.stx_mask & STATX_BTIME)) return std::nullopt;
  return Millis(timespec{stx.stx_btime.tv_sec, stx.stx_btime.tv_nsec});
}

uint64_t FileIdentityOf(int fd, dev_t dev, ino_t ino) {
  struct statx stx;
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &stx) == 0 && (stx.stx_mask & STATX_BTIME)) {
    const FileBirth birth{stx.stx_btime.tv_sec, stx.stx_btime.tv_nsec};
    return FileIdentity(dev, ino, &birth);
  }
  return FileIdentity(dev, ino, nullptr);
}

FileSource::FileSource(uv_loop_t* loop, const SourceConfig& config, uint32_t index, LineSink& sink)
    : loop_(loop), config_(config), index_(index), sink_(sink) {
  uv_timer_init(loop_, &stat_timer_);
  uv_timer_init(loop_, &rescan_timer_);
  uv_idle_init(loop_, &idle_);
  stat_timer_.data = this;
  rescan_timer_.data = this;
  idle_.data = this;
  open_handles_ = 3;
}

FileSource::~FileSource() {
  // Close() and a loop run must come first: the handles live in this object.
  if (!closed()) Log(LogLevel::kError, "source {}: destroyed with open handles", config_.name);
}

template <typename Fn>
void FileSource::EachFile(Fn&& fn) {
  // fn may retire or close files: iterate over a copy.
  std::vector<File*> all;
  all.reserve(files_.size() + retired_.size());
  for (auto& [path, f] : files_) all.push_back(f);
  all.insert(all.end(), retired_.begin(), retired_.end());
  for (File* f : all) fn(f);
}

void FileSource::Start() {
  started_ = true;
  // Generations the last run saw rewritten in place, with lines it had not
  // delivered: only their copies (copytruncate's app.log.1) hold those lines.
  // Known as recent generations, their copies are recognised by the first
  // stat pass when a glob matches them; the others are looked for after it.
  const int64_t now = WallClockMillis();
  for (const CheckpointEntry& e : lost_copies_) {
    recent_.push_back(Generation{e.fingerprint, e.fingerprint_len, e.file_id, e.offset, now});
  }
  StatPass(/*initial=*/true);
  RecoverRotated();
  for (const CheckpointEntry& e : lost_copies_) {
    bool open = false;
    EachFile([&](File* f) { open = open || f->id == e.file_id; });
    const Generation g{e.fingerprint, e.fingerprint_len, e.file_id, e.offset, now};
    if (!open && !RecoverCopy(std::filesystem::path(e.path).parent_path().string(), g)) {
      Log(LogLevel::kWarn,
          "source {}: {} was rewritten (copytruncate) before the last stop, with lines from offset {} not yet "
          "delivered; no copy of it holding them was found (deleted or compressed?): they are lost",
          config_.name, e.path, e.offset);
    }
  }
  lost_copies_.clear();
  // Known files not opened yet (over max_open_files) keep their positions;
  // the next pass drops the entries of files gone for good.
  dormant_.merge(known_);
  known_.clear();
  const uint64_t every = std::max<int64_t>(config_.poll_interval.count(), 10);
  uv_timer_start(&stat_timer_, OnTimer, every, every);
}

void FileSource::Pause() { paused_ = true; }

void FileSource::Resume() {
  if (!paused_) return;
  paused_ = false;
  SchedulePump();
}

void FileSource::Close() {
  if (closing_) return;
  closing_ = true;
  EachFile([this](File* f) { CloseFile(f); });
  uv_close(reinterpret_cast<uv_handle_t*>(&stat_timer_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&rescan_timer_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), OnHandleClosed);
}

FileSourceStats FileSource::stats() const {
  FileSourceStats s = stats_;
  s.truncated_lines = closed_truncated_;
  s.skipped_lines = closed_skipped_;
  s.nul_bytes = closed_nul_bytes_;
  for (const auto& [path, f] : files_) {
    s.truncated_lines += f->framer.truncated();
    s.skipped_lines += f->framer.skipped();
    s.nul_bytes += f->framer.nul_bytes();
  }
  for (const File* f : retired_) {
    s.truncated_lines += f->framer.truncated();
    s.skipped_lines += f->framer.skipped();
    s.nul_bytes += f->framer.nul_bytes();
  }
  return s;
}

void FileSource::OnTimer(uv_timer_t* t) { static_cast<FileSource*>(t->data)->StatPass(false); }

void FileSource::OnHandleClosed(uv_handle_t* h) { --static_cast<FileSource*>(h->data)->open_handles_; }

void FileSource::OnFileClosed(uv_handle_t* h) {
  File* f = static_cast<File*>(h->data);
  --f->owner->open_handles_;
  delete f;
}

void FileSource::StatPass(bool initial) {
  if (closing_) return;
  // Truncations and rewrites first: a copytruncate's copy that Discover
  // finds below (logrotate renames app.log.1 away, copies app.log to a new
  // app.log.1, truncates app.log) is then recognised by the generation the
  // truncation starts, instead of being read as a new file.
  EachFile([&](File* f) {
    struct stat st;
    if (f->fd < 0 || fstat(f->fd, &st) != 0) return;
    CheckTruncated(f, static_cast<uint64_t>(st.st_size));
    if (st.st_mtim.tv_sec != f->mtime.tv_sec || st.st_mtim.tv_nsec != f->mtime.tv_nsec) {
      f->mtime = st.st_mtim;
      CheckFingerprint(f);
    }
  });
  Discover(initial);
  const int64_t now = MonotonicMillis();
  EachFile([&](File* f) {
    if (!f->retired) {
      struct stat at_path;
      if (::stat(f->path.c_str(), &at_path) != 0) {
        Log(LogLevel::kInfo, "source {}: {} is gone; reading what is left of it", config_.name, f->path);
        Retire(f);
      } else if (at_path.st_ino != f->ino || at_path.st_dev != f->dev) {
        Log(LogLevel::kInfo, "source {}: {} was replaced; reading the old file to its end", config_.name, f->path);
        Retire(f);
        // Replaced by another watched file (mv b.log a.log): that file is
        // already open and goes on from its offset, not from 0.
        if (File* moved = FindOpen(at_path.st_dev, at_path.st_ino)) {
          MoveTo(moved, f->path);
        } else if (!MayBeACopyBeingWritten(f->path, static_cast<uint64_t>(at_path.st_size), now)) {
          Open(f->path, /*at_end=*/false);
        }  // else the next pass's Discover opens it, once it can tell
      }
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) return;
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    f->size = size;
    CheckTruncated(f, size);
    if (f->fd >= 0 && (st.st_mtim.tv_sec != f->mtime.tv_sec || st.st_mtim.tv_nsec != f->mtime.tv_nsec)) {
      f->mtime = st.st_mtim;
      CheckFingerprint(f);
    }
    if (size > f->pos) MarkDirty(f);
    FlushIdle(f, now);
    if (f->dirty || f->framer.holds_partial()) return;
    const int64_t idle = now - f->last_growth_ms;
    if (f->retired) {
      // A rotated-away file is read until it is deleted or has been idle for
      // rotate_wait: the app may write into it until it reopens its log.
      if (st.st_nlink == 0 || idle >= config_.rotate_wait.count()) {
        // Still on disk (app.log.1): its position is kept until the agent
        // says every line of it is settled, so that a crash before then
        // finds it again (RecoverRotated) instead of losing those lines.
        if (st.st_nlink > 0) finished_[{f->dev, f->ino}] = Remember(f);
        CloseFile(f);
      }
    } else if (idle >= config_.close_idle_after.count()) {
      Log(LogLevel::kDebug, "source {}: {} idle for {} ms: closed until it grows", config_.name, f->path, idle);
      Sleep(f);
    }
  });
  KeepToBudget(0);
}

void FileSource::Sleep(File* f) {
  dormant_[{f->dev, f->ino}] = Remember(f);
  CloseFile(f);
}

// Past max_open_files (with room for `wanted` more), the files idle longest
// are closed: 10,000 matched files with 100 active must not hold 10,000
// descriptors (curl needs some).
void FileSource::KeepToBudget(size_t wanted) {
  const size_t budget = static_cast<size_t>(config_.max_open_files);
  wanted = std::min(wanted, budget / 2);  // the busiest half stays open
  if (files_.size() + retired_.size() + wanted <= budget) return;
  std::vector<File*> idle;
  for (auto& [path, f] : files_) {
    if (!f->dirty && !f->framer.holds_partial()) idle.push_back(f);
  }
  const size_t excess = files_.size() + retired_.size() + wanted - budget;
  const size_t n = std::min(excess, idle.size());
  std::partial_sort(idle.begin(), idle.begin() + static_cast<ptrdiff_t>(n), idle.end(),
                    [](const File* a, const File* b) { return a->last_growth_ms < b->last_growth_ms; });
  for (size_t i = 0; i < n; ++i) Sleep(idle[i]);
  if (wanted == 0 && n < excess && log_throttle_.Due("budget")) {
    Log(LogLevel::kWarn, "source {}: {} files are busy, more than max_open_files ({}); some stay open past it",
        config_.name, files_.size() + retired_.size(), budget);
  }
}

void FileSource::Discover(bool initial) {
  std::vector<std::string> found;  // sorted, each once
  for (const auto& pattern : config_.paths) {
    glob_t g{};
    // A directory on the way that cannot be read hides its files: said once.
    static thread_local FileSource* self;
    self = this;
    const int rc = glob(pattern.c_str(), GLOB_NOSORT,
                        [](const char* dir, int err) {
                          if (self->said_.insert("dir " + std::string(dir)).second) {
                            Log(LogLevel::kWarn, "source {}: cannot read directory {}: {}", self->config_.name, dir,
                                std::strerror(err));
                          }
                          return 0;
                        },
                        &g);
    if (rc == 0) {
      found.insert(found.end(), g.gl_pathv, g.gl_pathv + g.gl_pathc);
    }
    globfree(&g);
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  auto in_glob = [&](const std::string& path) { return std::binary_search(found.begin(), found.end(), path); };
  std::erase_if(copying_, [&](const auto& item) { return !in_glob(item.first); });
  // A path that could not be opened is warned about again only once it has
  // gone and come back, or fails otherwise: not at every stat pass.
  for (auto it = unopenable_.begin(); it != unopenable_.end();) {
    it = in_glob(it->first) ? std::next(it) : unopenable_.erase(it);
  }
  // Every path not open under its own name, stat'ed once per pass (with
  // 100,000 files the stats are half the pass), and what the pass needs of it.
  struct Other {
    const std::string* path;
    dev_t st_dev;
    ino_t st_ino;
    off_t st_size;
    mode_t st_mode;
  };
  std::vector<Other> others;
  for (const auto& path : found) {
    if (files_.count(path) || Excluded(path, config_.exclude)) continue;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) others.push_back(Other{&path, st.st_dev, st.st_ino, st.st_size, st.st_mode});
  }
  // A file renamed within the glob (app.log -> app.log.1) is the file
  // already open: it goes on from its offset under its new name.
  for (const Other& st : others) {
    const std::string& path = *st.path;
    if (!S_ISREG(st.st_mode)) continue;
    File* same = FindOpen(st.st_dev, st.st_ino);
    if (same == nullptr) continue;
    struct stat old;
    if (!same->retired && ::stat(same->path.c_str(), &old) == 0 && old.st_dev == same->dev &&
        old.st_ino == same->ino) {
      continue;  // a second name (hard link) of a file read under the first
    }
    MoveTo(same, path);
  }
  std::set<FileKey> seen;  // the dormant files still in the glob
  std::set<FileKey> seen_compressed;
  std::vector<std::string> to_open;
  for (const Other& st : others) {
    const std::string& path = *st.path;
    if (files_.count(path) || FindOpen(st.st_dev, st.st_ino)) continue;
    if (!S_ISREG(st.st_mode)) {
      // A directory the glob matches is simply not a log; a fifo, socket or
      // device is a mistake worth one line.
      if (!S_ISDIR(st.st_mode) && said_.insert("special " + path).second) {
        Log(LogLevel::kWarn, "source {}: {} is a {}, not a regular file: skipped", config_.name, path,
            S_ISFIFO(st.st_mode) ? "fifo" : S_ISSOCK(st.st_mode) ? "socket" : "device");
      }
      continue;
    }
    // A file closed for idleness opens again when its size moves.
    if (compressed_.count({st.st_dev, st.st_ino})) {
      seen_compressed.insert({st.st_dev, st.st_ino});
      continue;  // known not to be text: not opened again at every pass
    }
    auto dormant = dormant_.find({st.st_dev, st.st_ino});
    if (dormant != dormant_.end()) seen.insert(dormant->first);
    if (dormant != dormant_.end() && static_cast<uint64_t>(st.st_size) == dormant->second.offset) continue;
    to_open.push_back(path);
  }
  std::erase_if(compressed_, [&](const auto& item) { return !seen_compressed.count(item.first); });
  // A dormant file no longer in the glob may have been renamed beside it
  // (logrotate) after a last write: read what it got since.
  std::vector<FileKey> missed;
  for (const auto& [key, entry] : dormant_) {
    if (!seen.count(key) && !dormant_misses_.count(key)) missed.push_back(key);
  }
  if (!missed.empty()) RecoverMoved(dormant_, missed);
  // Dormant files no longer in the glob are gone for good once they have
  // been missed for a while: a file being renamed between the glob and its
  // stat is missed by a pass, and must not be read again from 0 when it is
  // found under its new name.
  const int64_t now = MonotonicMillis();
  const int64_t forget_after = std::max<int64_t>(kForgetAfterMs, 3 * config_.poll_interval.count());
  std::erase_if(dormant_, [&](const auto& item) {
    if (seen.count(item.first)) {
      dormant_misses_.erase(item.first);
      return false;
    }
    const int64_t since = dormant_misses_.try_emplace(item.first, now).first->second;
    if (now - since < forget_after) return false;
    dormant_misses_.erase(item.first);
    return true;
  });
  // A copy found in this pass (copytruncate's app.log.1 under app.log*) is
  // known as one only once its original is seen truncated: that is looked
  // at first, for the open files, before any new file is opened.
  if (!to_open.empty()) {
    EachFile([&](File* f) {
      struct stat st;
      if (!f->retired && fstat(f->fd, &st) == 0) CheckTruncated(f, static_cast<uint64_t>(st.st_size));
    });
  }
  // Over the descriptor budget, idle files make room; what still does not
  // fit waits for a later pass (a file present at start under start_at: end
  // is remembered at its end now).
  KeepToBudget(to_open.size());
  backlog_.clear();
  for (const auto& path : to_open) {
    // Two names of one file (a symlink and its target, hard links) in one
    // pass: the first opened is the file; the second is not read again.
    struct stat st;
    if (files_.count(path) || ::stat(path.c_str(), &st) != 0 || FindOpen(st.st_dev, st.st_ino)) continue;
    if (files_.size() + retired_.size() >= config_.max_open_files) {
      if (initial && config_.start_at == StartAt::kEnd) {
        if (File* f = Open(path, /*at_end=*/true)) Sleep(f);
      } else {
        backlog_.push_back(path);
      }
      continue;
    }
    if (!initial && MayBeACopyBeingWritten(path, static_cast<uint64_t>(st.st_size), MonotonicMillis())) continue;
    // start_at applies to files present at start; files that appear later
    // are new, and all of them is news.
    File* f = Open(path, initial && config_.start_at == StartAt::kEnd);
    if (f && f->pos == 0) Log(LogLevel::kDebug, "source {}: reading {} from its start", config_.name, path);
  }
}

void FileSource::MoveTo(File* f, const std::string& path) {
  Log(LogLevel::kInfo, "source {}: {} is now {}; reading on from offset {}", config_.name, f->path, path, f->pos);
  if (f->retired) {
    retired_.erase(std::find(retired_.begin(), retired_.end(), f));
    f->retired = false;
  } else {
    files_.erase(f->path);
  }
  f->path = path;
  files_[path] = f;
}

FileSource::File* FileSource::FindOpen(dev_t dev, ino_t ino) const {
  auto it = open_.find({dev, ino});
  return it == open_.end() ? nullptr : it->second;
}

FileSource::File* FileSource::Open(const std::string& path, bool at_end) {
  // O_NONBLOCK: a fifo put at a watched path must not block the loop in open(2).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    auto [it, fresh] = unopenable_.try_emplace(path, err);
    if (fresh || it->second != err) {
      it->second = err;
      Log(LogLevel::kWarn, "source {}: cannot open {}: {}", config_.name, path, std::strerror(err));
    }
    return nullptr;
  }
  unopenable_.erase(path);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return nullptr;
  }
  const char* kind = CompressedName(path) ? "compressed (by its name)" : CompressedKind(fd);
  if (kind != nullptr) {
    // Rotations compressed by logrotate (app.log.2.gz) match globs like
    // app.log*: their bytes are never lines.
    ::close(fd);
    if (compressed_.emplace(FileKey(st.st_dev, st.st_ino), path).second) {
      Log(LogLevel::kInfo, "source {}: {} is {} data, not text: skipped", config_.name, path, kind);
    }
    return nullptr;
  }
  auto* f = new File(this, path, config_);
  f->fd = fd;
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  // A file this source knows: from the last run, closed while idle, or
  // rotated away and read to its end.
  std::map<FileKey, CheckpointEntry>* from = nullptr;
  std::map<FileKey, CheckpointEntry>::iterator known;
  for (auto* entries : {&known_, &dormant_, &finished_}) {
    known = entries->find({st.st_dev, st.st_ino});
    if (known != entries->end()) {
      from = entries;
      break;
    }
  }
  Generation copied;
  std::optional<Generation> lost_copy;  // a generation rewritten while not open, whose copy may hold its tail
  if (from != nullptr) {
    const CheckpointEntry& entry = known->second;
    // Born after the entry was written: a new file on a recycled inode, even
    // if it begins like the old one (a fixed banner).
    const std::optional<int64_t> born = BirthMillis(fd);
    const bool same = FileBeginsWith(fd, entry.fingerprint_len, entry.fingerprint) && size >= entry.offset &&
                      !(born && *born > entry.updated_ms);
    if (same) {
      f->id = entry.file_id;
      f->pos = entry.offset;
      // Named by a checkpoint already (this run's or the last).
      f->saved_id = entry.file_id;
      f->saved_fingerprint_len = entry.fingerprint_len;
      if (from == &known_) {
        Log(LogLevel::kInfo, "source {}: {} resumes at offset {} (of {})", config_.name, path, f->pos, size);
      }
    } else {
      // Truncated, rewritten, or a recycled inode: new content, new messageIds.
      f->id = NextGeneration(entry.file_id);
      f->pos = 0;
      Log(LogLevel::kInfo, "source {}: {} changed while it was not open; reading it from the start", config_.name,
          path);
      if (entry.fingerprint_len == config_.fingerprint_bytes) {
        lost_copy = Generation{entry.fingerprint, entry.fingerprint_len, entry.file_id, entry.offset, WallClockMillis()};
      }
    }
    from->erase(known);
  } else if (CopyOf(fd, size, &copied)) {
    // copytruncate's copy of a file already read: it goes on where the
    // original stopped, under the original's identity, so that nothing is
    // read twice and the lines the original had not reached are not lost.
    f->id = copied.file_id;
    f->pos = std::min(copied.offset, size);
    // A copy still being written (logrotate copies, then truncates) may end
    // inside a line: start at that line's beginning, where the original has
    // the same bytes at the same offset (so the same messageIds), never at a
    // torn fragment.
    if (f->pos < copied.offset) f->pos = LineStart(fd, f->pos);
    Log(LogLevel::kInfo, "source {}: {} is a copy of a file already read (copytruncate); reading it from offset {}",
        config_.name, path, f->pos);
  } else {
    f->id = FileIdentityOf(fd, st.st_dev, st.st_ino);
    // start_at: end is for history the agent never saw running. A new file
    // at a path the last run was reading, or any file written since the last
    // run's checkpoints (rotated or created while the agent was stopped), is
    // news from its first byte.
    const int64_t mtime_ms = Millis(st.st_mtim);
    const bool since_last_run = last_run_ms_ > 0 && mtime_ms > last_run_ms_;
    f->pos = at_end && !known_paths_.count(path) && !since_last_run ? size : 0;
  }
  FingerprintFile(fd, static_cast<uint32_t>(config_.fingerprint_bytes), &f->fingerprint, &f->fingerprint_len);
  f->size = size;
  f->last_growth_ms = MonotonicMillis();
  f->mtime = st.st_mtim;
  uv_fs_event_init(loop_, &f->watch);
  f->watch.data = f;
  ++open_handles_;
  const int rc = uv_fs_event_start(&f->watch, OnFsEvent, path.c_str(), 0);
  if (rc != 0) {
    // The stat pass still sees every change, only later.
    Log(LogLevel::kWarn, "source {}: cannot watch {} ({}); polling it every {} ms", config_.name, path,
        uv_strerror(rc), config_.poll_interval.count());
  }
  files_[path] = f;
  open_[{f->dev, f->ino}] = f;
  ++stats_.files_opened;
  if (static_cast<uint64_t>(st.st_size) > f->pos) MarkDirty(f);
  if (lost_copy) {
    // copytruncate while the agent was stopped: the lines past the
    // checkpoint are in the copy, if it is still beside the file.
    recent_.push_back(*lost_copy);
    RecoverCopy(std::filesystem::path(path).parent_path().string(), *lost_copy);
  }
  return f;
}

void FileSource::Retire(File* f) {
  files_.erase(f->path);
  f->retired = true;
  retired_.push_back(f);
  MarkDirty(f);
}

void FileSource::CloseFile(File* f) {
  // At the source's own Close (a drain) nothing is passed on early: what is
  // held is not checkpointed and is read again at the next start.
  if (!closing_ && !f->quiet) sink_.OnFileQuiet(Context(f));
  if (f->retired) {
    retired_.erase(std::find(retired_.begin(), retired_.end(), f));
  } else {
    files_.erase(f->path);
  }
  closed_truncated_ += f->framer.truncated();
  closed_skipped_ += f->framer.skipped();
  closed_nul_bytes_ += f->framer.nul_bytes();
  // (During Pump() a dirty file may be in pumping_files_ instead: it skips closed ones.)
  if (auto it = std::find(dirty_.begin(), dirty_.end(), f); it != dirty_.end()) dirty_.erase(it);
  f->dirty = false;
  if (auto it = open_.find({f->dev, f->ino}); it != open_.end() && it->second == f) open_.erase(it);
  ::close(f->fd);
  f->fd = -1;
  uv_close(reinterpret_cast<uv_handle_t*>(&f->watch), OnFileClosed);
}

void FileSource::OnFsEvent(uv_fs_event_t* h, const char*, int events, int status) {
  File* f = static_cast<File*>(h->data);
  FileSource* self = f->owner;
  if (self->closing_ || f->fd < 0) return;
  if (status < 0 || (events & UV_RENAME)) {
    self->ScheduleRescan();  // renamed or deleted: let the stat pass decide
    return;
  }
  self->MarkDirty(f);
}

// Renames come in bursts (logrotate, a deploy moving many files): one stat
// pass at the next loop turn sees them all, instead of one full pass per event.
void FileSource::ScheduleRescan() {
  if (rescan_armed_ || closing_) return;
  rescan_armed_ = true;
  uv_timer_start(&rescan_timer_, OnRescan, kRescanDelayMs, 0);
}

void FileSource::OnRescan(uv_timer_t* t) {
  auto* self = static_cast<FileSource*>(t->data);
  self->rescan_armed_ = false;
  self->StatPass(false);
}

void FileSource::MarkDirty(File* f) {
  if (!f->dirty) {
    f->dirty = true;
    dirty_.push_back(f);
  }
  SchedulePump();
}

void FileSource::SchedulePump() {
  if (pumping_ || paused_ || closing_ || !started_) return;
  pumping_ = true;
  uv_idle_start(&idle_, OnIdle);
}

// New files the last stat pass found over max_open_files are opened as soon
// as the files read before them are done, not one budget's half per stat
// pass: a glob matching 100,000 files is read in minutes, not hours.
void FileSource::AdmitBacklog() {
  if (backlog_.empty()) return;
  KeepToBudget(backlog_.size());
  size_t taken = 0;
  for (; taken < backlog_.size() && files_.size() + retired_.size() < config_.max_open_files; ++taken) {
    const std::string& path = backlog_[taken];
    struct stat st;
    if (files_.count(path) || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        FindOpen(st.st_dev, st.st_ino)) {
      continue;
    }
    if (File* f = Open(path, /*at_end=*/false)) MarkDirty(f);  // read now, not at the next stat pass
  }
  backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<ptrdiff_t>(taken));
}

void FileSource::OnIdle(uv_idle_t* h) { static_cast<FileSource*>(h->data)->Pump(); }

void FileSource::Pump() {
  // Only the dirty files, not every file: a busy file's turn costs nothing
  // for the idle ones. A file read to its end leaves the list; lines handed
  // to the sink may pause the source, which stops the round.
  pumping_files_.swap(dirty_);
  for (File* f : pumping_files_) {
    if (f->fd < 0) continue;  // closed during this round
    if (paused_ || closing_ || !ReadChunk(f)) {
      if (paused_ || closing_) {
        dirty_.push_back(f);
        continue;
      }
      f->dirty = false;  // a retired file is closed by the stat pass, after rotate_wait
    } else {
      dirty_.push_back(f);
    }
  }
  pumping_files_.clear();
  if (dirty_.empty() && !paused_ && !closing_) AdmitBacklog();
  const bool more = !dirty_.empty();
  if (!more || paused_ || closing_) {
    pumping_ = false;
    uv_idle_stop(&idle_);
  }
}

bool FileSource::ReadChunk(File* f) {
  // Opened empty (logrotate creates app.log.1.gz, then fills it): its first
  // bytes say what it is once they come.
  if (f->pos == 0) {
    if (const char* kind = CompressedKind(f->fd)) {
      if (compressed_.emplace(FileKey(f->dev, f->ino), f->path).second) {
        Log(LogLevel::kInfo, "source {}: {} is {} data, not text: skipped", config_.name, f->path, kind);
      }
      CloseFile(f);
      return false;
    }
  }
  // `encoding: utf-16` read on from a checkpoint: the byte order mark is behind.
  if (f->framer.needs_first_bytes() && f->pos > 0) {
    unsigned char bom[2] = {0, 0};
    (void)pread(f->fd, bom, sizeof bom, 0);
    f->framer.NoteFirstBytes(bom[0], bom[1]);
  }
  char* at = f->framer.ReadBuffer(scratch_, kReadChunk);
  const ssize_t n = pread(f->fd, at, kReadChunk, static_cast<off_t>(f->pos));
  if (n < 0) {
    if (errno == EINTR) return true;
    Log(LogLevel::kWarn, "source {}: cannot read {}: {}", config_.name, f->path, std::strerror(errno));
    return false;
  }
  if (n == 0) {
    // At the end: a copytruncate may have left the file shorter than our offset.
    struct stat st;
    if (fstat(f->fd, &st) != 0) return false;
    CheckTruncated(f, static_cast<uint64_t>(st.st_size));
    return f->pos < static_cast<uint64_t>(st.st_size);
  }
  // Truncated and written again past our offset since the last read (a
  // copytruncate followed at once by a burst): only the first bytes tell.
  // They are checked after every read, so that bytes read at the old offset
  // of a new generation are never framed: no torn fragment, no new lines
  // under the old identity. One pread of fingerprint_bytes per read of up to
  // kReadChunk.
  if (CheckFingerprint(f)) return true;
  // The checkpoint names a generation, by its first bytes, before any of its
  // lines go out. Else, after a crash, a file truncated and rewritten while
  // the agent was down (same inode, same birth time) could not be told from
  // the content already sent: its new lines would take messageIds already
  // used (a de-duplicating collector drops them), and copytruncate's copy
  // would not be recognised. One append to checkpoints.ahead (and fdatasync)
  // per read that meets new generations, and a few more while a new file
  // grows to fingerprint_bytes.
  if (Unsaved(f)) SaveIdentities();
  const uint64_t next = f->pos;
  f->pos += static_cast<uint64_t>(n);
  f->last_growth_ms = MonotonicMillis();
  f->quiet = false;
  stats_.bytes += static_cast<uint64_t>(n);
  LineContext ctx = Context(f);
  f->framer.Framed(scratch_, static_cast<size_t>(n), next, [&](std::string_view line, uint64_t offset) {
    Deliver(f, ctx, line, offset);
  });
  return static_cast<size_t>(n) == kReadChunk;
}

void FileSource::SaveIdentities() {
  std::vector<CheckpointEntry> unsaved;
  EachFile([&](File* f) {
    if (!Unsaved(f)) return;
    unsaved.push_back(Remember(f));
    f->saved_id = f->id;
    f->saved_fingerprint_len = f->fingerprint_len;
  });
  if (unsaved.empty()) return;
  // The generations rewritten in place: their copies hold lines not settled.
  unsaved.insert(unsaved.end(), rewritten_.begin(), rewritten_.end());
  // If they cannot be written (the agent says so), lines go out all the same.
  sink_.SavePositions(unsaved);
}

bool FileSource::Unsaved(const File* f) {
  return f->saved_id != f->id || f->saved_fingerprint_len < f->fingerprint_len;
}

void FileSource::CheckTruncated(File* f, uint64_t size) {
  if (size >= f->pos) return;
  Log(LogLevel::kInfo, "source {}: {} was truncated ({} < {} bytes); reading it from the start", config_.name,
      f->path, size, f->pos);
  Rewritten(f);
}

// Whether the file's first bytes are no longer what they were: it was
// truncated and written again past the old offset before the agent saw it
// shorter. Then it is a new generation (Rewritten), and true.
bool FileSource::CheckFingerprint(File* f) {
  if (f->fingerprint_len > 0) {
    uint64_t now = 0;
    uint32_t got = 0;
    if (!FingerprintFile(f->fd, f->fingerprint_len, &now, &got)) return false;
    if (got != f->fingerprint_len || now != f->fingerprint) {
      Log(LogLevel::kInfo, "source {}: {} was truncated and written again; reading it from the start",
          config_.name, f->path);
      Rewritten(f);
      return true;
    }
  }
  // A file shorter than fingerprint_bytes when opened: its fingerprint grows
  // with it (its first bytes were just checked), at once rather than at some
  // later check: copytruncate may come first, and only a whole fingerprint
  // lets its copy be recognised, or a restart tell the file apart from others
  // that begin with the same line.
  if (f->fingerprint_len < config_.fingerprint_bytes) {
    FingerprintFile(f->fd, static_cast<uint32_t>(config_.fingerprint_bytes), &f->fingerprint, &f->fingerprint_len);
  }
  return false;
}

// New content at the same place (copytruncate, or an app that truncates its
// log): a new generation with new messageIds, read from 0. What the old
// generation had not been read up to may still be in copytruncate's copy.
void FileSource::Rewritten(File* f) {
  ++stats_.truncations;
  const Generation old{f->fingerprint, f->fingerprint_len, f->id, f->pos - f->framer.held_bytes(), WallClockMillis()};
  sink_.OnFileQuiet(Context(f));  // the old generation's last word
  if (old.fingerprint_len == config_.fingerprint_bytes) {
    if (recent_.size() >= kRecentGenerations) recent_.erase(recent_.begin());
    recent_.push_back(old);
    // Until its lines are settled (ForgetFinished), the checkpoint keeps it:
    // only its copy still holds them.
    if (rewritten_.size() >= kRecentGenerations) rewritten_.erase(rewritten_.begin());
    CheckpointEntry e = Remember(f);
    e.dev = e.ino = 0;  // no inode is 0: SetCheckpoints tells such entries apart
    rewritten_.push_back(std::move(e));
  }
  f->pos = 0;
  f->id = NextGeneration(f->id);
  f->fingerprint = 0;
  f->fingerprint_len = 0;
  f->framer.Reset();
  MarkDirty(f);
  if (old.fingerprint_len == config_.fingerprint_bytes) {
    RecoverCopy(std::filesystem::path(f->path).parent_path().string(), old);
  }
}

// Looks in `dir` for copytruncate's copy of generation `old` that no glob
// matches (app.log.1 beside app.log), and reads it to its end.
bool FileSource::RecoverCopy(const std::string& dir, const Generation& old) {
  std::error_code ec;
  for (const auto& item : std::filesystem::directory_iterator(dir.empty() ? "." : dir, ec)) {
    const std::string path = item.path().string();
    struct stat st;
    if (files_.count(path) || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_size) <= old.offset || FindOpen(st.st_dev, st.st_ino)) {
      continue;
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    const bool copy = FileBeginsWith(fd, old.fingerprint_len, old.fingerprint);
    ::close(fd);
    if (!copy) continue;
    if (File* f = Open(path, /*at_end=*/false)) {
      if (!Matches(path)) Retire(f);
    }
    return true;
  }
  return false;
}

// logrotate's copytruncate creates the copy, then fills it: a stat pass in
// between (the renames of the older copies trigger one) finds a file too
// short for its fingerprint to tell it is a copy, and would read it as a new
// file from 0, sending the original's lines again under new messageIds. So a
// new file shorter than fingerprint_bytes whose bytes are the beginning of an
// open file waits, for at most kCopyBeingWrittenMs, to be recognised once
// whole (or to be a new file after all: then it is read from 0, nothing lost).
bool FileSource::MayBeACopyBeingWritten(const std::string& path, uint64_t size, int64_t now_ms) {
  if (size >= config_.fingerprint_bytes) {
    copying_.erase(path);
    return false;
  }
  const int64_t since = copying_.try_emplace(path, now_ms).first->second;
  if (now_ms - since >= kCopyBeingWrittenMs) {
    copying_.erase(path);
    return false;
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  uint64_t fingerprint = 0;
  uint32_t got = 0;
  const bool whole = FingerprintFile(fd, static_cast<uint32_t>(size), &fingerprint, &got) && got == size;
  ::close(fd);
  bool prefix = false;
  for (const auto& [open_path, f] : files_) {
    if (!whole || prefix) break;
    prefix = FileBeginsWith(f->fd, got, fingerprint);
  }
  if (!prefix) copying_.erase(path);
  return prefix;
}

bool FileSource::CopyOf(int fd, uint64_t size, Generation* out) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  const int64_t mtime_ms = Millis(st.st_mtim);
  const int64_t now = WallClockMillis();
  for (auto it = recent_.rbegin(); it != recent_.rend(); ++it) {
    // Only whole fingerprints: two files may well begin with the same short line.
    if (it->fingerprint_len != config_.fingerprint_bytes || it->fingerprint_len > size) continue;
    if (now - it->rewritten_ms > kCopyWindowMs || mtime_ms > it->rewritten_ms + 1000) continue;
    if (FileBeginsWith(fd, it->fingerprint_len, it->fingerprint)) {
      *out = *it;
      return true;
    }
  }
  // The copy may be found before its original is seen truncated: a stat pass
  // between logrotate's copy and its truncate, or one that runs after the
  // truncate but before the agent looked at the original again.
  for (const auto& [path, f] : files_) {
    if (f->fingerprint_len != config_.fingerprint_bytes || f->fingerprint_len > size ||
        !FileBeginsWith(fd, f->fingerprint_len, f->fingerprint)) {
      continue;
    }
    const uint64_t read_to = f->pos - f->framer.held_bytes();
    // Already truncated (shorter than where it was read to, or beginning with
    // other bytes): the original's generation lives on only in copies, and
    // this file begins as it did, as recent_'s copies do.
    struct stat original;
    if (fstat(f->fd, &original) == 0 &&
        (static_cast<uint64_t>(original.st_size) < read_to ||
         !FileBeginsWith(f->fd, f->fingerprint_len, f->fingerprint))) {
      *out = Generation{f->fingerprint, f->fingerprint_len, f->id, read_to, WallClockMillis()};
      return true;
    }
    // Not truncated yet: the two files must hold the same bytes both at their
    // start and just before where the original was read up to, which a file
    // that merely begins with the same banner does not.
    const uint64_t end = std::min(read_to, size);
    const uint64_t begin = end > kCopyCheckBytes ? end - kCopyCheckBytes : 0;
    std::string mine(end - begin, '\0'), theirs(end - begin, '\0');
    if (pread(fd, mine.data(), mine.size(), static_cast<off_t>(begin)) != static_cast<ssize_t>(mine.size()) ||
        pread(f->fd, theirs.data(), theirs.size(), static_cast<off_t>(begin)) != static_cast<ssize_t>(theirs.size()) ||
        mine != theirs) {
      continue;
    }
    *out = Generation{f->fingerprint, f->fingerprint_len, f->id, read_to, WallClockMillis()};
    return true;
  }
  return false;
}

bool FileSource::Matches(const std::string& path) const {
  if (Excluded(path, config_.exclude)) return false;
  for (const auto& pattern : config_.paths) {
    if (fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0) return true;
  }
  return false;
}

void FileSource::FlushIdle(File* f, int64_t now_ms) {
  // A dirty file may hold the rest of the line, unread: it is not idle.
  if (f->dirty || paused_ || now_ms - f->last_growth_ms < config_.idle_flush.count()) return;
  LineContext ctx = Context(f);
  if (f->framer.holds_partial()) {
    f->framer.FlushHeld(f->pos, [&](std::string_view line, uint64_t offset) { Deliver(f, ctx, line, offset); });
  }
  if (!f->quiet) {
    f->quiet = true;
    sink_.OnFileQuiet(ctx);
  }
}

void FileSource::SetCheckpoints(const std::vector<CheckpointEntry>& known) {
  for (const CheckpointEntry& e : known) {
    if (e.ino == 0) {  // a generation rewritten in place: see Rewritten()
      if (lost_copies_.size() >= kRecentGenerations) lost_copies_.erase(lost_copies_.begin());
      lost_copies_.push_back(e);
      continue;
    }
    known_[{e.dev, e.ino}] = e;
    known_paths_.insert(e.path);
    last_run_ms_ = std::max(last_run_ms_, e.updated_ms);
  }
}

// Checkpointed files that are not at their path any more may have been
// renamed beside it (logrotate's app.log -> app.log.1): each directory is
// listed once, and such a file is read to its end.
void FileSource::RecoverRotated() {
  std::vector<FileKey> moved;
  for (const auto& [key, entry] : known_) {
    struct stat st;
    if (::stat(entry.path.c_str(), &st) == 0 && FileKey(st.st_dev, st.st_ino) == key) continue;  // waits its turn
    moved.push_back(key);
  }
  RecoverMoved(known_, moved);
}

// Files of `entries` (by `keys`) that are not at their path any more may have
// been renamed beside it (logrotate's app.log -> app.log.1): each directory is
// listed once, and such a file that holds more than its position is opened
// (taking its entry) and read to its end.
void FileSource::RecoverMoved(std::map<FileKey, CheckpointEntry>& entries, const std::vector<FileKey>& keys) {
  std::map<std::string, std::vector<FileKey>> by_dir;
  for (const FileKey& key : keys) {
    if (auto it = entries.find(key); it != entries.end()) {
      by_dir[std::filesystem::path(it->second.path).parent_path().string()].push_back(key);
    }
  }
  for (const auto& [dir, dir_keys] : by_dir) {
    std::map<FileKey, std::pair<std::string, uint64_t>> here;  // path and size
    std::error_code ec;
    for (const auto& item : std::filesystem::directory_iterator(dir.empty() ? "." : dir, ec)) {
      struct stat st;
      if (::stat(item.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        here[{st.st_dev, st.st_ino}] = {item.path().string(), static_cast<uint64_t>(st.st_size)};
      }
    }
    for (const FileKey& key : dir_keys) {
      auto found = here.find(key);
      auto entry = entries.find(key);
      if (found == here.end() || entry == entries.end() || files_.count(found->second.first)) continue;
      if (found->second.second <= entry->second.offset) continue;  // nothing new in it
      Log(LogLevel::kInfo, "source {}: {} was renamed to {} while not open; reading it to its end", config_.name,
          entry->second.path, found->second.first);
      if (File* f = Open(found->second.first, /*at_end=*/false)) Retire(f);  // takes its entry
    }
  }
}

void FileSource::Positions(std::vector<CheckpointEntry>* out) {
  EachFile([&](File* f) { out->push_back(Remember(f)); });
  for (const auto& [key, entry] : dormant_) out->push_back(entry);
  for (const auto& [key, entry] : finished_) out->push_back(entry);
  out->insert(out->end(), rewritten_.begin(), rewritten_.end());
}

void FileSource::Files(std::vector<FileStatus>* out) const {
  auto add = [&](const File* f) {
    out->push_back(FileStatus{f->path, f->pos, std::max(f->size, f->pos), f->fd >= 0});
  };
  for (const auto& [path, f] : files_) add(f);
  for (const File* f : retired_) add(f);
  // Closed while idle: read to their end when closed, so nothing lags.
  for (const auto& [key, entry] : dormant_) out->push_back(FileStatus{entry.path, entry.offset, entry.offset, false});
}

void FileSource::ForgetFinished(const std::function<bool(uint64_t file_id)>& settled) {
  std::erase_if(finished_, [&](const auto& item) { return settled(item.second.file_id); });
  std::erase_if(rewritten_, [&](const CheckpointEntry& e) { return settled(e.file_id); });
}

CheckpointEntry FileSource::Remember(const File* f) const {
  CheckpointEntry e;
  e.source = config_.name;
  e.path = f->path;
  e.dev = static_cast<uint64_t>(f->dev);
  e.ino = static_cast<uint64_t>(f->ino);
  e.file_id = f->id;
  e.fingerprint = f->fingerprint;
  e.fingerprint_len = f->fingerprint_len;
  e.offset = f->pos - f->framer.held_bytes();
  e.updated_ms = WallClockMillis();
  return e;
}

LineContext FileSource::Context(const File* f) const {
  LineContext ctx;
  ctx.source = index_;
  ctx.path = f->path;
  ctx.file_id = f->id;
  ctx.read_time_ms = WallClockMillis();
  return ctx;
}

void FileSource::Deliver(const File* f, LineContext& ctx, std::string_view line, uint64_t offset) {
  if (f->framer.utf16()) {
    // Framed in the file's code units; the rules see UTF-8.
    Utf16ToUtf8(line, f->framer.big_endian(), &utf8_);
    line = utf8_;
  }
  // A latin1 or windows-1252 file's first bytes are its own text.
  if (f->framer.utf16() || config_.encoding == Encoding::kUtf8) line = WithoutByteOrderMark(line, offset);
  if (line.empty()) return;
  ctx.line = line;
  ctx.offset = offset;
  ++stats_.lines;
  sink_.OnLine(ctx);
}

}  // namespace tailtrack
