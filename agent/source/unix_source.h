// A `type: unix` source: listens on a Unix socket and hands each line (stream)
// or datagram (datagram) to a LineSink.
//
// stream: a listening SOCK_STREAM socket driven as a uv_pipe_t. Each client
// has its own LineFramer: lines end at '\n', one '\r' before it is removed,
// empty lines are dropped, max_line_bytes / on_long_line apply. A client's
// unterminated last line is delivered when it disconnects. At most
// `max_clients` connections at once: a new one past it closes the client
// silent longest (if silent for kEvictAfterMs or more), else it is accepted
// and closed at once; both are counted, so that neither a flood of
// connections nor idle ones can exhaust descriptors or the limit. A client
// silent for `client_idle_timeout` is closed. All clients' incomplete lines
// together are held in at most `clients_buffer` bytes: past it, a client
// holding more than its share (the budget divided by the clients connected)
// has its incomplete line cut as on_long_line says (truncated or skipped,
// counted in cut_lines too) and the rest of that line discarded.
// LineContext::offset is the byte offset of the line in its connection.
//
// datagram: a SOCK_DGRAM socket watched with a uv_poll_t (uv_udp does not do
// AF_UNIX). Each datagram is one record; a trailing '\n' (and '\r' before it)
// is removed; an empty one is dropped; one longer than max_line_bytes is
// truncated or skipped. At most kDatagramBudget datagrams are read per loop
// turn so the loop stays fair. LineContext::offset is the number of bytes the
// source received before the datagram. The kernel's queue is
// net.unix.max_dgram_qlen datagrams (SO_RCVBUF does not change it): a small
// one is logged at start.
//
// In both, LineContext::path is the socket path and file_id is 0 (the rules
// then make a messageId from a random per-process prefix and a counter).
//
// Backpressure: Pause() stops reading every stream client and the datagram
// socket (the kernel's buffers fill and the writers wait: they are the
// buffer). If the pipeline stays full (the spool full with when_full: block),
// the owner calls Shed(): the socket and its clients are read again and their
// lines dropped and counted, so that an application's writes never block
// forever.
//
// Start: a stale socket file at `path` (a socket nobody listens on) is
// removed; anything else there (a regular file, a live socket) is an error,
// never removed. A missing parent directory is created 0755 (the socket's own
// `mode` guards access). The socket gets `mode` and `group` before it accepts
// anything.
//
// Close: stops accepting, reads what the clients have already written into
// the kernel's buffers (bounded; not while paused) and delivers its complete
// lines, closes every client and the socket, and removes the socket file if it
// is still the one this source created.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <set>
#include <string>

#include "config/config.h"
#include "core/error.h"
#include "core/log.h"
#include "source/line_sink.h"

namespace tailtrack {

struct UnixSourceStats {
  uint64_t lines = 0;            // delivered to the sink
  uint64_t bytes = 0;            // received
  uint64_t truncated_lines = 0;  // longer than max_line_bytes, cut
  uint64_t skipped_lines = 0;    // longer than max_line_bytes, dropped
  uint64_t dropped_lines = 0;    // read while the pipeline was full: could not be taken
  uint64_t cut_lines = 0;        // stream: incomplete lines cut for clients_buffer (also in truncated/skipped)
  uint64_t clients_accepted = 0;
  uint64_t clients_rejected = 0;  // over max_clients with no idle client to close: closed at once
  uint64_t clients_evicted = 0;   // the silent-longest client, closed to admit a new one
  uint64_t clients_timed_out = 0; // silent for client_idle_timeout
  uint64_t held_bytes = 0;        // stream: all clients' incomplete lines now
  uint64_t clients = 0;           // connected now
};

// Why Start() failed; `mark` is where the offending key was written.
struct SourceError {
  Mark mark;
  std::string message;
};

class UnixSource {
 public:
  // A client silent at least this long may be closed to admit a new one.
  static constexpr int64_t kEvictAfterMs = 1'000;
  // The most read from one stream client in one read call.
  static constexpr size_t kReadChunk = 64 * 1024;
  static constexpr int kDatagramBudget = 256;
  // Datagrams taken by one recvmmsg call, and what a slot keeps in memory.
  static constexpr int kDatagramBatch = 64;
  static constexpr size_t kSlotKeep = 64 * 1024;
  // A datagram queue shorter than this is logged at start (systemd sets 512).
  static constexpr long kEnoughDatagramQueue = 512;
  // What Close() still reads from one client's kernel buffer, and in all.
  static constexpr size_t kCloseReadPerClient = 256 * 1024;
  static constexpr size_t kCloseReadTotal = 4 * 1024 * 1024;

  // `config` and `sink` must outlive this object. `index` is the source's
  // index in Config::sources; it is passed on in every LineContext.
  UnixSource(uv_loop_t* loop, const SourceConfig& config, uint32_t index, LineSink& sink);
  ~UnixSource();
  UnixSource(const UnixSource&) = delete;
  UnixSource& operator=(const UnixSource&) = delete;

  // Creates, binds and starts listening on the socket. On failure returns
  // false, fills *error, and delivers nothing ever; Close() is then a no-op.
  // (A handle may still be closing: run the loop before destroying it.)
  bool Start(SourceError* error);

  void Pause();
  void Resume();
  // Paused for too long: read on, dropping (and counting) every line until Resume().
  void Shed();
  bool paused() const { return paused_; }

  // See the file comment. The object may be destroyed once the loop has run
  // the close callbacks (closed() is true).
  void Close();
  bool closed() const { return open_handles_ == 0; }

  UnixSourceStats stats() const;
  const SourceConfig& config() const { return config_; }
  uint32_t index() const { return index_; }  // in Config::sources

 private:
  struct Client;

  bool Bind(int type, SourceError* error);
  void OnConnection();
  void StartReading(Client* c);
  void ReadDatagrams(int budget);
  void Deliver(std::string_view line, uint64_t offset, int64_t now_ms);
  void Frame(Client* c, size_t n);  // the n bytes just read into scratch_ by c's framer
  void DisconnectClient(Client* c, bool flush);
  void DrainClient(Client* c, size_t* budget);
  void KeepToBudget(Client* reader);
  bool EvictIdlest(int64_t now_ms);
  void CloseIdleClients();
  void NoteDatagramQueue();
  void MapDatagramSlots();
  void TakeDatagram(const char* data, size_t n, int64_t now_ms);
  void RemoveSocketFile();

  static void OnConnectionCb(uv_stream_t* server, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void OnPoll(uv_poll_t* h, int status, int events);
  static void OnHandleClosed(uv_handle_t* h);
  static void OnClientClosed(uv_handle_t* h);
  static void OnIdleTimer(uv_timer_t* t);

  uv_loop_t* loop_;
  const SourceConfig& config_;
  uint32_t index_;
  LineSink& sink_;
  size_t max_clients_;

  int fd_ = -1;           // the listening / datagram socket, owned by the handle once started
  dev_t dev_ = 0;         // the socket file this source created
  ino_t ino_ = 0;
  uv_pipe_t server_;      // stream
  uv_poll_t poll_;        // datagram
  uv_timer_t idle_timer_; // stream: closes silent clients
  int open_handles_ = 0;  // ours, the clients' and rejected ones, until their close callbacks
  bool started_ = false;
  bool closing_ = false;
  bool paused_ = false;
  bool shedding_ = false;

  char* slots_ = nullptr;  // datagram: kDatagramBatch (or 1) slots of slot_bytes_
  size_t slot_bytes_ = 0;
  int slot_count_ = 0;
  bool mapped_ = false;    // slots_ is a mapping of its own (else scratch_)
  std::set<Client*> clients_;
  uint64_t held_total_ = 0;  // the clients' incomplete lines, together
  std::string scratch_;  // stream: a client's partial line, then what was read; datagram: the slot without mmap
  UnixSourceStats stats_;
  uint64_t closed_truncated_ = 0;
  uint64_t closed_skipped_ = 0;
  LogThrottle log_throttle_;  // warnings (with the count so far): once per cause a minute
};

}  // namespace tailtrack
