#include "source/unix_source.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "source/line_framer.h"

namespace tailtrack {

struct UnixSource::Client {
  Client(UnixSource* o, const SourceConfig& c) : owner(o), framer(c.max_line_bytes, c.on_long_line) {}

  UnixSource* owner;
  uv_pipe_t pipe;
  LineFramer framer;      // holds the incomplete line: the bytes just before `received`
  uint64_t received = 0;  // bytes read from this connection
  int64_t last_active_ms = MonotonicMillis();  // accepted, or last read something
  bool closing = false;
};

namespace {

// Is a process bound to the socket file at `path`? A socket file nobody is
// bound to refuses connections (ECONNREFUSED); one bound to a socket of the
// other type answers EPROTOTYPE, which is live too.
bool SocketIsLive(const sockaddr_un& addr, int type) {
  const int probe = ::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  ::close(probe);
  return rc == 0 || err == EAGAIN || err == EINPROGRESS || err == EPROTOTYPE;
}

}  // namespace

UnixSource::UnixSource(uv_loop_t* loop, const SourceConfig& config, uint32_t index, LineSink& sink)
    : loop_(loop), config_(config), index_(index), sink_(sink),
      max_clients_(std::max<size_t>(1, static_cast<size_t>(config.max_clients))) {}

UnixSource::~UnixSource() {
  // Close() and a loop run must come first: the handles live in this object.
  if (!closed()) Log(LogLevel::kError, "source {}: destroyed with open handles", config_.name);
  if (mapped_) ::munmap(slots_, slot_bytes_ * kDatagramBatch);
}

bool UnixSource::Start(SourceError* error) {
  const bool stream = config_.protocol == SocketProtocol::kStream;
  if (!Bind(stream ? SOCK_STREAM : SOCK_DGRAM, error)) return false;

  int rc;
  if (stream) {
    uv_pipe_init(loop_, &server_, 0);
    server_.data = this;
    rc = uv_pipe_open(&server_, fd_);  // the handle owns the descriptor from here
    if (rc != 0) ::close(fd_);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server_), SOMAXCONN, OnConnectionCb);
    if (rc != 0) {
      ++open_handles_;
      uv_close(reinterpret_cast<uv_handle_t*>(&server_), OnHandleClosed);
    } else {
      // Silent clients are looked for a few times per timeout, at most once a second.
      const uint64_t every = static_cast<uint64_t>(std::clamp<int64_t>(config_.client_idle_timeout.count() / 4, 10, 1000));
      uv_timer_init(loop_, &idle_timer_);
      idle_timer_.data = this;
      uv_timer_start(&idle_timer_, OnIdleTimer, every, every);
      uv_unref(reinterpret_cast<uv_handle_t*>(&idle_timer_));
      ++open_handles_;
    }
  } else {
    MapDatagramSlots();
    NoteDatagramQueue();
    rc = uv_poll_init(loop_, &poll_, fd_);
    if (rc == 0) {
      poll_.data = this;
      rc = uv_poll_start(&poll_, UV_READABLE, OnPoll);
      if (rc != 0) {
        ++open_handles_;
        uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnHandleClosed);
      }
    }
    if (rc != 0) ::close(fd_);
  }
  if (rc != 0) {
    fd_ = -1;
    RemoveSocketFile();
    *error = {config_.path_mark,
              "source " + config_.name + ": cannot listen on " + config_.path + ": " + uv_strerror(rc)};
    return false;
  }
  started_ = true;
  ++open_handles_;
  return true;
}

bool UnixSource::Bind(int type, SourceError* error) {
  const std::string& path = config_.path;
  auto fail = [&](Mark mark, const std::string& why) {
    *error = {mark, "source " + config_.name + ": " + why};
    return false;
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return fail(config_.path_mark, "socket path " + path + " is " + std::to_string(path.size()) +
                                       " bytes; a Unix socket path may have at most " +
                                       std::to_string(sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());

  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) return fail(config_.path_mark, "cannot create the directory " + parent.string() + ": " + ec.message());
    ::chmod(parent.c_str(), 0755);
  }

  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return fail(config_.path_mark, path + " exists and is not a socket; it is not replaced");
    }
    if (SocketIsLive(addr, type)) return fail(config_.path_mark, "another process is listening on " + path);
    if (::unlink(path.c_str()) != 0) {
      return fail(config_.path_mark, "cannot remove the stale socket " + path + ": " + std::strerror(errno));
    }
    Log(LogLevel::kInfo, "source {}: removed the stale socket {}", config_.name, path);
  }

  gid_t gid = static_cast<gid_t>(-1);
  if (!config_.group.empty()) {
    std::vector<char> buf(16384);
    group gr;
    group* found = nullptr;
    if (getgrnam_r(config_.group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return fail(config_.group_mark, "group " + config_.group + " does not exist");
    }
    gid = found->gr_gid;
  }

  const int fd = ::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(config_.path_mark, std::string("cannot create a Unix socket: ") + std::strerror(errno));
  // The file is born owner-only; `mode` is applied before anyone may connect
  // (a stream socket refuses connections until listen()).
  const mode_t old_mask = ::umask(0177);
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  ::umask(old_mask);
  if (rc != 0) {
    ::close(fd);
    return fail(config_.path_mark, "cannot bind " + path + ": " + std::strerror(bind_errno));
  }
  std::string why;
  if (::lstat(path.c_str(), &st) != 0) {
    why = "cannot stat " + path + " after binding it: " + std::strerror(errno);
  } else {
    // Never through a link someone put at the path since bind(): AT_SYMLINK_NOFOLLOW
    // refuses a link (EOPNOTSUPP) instead of changing its target.
    if (!S_ISSOCK(st.st_mode)) {
      ::close(fd);  // not ours to remove
      return fail(config_.path_mark, path + " was replaced by something that is not a socket after binding it");
    }
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    if (::fchmodat(AT_FDCWD, path.c_str(), config_.mode, AT_SYMLINK_NOFOLLOW) != 0) {
      why = "cannot set the mode of " + path + ": " + std::strerror(errno);
    } else if (gid != static_cast<gid_t>(-1) && ::lchown(path.c_str(), static_cast<uid_t>(-1), gid) != 0) {
      why = "cannot give " + path + " to group " + config_.group + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(path.c_str());
      return fail(config_.group_mark, why);
    }
  }
  if (!why.empty()) {
    ::close(fd);
    ::unlink(path.c_str());
    return fail(config_.path_mark, why);
  }
  fd_ = fd;
  return true;
}

void UnixSource::Pause() {
  paused_ = true;
  for (Client* c : clients_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->pipe));
  // Datagram writers wait too (or get EAGAIN), until Resume() or Shed().
  if (config_.protocol == SocketProtocol::kDatagram && started_ && !closing_) uv_poll_stop(&poll_);
}

void UnixSource::Shed() {
  if (!paused_ || closing_) return;
  paused_ = false;
  shedding_ = true;
  Log(LogLevel::kWarn, "source {}: the pipeline has been full for a while (the spool takes no more); "
      "reading on and dropping lines so that writers do not wait forever (counted)", config_.name);
  const std::vector<Client*> all(clients_.begin(), clients_.end());
  for (Client* c : all) StartReading(c);
  if (config_.protocol == SocketProtocol::kDatagram) uv_poll_start(&poll_, UV_READABLE, OnPoll);
}

void UnixSource::Resume() {
  if (shedding_) {
    shedding_ = false;
    Log(LogLevel::kInfo, "source {}: the pipeline takes lines again ({} dropped so far)", config_.name,
        stats_.dropped_lines);
    return;
  }
  if (!paused_) return;
  paused_ = false;
  if (closing_) return;
  // Time spent paused is not silence: the clients were not read.
  const int64_t now = MonotonicMillis();
  const std::vector<Client*> all(clients_.begin(), clients_.end());
  for (Client* c : all) {
    c->last_active_ms = now;
    StartReading(c);
  }
  if (config_.protocol == SocketProtocol::kDatagram) uv_poll_start(&poll_, UV_READABLE, OnPoll);
}

void UnixSource::Close() {
  if (!started_ || closing_) return;
  closing_ = true;
  if (config_.protocol == SocketProtocol::kStream) {
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), OnHandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_timer_), OnHandleClosed);
    size_t budget = kCloseReadTotal;
    const std::vector<Client*> all(clients_.begin(), clients_.end());
    for (Client* c : all) {
      if (!paused_) DrainClient(c, &budget);
      DisconnectClient(c, /*flush=*/false);
    }
  } else {
    if (!paused_) ReadDatagrams(kDatagramBudget);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnHandleClosed);
    ::close(fd_);  // uv_close stopped the poll synchronously
  }
  fd_ = -1;
  RemoveSocketFile();
}

void UnixSource::RemoveSocketFile() {
  // Only the file this source created: another process may have taken the path since.
  struct stat st;
  if (ino_ != 0 && ::lstat(config_.path.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(config_.path.c_str());
  }
}

UnixSourceStats UnixSource::stats() const {
  UnixSourceStats s = stats_;
  s.truncated_lines += closed_truncated_;
  s.skipped_lines += closed_skipped_;
  for (const Client* c : clients_) {
    s.truncated_lines += c->framer.truncated();
    s.skipped_lines += c->framer.skipped();
  }
  s.clients = clients_.size();
  s.held_bytes = held_total_;
  return s;
}

void UnixSource::OnHandleClosed(uv_handle_t* h) { --static_cast<UnixSource*>(h->data)->open_handles_; }

void UnixSource::OnClientClosed(uv_handle_t* h) {
  Client* c = static_cast<Client*>(h->data);
  --c->owner->open_handles_;
  delete c;
}

// Stream.

void UnixSource::OnConnectionCb(uv_stream_t* server, int status) {
  auto* self = static_cast<UnixSource*>(server->data);
  if (status < 0) {
    // EMFILE and the like: libuv has already shed the pending connection.
    if (self->log_throttle_.Due("accept")) {
      Log(LogLevel::kWarn, "source {}: cannot accept a connection: {}", self->config_.name, uv_strerror(status));
    }
    return;
  }
  self->OnConnection();
}

void UnixSource::OnConnection() {
  auto* c = new Client(this, config_);
  uv_pipe_init(loop_, &c->pipe, 0);
  c->pipe.data = c;
  ++open_handles_;
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&server_), reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
    c->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), OnClientClosed);
    return;
  }
  if (clients_.size() >= max_clients_ && !closing_ && EvictIdlest(MonotonicMillis())) {
    ++stats_.clients_evicted;
    if (log_throttle_.Due("evict")) {
      Log(LogLevel::kInfo, "source {}: {} clients connected, the most allowed; closed the one silent longest to "
          "admit a new one ({} so far)", config_.name, max_clients_, stats_.clients_evicted);
    }
  }
  if (clients_.size() >= max_clients_ || closing_) {
    ++stats_.clients_rejected;
    if (log_throttle_.Due("reject")) {
      Log(LogLevel::kWarn, "source {}: {} clients connected, the most allowed; closing new connections ({} so far)",
          config_.name, clients_.size(), stats_.clients_rejected);
    }
    c->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), OnClientClosed);
    return;
  }
  clients_.insert(c);
  ++stats_.clients_accepted;
  if (!paused_) StartReading(c);
}

void UnixSource::StartReading(Client* c) {
  const int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->pipe), OnAlloc, OnRead);
  if (rc != 0 && rc != UV_EALREADY) {
    Log(LogLevel::kWarn, "source {}: cannot read a connection: {}", config_.name, uv_strerror(rc));
    DisconnectClient(c, /*flush=*/false);
  }
}

void UnixSource::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  // libuv calls alloc, read(2), then OnRead for one client at a time, so one
  // scratch buffer serves them all: the client's held partial line goes first.
  Client* c = static_cast<Client*>(h->data);
  *buf = uv_buf_init(c->framer.ReadBuffer(c->owner->scratch_, kReadChunk), kReadChunk);
}

void UnixSource::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
  Client* c = static_cast<Client*>(s->data);
  UnixSource* self = c->owner;
  if (nread > 0) {
    self->Frame(c, static_cast<size_t>(nread));
  } else if (nread < 0) {
    if (nread != UV_EOF) {
      Log(LogLevel::kDebug, "source {}: connection ended: {}", self->config_.name, uv_strerror(static_cast<int>(nread)));
    }
    self->DisconnectClient(c, /*flush=*/true);
  }
}

void UnixSource::Frame(Client* c, size_t n) {
  const int64_t now = WallClockMillis();
  const uint64_t next = c->received;
  c->received += n;
  c->last_active_ms = MonotonicMillis();
  stats_.bytes += n;
  const size_t held_before = c->framer.held_bytes();
  c->framer.Framed(scratch_, n, next, [&](std::string_view line, uint64_t offset) { Deliver(line, offset, now); });
  held_total_ = held_total_ - held_before + c->framer.held_bytes();
  if (held_total_ > config_.clients_buffer) KeepToBudget(c);
}

// Over budget: every client holding more than its share has its incomplete
// line cut, which brings the total within the budget.
void UnixSource::KeepToBudget(Client* reader) {
  const uint64_t share = config_.clients_buffer / std::max<size_t>(1, clients_.size());
  const int64_t now = WallClockMillis();
  auto cut = [&](Client* c) {
    if (c->framer.held_bytes() <= share) return;
    held_total_ -= c->framer.held_bytes();
    c->framer.CutHeld(c->received, [&](std::string_view line, uint64_t offset) { Deliver(line, offset, now); });
    ++stats_.cut_lines;
    if (log_throttle_.Due("cut")) {
      Log(LogLevel::kWarn, "source {}: clients hold more than clients_buffer ({} bytes) of incomplete lines; "
          "cutting the longest as on_long_line says ({} so far)", config_.name, config_.clients_buffer,
          stats_.cut_lines);
    }
  };
  cut(reader);
  if (held_total_ <= config_.clients_buffer) return;
  for (Client* c : clients_) cut(c);
}

// Closes the client silent longest, if it has been silent for kEvictAfterMs.
// Not while paused: the clients are not read then, and one may have written
// what nobody has read yet.
bool UnixSource::EvictIdlest(int64_t now_ms) {
  if (paused_) return false;
  Client* idlest = nullptr;
  for (Client* c : clients_) {
    if (!c->closing && (idlest == nullptr || c->last_active_ms < idlest->last_active_ms)) idlest = c;
  }
  if (idlest == nullptr || now_ms - idlest->last_active_ms < kEvictAfterMs) return false;
  DisconnectClient(idlest, /*flush=*/true);
  return true;
}

void UnixSource::OnIdleTimer(uv_timer_t* t) { static_cast<UnixSource*>(t->data)->CloseIdleClients(); }

void UnixSource::CloseIdleClients() {
  if (paused_ || closing_) return;
  const int64_t now = MonotonicMillis();
  const std::vector<Client*> all(clients_.begin(), clients_.end());
  for (Client* c : all) {
    if (now - c->last_active_ms < config_.client_idle_timeout.count()) continue;
    ++stats_.clients_timed_out;
    if (log_throttle_.Due("idle")) {
      Log(LogLevel::kInfo, "source {}: closing a client silent for {} ms (client_idle_timeout; {} so far)",
          config_.name, now - c->last_active_ms, stats_.clients_timed_out);
    }
    DisconnectClient(c, /*flush=*/true);
  }
}

void UnixSource::Deliver(std::string_view line, uint64_t offset, int64_t now_ms) {
  if (shedding_) {
    ++stats_.dropped_lines;
    return;
  }
  LineContext ctx;
  ctx.line = line;
  ctx.source = index_;
  ctx.path = config_.path;
  ctx.offset = offset;
  ctx.file_id = 0;
  ctx.read_time_ms = now_ms;
  ++stats_.lines;
  sink_.OnLine(ctx);
}

void UnixSource::DisconnectClient(Client* c, bool flush) {
  if (c->closing) return;
  c->closing = true;
  if (flush && c->framer.holds_partial()) {
    const int64_t now = WallClockMillis();
    c->framer.FlushHeld(c->received, [&](std::string_view line, uint64_t offset) { Deliver(line, offset, now); });
  }
  held_total_ -= c->framer.held_bytes();
  c->framer.DropHeld();
  closed_truncated_ += c->framer.truncated();
  closed_skipped_ += c->framer.skipped();
  clients_.erase(c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), OnClientClosed);
}

void UnixSource::DrainClient(Client* c, size_t* budget) {
  uv_os_fd_t fd;
  if (c->closing || uv_fileno(reinterpret_cast<uv_handle_t*>(&c->pipe), &fd) != 0) return;
  size_t taken = 0;
  while (taken < kCloseReadPerClient && *budget > 0 && !paused_) {
    char* at = c->framer.ReadBuffer(scratch_, kReadChunk);
    const ssize_t n = ::read(fd, at, std::min(kReadChunk, *budget));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    Frame(c, static_cast<size_t>(n));
    taken += static_cast<size_t>(n);
    *budget -= std::min(*budget, static_cast<size_t>(n));
  }
}

// Datagram.

// On Linux an AF_UNIX datagram socket queues at most net.unix.max_dgram_qlen
// + 1 datagrams, whatever SO_RCVBUF says (measured: 11 with the default 10,
// with SO_RCVBUF 4 KiB or 4 MiB); past that a blocking sender waits and a
// non-blocking one gets EAGAIN, and the sender's SO_SNDBUF bounds it too.
// The kernel drops nothing, but a small queue makes bursts fail for senders
// that do not wait: say so once, with the fix.
void UnixSource::NoteDatagramQueue() {
  std::FILE* f = std::fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
  if (f == nullptr) return;
  long qlen = 0;
  const bool read = std::fscanf(f, "%ld", &qlen) == 1;
  std::fclose(f);
  if (read && qlen < kEnoughDatagramQueue) {
    Log(LogLevel::kInfo, "source {}: the kernel queues at most {} datagrams for the agent (net.unix.max_dgram_qlen "
        "= {}); a sender that does not wait gets EAGAIN past it during a burst. Raise it (sysctl "
        "net.unix.max_dgram_qlen={}, as systemd does)", config_.name, qlen + 1, qlen, kEnoughDatagramQueue);
  }
}

void UnixSource::OnPoll(uv_poll_t* h, int status, int) {
  auto* self = static_cast<UnixSource*>(h->data);
  if (status < 0) {
    Log(LogLevel::kWarn, "source {}: socket error: {}", self->config_.name, uv_strerror(status));
    return;
  }
  self->ReadDatagrams(kDatagramBudget);
}

// recvmmsg takes up to kDatagramBatch datagrams in one call, each into its
// own slot of max_line_bytes + 1 bytes (one more tells a datagram that is too
// long). The slots are one anonymous mapping the kernel backs with memory
// only where a datagram lands; a slot's pages past kSlotKeep are given back
// after a large datagram. Without the mapping, one slot in scratch_.
void UnixSource::MapDatagramSlots() {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  slot_bytes_ = (config_.max_line_bytes + 1 + page - 1) / page * page;
  void* at = ::mmap(nullptr, slot_bytes_ * kDatagramBatch, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (at == MAP_FAILED) {
    scratch_.resize(config_.max_line_bytes + 1);
    slots_ = scratch_.data();
    slot_bytes_ = scratch_.size();
    slot_count_ = 1;
    return;
  }
  slots_ = static_cast<char*>(at);
  slot_count_ = kDatagramBatch;
  mapped_ = true;
}

void UnixSource::ReadDatagrams(int budget) {
  mmsghdr msgs[kDatagramBatch];
  iovec iov[kDatagramBatch];
  // Deliver() may pause the source (the pipeline filled): what was received
  // is handed on, nothing more is taken.
  while (budget > 0 && fd_ >= 0 && !paused_) {
    const int want = std::min(budget, slot_count_);
    for (int i = 0; i < want; ++i) {
      iov[i] = {slots_ + i * slot_bytes_, slot_bytes_};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    // MSG_TRUNC: msg_len is the datagram's real length, even when its slot was shorter.
    const int got = ::recvmmsg(fd_, msgs, static_cast<unsigned>(want), MSG_TRUNC | MSG_DONTWAIT, nullptr);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        Log(LogLevel::kWarn, "source {}: cannot read {}: {}", config_.name, config_.path, std::strerror(errno));
      }
      return;
    }
    const int64_t now = WallClockMillis();
    for (int i = 0; i < got; ++i) {
      char* slot = slots_ + i * slot_bytes_;
      TakeDatagram(slot, msgs[i].msg_len, now);
      if (mapped_ && msgs[i].msg_len > kSlotKeep) ::madvise(slot + kSlotKeep, slot_bytes_ - kSlotKeep, MADV_DONTNEED);
    }
    budget -= got;
    if (got < want) return;  // the queue is empty
  }
}

// One datagram of real length `n` (at most slot_bytes_ of it in `data`).
void UnixSource::TakeDatagram(const char* data, size_t n, int64_t now_ms) {
  const uint64_t max = config_.max_line_bytes;
  const uint64_t offset = stats_.bytes;
  stats_.bytes += n;
  std::string_view line(data, std::min(n, slot_bytes_));
  if (n <= slot_bytes_) {  // whole: its trailing newline can be seen
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  }
  if (line.empty()) return;
  if (line.size() > max) {
    if (config_.on_long_line == LongLine::kSkip) {
      ++stats_.skipped_lines;
      return;
    }
    ++stats_.truncated_lines;
    line = Utf8Prefix(line, max);
    if (line.empty()) return;
  }
  Deliver(line, offset, now_ms);
}

}  // namespace tailtrack
