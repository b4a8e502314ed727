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
#include <set>

#include "checkpoint/fingerprint.h"
#include "core/clock.h"
#include "core/log.h"
#include "source/line_framer.h"

namespace tailtrack {

struct FileSource::File {
  File(FileSource* o, std::string p, const SourceConfig& c)
      : owner(o), path(std::move(p)), framer(c.max_line_bytes, c.on_long_line) {}

  FileSource* owner;
  std::string path;
  int fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t id = 0;
  uint64_t fingerprint = 0;      // of the first fingerprint_len bytes
  uint32_t fingerprint_len = 0;  // less than fingerprint_bytes while the file is shorter
  uint64_t pos = 0;        // the next byte to read
  LineFramer framer;       // holds the incomplete line: the bytes just before pos
  int64_t last_growth_ms = 0;  // MonotonicMillis(): idle_flush is an age
  bool dirty = false;      // may have unread bytes
  bool retired = false;    // read to the end, then close
  uv_fs_event_t watch;
};

namespace {

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
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
  uv_idle_init(loop_, &idle_);
  stat_timer_.data = this;
  idle_.data = this;
  open_handles_ = 2;
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
  StatPass(/*initial=*/true);
  RecoverRotated();
  known_.clear();  // files gone for good: their entries are dropped
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
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), OnHandleClosed);
}

FileSourceStats FileSource::stats() const {
  FileSourceStats s = stats_;
  s.truncated_lines = closed_truncated_;
  s.skipped_lines = closed_skipped_;
  for (const auto& [path, f] : files_) {
    s.truncated_lines += f->framer.truncated();
    s.skipped_lines += f->framer.skipped();
  }
  for (const File* f : retired_) {
    s.truncated_lines += f->framer.truncated();
    s.skipped_lines += f->framer.skipped();
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
        } else {
          Open(f->path, /*at_end=*/false);
        }
      }
    }
    struct stat st;
    if (fstat(f->fd, &st) == 0) {
      const uint64_t size = static_cast<uint64_t>(st.st_size);
      CheckTruncated(f, size);
      if (size > f->pos) MarkDirty(f);
    }
    FlushIdle(f, now);
    // A replaced or deleted file read to its end is closed once its
    // incomplete last line, if any, has been sent (after idle_flush).
    if (f->retired && !f->dirty && !f->framer.holds_partial()) CloseFile(f);
  });
}

void FileSource::Discover(bool initial) {
  std::set<std::string> found;
  for (const auto& pattern : config_.paths) {
    glob_t g{};
    const int rc = glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g);
    if (rc == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) found.insert(g.gl_pathv[i]);
    }
    globfree(&g);
  }
  // A path that could not be opened is warned about again only once it has
  // gone and come back, or fails otherwise: not at every stat pass.
  for (auto it = unopenable_.begin(); it != unopenable_.end();) {
    it = found.count(it->first) ? std::next(it) : unopenable_.erase(it);
  }
  // A file renamed within the glob (app.log -> app.log.1) is the file
  // already open: it goes on from its offset under its new name.
  for (const auto& path : found) {
    if (files_.count(path) || Excluded(path, config_.exclude)) continue;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    File* same = FindOpen(st.st_dev, st.st_ino);
    if (same == nullptr) continue;
    struct stat old;
    if (!same->retired && ::stat(same->path.c_str(), &old) == 0 && old.st_dev == same->dev &&
        old.st_ino == same->ino) {
      continue;  // a second name (hard link) of a file read under the first
    }
    MoveTo(same, path);
  }
  for (const auto& path : found) {
    if (files_.count(path) || Excluded(path, config_.exclude)) continue;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || FindOpen(st.st_dev, st.st_ino)) continue;
    // start_at applies to files present at start; files that appear later
    // are new, and all of them is news.
    File* f = Open(path, initial && config_.start_at == StartAt::kEnd);
    if (f) Log(LogLevel::kInfo, "source {}: reading {} from offset {}", config_.name, path, f->pos);
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
  for (const auto& [path, f] : files_) {
    if (f->dev == dev && f->ino == ino) return f;
  }
  for (File* f : retired_) {
    if (f->dev == dev && f->ino == ino) return f;
  }
  return nullptr;
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
  auto* f = new File(this, path, config_);
  f->fd = fd;
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  auto known = std::find_if(known_.begin(), known_.end(), [&](const CheckpointEntry& e) {
    return e.dev == static_cast<uint64_t>(st.st_dev) && e.ino == static_cast<uint64_t>(st.st_ino);
  });
  if (known != known_.end()) {
    uint64_t fingerprint = 0;
    uint32_t got = 0;
    const bool same = FingerprintFile(fd, known->fingerprint_len, &fingerprint, &got) &&
                      got == known->fingerprint_len && fingerprint == known->fingerprint && size >= known->offset;
    if (same) {
      f->id = known->file_id;
      f->pos = known->offset;
      Log(LogLevel::kInfo, "source {}: {} resumes at offset {} (of {})", config_.name, path, f->pos, size);
    } else {
      // Truncated, rewritten, or a recycled inode: new content, new messageIds.
      f->id = NextGeneration(known->file_id);
      f->pos = 0;
      Log(LogLevel::kInfo, "source {}: {} changed while tailtrack was stopped; reading it from the start",
          config_.name, path);
    }
    known_.erase(known);
  } else {
    f->id = FileIdentityOf(fd, st.st_dev, st.st_ino);
    f->pos = at_end ? size : 0;
  }
  FingerprintFile(fd, static_cast<uint32_t>(config_.fingerprint_bytes), &f->fingerprint, &f->fingerprint_len);
  f->last_growth_ms = MonotonicMillis();
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
  ++stats_.files_opened;
  if (static_cast<uint64_t>(st.st_size) > f->pos) MarkDirty(f);
  return f;
}

void FileSource::Retire(File* f) {
  files_.erase(f->path);
  f->retired = true;
  retired_.push_back(f);
  MarkDirty(f);
}

void FileSource::CloseFile(File* f) {
  if (f->retired) {
    retired_.erase(std::find(retired_.begin(), retired_.end(), f));
  } else {
    files_.erase(f->path);
  }
  closed_truncated_ += f->framer.truncated();
  closed_skipped_ += f->framer.skipped();
  // (During Pump() a dirty file may be in pumping_files_ instead: it skips closed ones.)
  if (auto it = std::find(dirty_.begin(), dirty_.end(), f); it != dirty_.end()) dirty_.erase(it);
  f->dirty = false;
  ::close(f->fd);
  f->fd = -1;
  uv_close(reinterpret_cast<uv_handle_t*>(&f->watch), OnFileClosed);
}

void FileSource::OnFsEvent(uv_fs_event_t* h, const char*, int events, int status) {
  File* f = static_cast<File*>(h->data);
  FileSource* self = f->owner;
  if (self->closing_ || f->fd < 0) return;
  if (status < 0 || (events & UV_RENAME)) {
    self->StatPass(false);  // renamed or deleted: let the stat pass decide
    return;
  }
  self->MarkDirty(f);
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
      f->dirty = false;
      if (f->retired && !f->framer.holds_partial()) CloseFile(f);
    } else {
      dirty_.push_back(f);
    }
  }
  pumping_files_.clear();
  const bool more = !dirty_.empty();
  if (!more || paused_ || closing_) {
    pumping_ = false;
    uv_idle_stop(&idle_);
  }
}

bool FileSource::ReadChunk(File* f) {
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
  const uint64_t next = f->pos;
  f->pos += static_cast<uint64_t>(n);
  f->last_growth_ms = MonotonicMillis();
  stats_.bytes += static_cast<uint64_t>(n);
  LineContext ctx = Context(f);
  f->framer.Framed(scratch_, static_cast<size_t>(n), next, [&](std::string_view line, uint64_t offset) {
    Deliver(ctx, line, offset);
  });
  return static_cast<size_t>(n) == kReadChunk;
}

void FileSource::CheckTruncated(File* f, uint64_t size) {
  if (size >= f->pos) return;
  Log(LogLevel::kInfo, "source {}: {} was truncated ({} < {} bytes); reading it from the start", config_.name,
      f->path, size, f->pos);
  ++stats_.truncations;
  f->pos = 0;
  f->id = NextGeneration(f->id);
  f->fingerprint_len = 0;
  f->framer.Reset();
  MarkDirty(f);
}

void FileSource::FlushIdle(File* f, int64_t now_ms) {
  // A dirty file may hold the rest of the line, unread: it is not idle.
  if (!f->framer.holds_partial() || f->dirty || paused_ || now_ms - f->last_growth_ms < config_.idle_flush.count()) {
    return;
  }
  LineContext ctx = Context(f);
  f->framer.FlushHeld(f->pos, [&](std::string_view line, uint64_t offset) { Deliver(ctx, line, offset); });
}

void FileSource::RecoverRotated() {
  for (size_t i = 0; i < known_.size();) {
    const CheckpointEntry entry = known_[i];
    const std::string dir = std::filesystem::path(entry.path).parent_path().string();
    std::string found;
    std::error_code ec;
    for (const auto& item : std::filesystem::directory_iterator(dir.empty() ? "." : dir, ec)) {
      struct stat st;
      if (::stat(item.path().c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          static_cast<uint64_t>(st.st_dev) == entry.dev && static_cast<uint64_t>(st.st_ino) == entry.ino) {
        found = item.path().string();
        break;
      }
    }
    if (found.empty() || files_.count(found)) {
      ++i;
      continue;
    }
    Log(LogLevel::kInfo, "source {}: {} was renamed to {} while tailtrack was stopped; reading it to its end",
        config_.name, entry.path, found);
    File* f = Open(found, /*at_end=*/false);  // takes its entry from known_
    if (f != nullptr) {
      Retire(f);
    } else {
      ++i;
    }
  }
}

void FileSource::Positions(std::vector<CheckpointEntry>* out) {
  EachFile([&](File* f) {
    // A file shorter than fingerprint_bytes when opened: its fingerprint
    // grows with it, so that a restart can tell it from a rewritten file.
    if (f->fingerprint_len < config_.fingerprint_bytes && f->pos > f->fingerprint_len) {
      FingerprintFile(f->fd, static_cast<uint32_t>(config_.fingerprint_bytes), &f->fingerprint, &f->fingerprint_len);
    }
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
    out->push_back(std::move(e));
  });
}

LineContext FileSource::Context(const File* f) const {
  LineContext ctx;
  ctx.source = index_;
  ctx.path = f->path;
  ctx.file_id = f->id;
  ctx.read_time_ms = WallClockMillis();
  return ctx;
}

void FileSource::Deliver(LineContext& ctx, std::string_view line, uint64_t offset) {
  ctx.line = line;
  ctx.offset = offset;
  ++stats_.lines;
  sink_.OnLine(ctx);
}

}  // namespace tailtrack
