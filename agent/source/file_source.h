// A `type: file` source: finds files by glob, reads the bytes appended to
// them, and hands each complete line to a LineSink.
//
// All on one libuv loop. Changes are seen two ways, so that notification is
// never the only one: a uv_fs_event per file, and a stat pass every
// `poll_interval` that also re-globs to find new files. Reading is plain
// pread(2) on the loop thread, at most kReadChunk bytes per file per loop
// turn (a uv_idle handle keeps turning while any file has unread bytes), so
// that several busy files share the loop fairly with the network.
//
// Identity: device, inode and a fingerprint of the first fingerprint_bytes.
// A truncation, or first bytes that changed, start a new generation (a new
// file_id, so new messageIds: an id is never reused for other bytes); the
// generation's copy (copytruncate's app.log.1, in the glob or beside the
// file) goes on under the old identity from where the original stopped.
// A replaced or deleted file is read until deleted or idle for rotate_wait;
// a file renamed within the glob is the same open file; a second name of an
// open file is not read again. Compressed files are skipped.
//
// Checkpoints: SetCheckpoints() gives the last run's positions, taken up by
// device and inode when the first bytes still match (a known file resumes
// with its identity); start_at applies only to files never seen and not
// written since the last run. Files renamed beside their path while not open
// are found in their directory by inode and read to their end. Positions()
// reports what the agent writes; ForgetFinished() lets it drop rotated files
// whose lines are all settled.
//
// Descriptors: at most max_open_files per source; idle files (and those past
// close_idle_after) are closed and reopened at their position when they grow.
// See docs/sources.md for each rotation scenario.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_file.h"
#include "config/config.h"
#include "core/log.h"
#include "source/line_sink.h"

namespace tailtrack {

// A file's birth time (statx's stx_btime), where the file system records one.
struct FileBirth {
  int64_t sec = 0;
  uint32_t nsec = 0;
};

// LineContext::file_id, and so part of every messageId: a hash of device,
// inode and, when known, birth time, never 0. The birth time tells apart a
// new file that got a recycled inode (logrotate's `create` after the old
// file was deleted), whose lines would otherwise repeat ids already sent.
// Without it (`birth` null: no statx btime) the id is dev + inode only.
uint64_t FileIdentity(uint64_t dev, uint64_t ino, const FileBirth* birth);
// The same for the open file `fd` (whose fstat gave `dev` and `ino`).
uint64_t FileIdentityOf(int fd, dev_t dev, ino_t ino);
// The birth time of the open file `fd` in wall-clock milliseconds, where the
// file system records one.
std::optional<int64_t> BirthMillis(int fd);

// A new identity for new content at the same place (a truncated or
// rewritten file): its lines get messageIds never used before.
uint64_t NextGeneration(uint64_t file_id);

struct FileSourceStats {
  uint64_t lines = 0;
  uint64_t bytes = 0;            // bytes read from files
  uint64_t truncated_lines = 0;  // longer than max_line_bytes, cut
  uint64_t skipped_lines = 0;    // longer than max_line_bytes, dropped
  uint64_t nul_bytes = 0;        // NUL bytes skipped at the start of lines (a file's zeroed region)
  uint64_t files_opened = 0;
  uint64_t truncations = 0;      // files found shorter than their read offset
};

// One file a source watches, for the admin endpoint.
struct FileStatus {
  std::string path;
  uint64_t offset = 0;  // read up to here
  uint64_t size = 0;    // at the last stat pass (at least offset)
  bool open = false;    // holds a descriptor (idle files are closed until they grow)
  uint64_t lag() const { return size - offset; }
};

class FileSource {
 public:
  // The most read from one file in one loop turn.
  static constexpr size_t kReadChunk = 256 * 1024;

  // `config` and `sink` must outlive this object. `index` is the source's
  // index in Config::sources; it is passed on in every LineContext.
  FileSource(uv_loop_t* loop, const SourceConfig& config, uint32_t index, LineSink& sink);
  ~FileSource();
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  // The positions the last run left for this source. Before Start().
  void SetCheckpoints(const std::vector<CheckpointEntry>& known);

  // Globs, opens what it finds (at its checkpoint, or `start_at`) and starts watching.
  void Start();

  // Appends the position of every file being read: `offset` is the end of
  // the last complete line handed to the sink (the owner moves it back to
  // the first line not yet settled).
  void Positions(std::vector<CheckpointEntry>* out);
  // Has the generation and first bytes of every open file not saved yet
  // written where a restart finds them (LineSink::SavePositions): before
  // their lines go out, and before Positions() hands them to a new source.
  void SaveIdentities();
  // Rotated-away files read to their end and closed keep their position
  // (in Positions) until `settled(file_id)` says nothing of them waits.
  void ForgetFinished(const std::function<bool(uint64_t file_id)>& settled);

  // Backpressure: stop and resume reading. Files keep growing meanwhile;
  // they are the buffer.
  void Pause();
  void Resume();
  bool paused() const { return paused_; }

  // Stops reading and closes every handle and descriptor. Incomplete last
  // lines are not emitted. The object may be destroyed once the loop has run
  // the close callbacks (closed() is true).
  void Close();
  bool closed() const { return open_handles_ == 0; }

  size_t file_count() const { return files_.size(); }
  // Every file watched: the ones being read, rotated ones still being read,
  // and idle ones closed until they grow. Cheap, but not for the hot path.
  void Files(std::vector<FileStatus>* out) const;
  FileSourceStats stats() const;
  const SourceConfig& config() const { return config_; }
  uint32_t index() const { return index_; }  // in Config::sources

 private:
  struct File;

  void StatPass(bool initial);
  void Discover(bool initial);
  // One generation of a file's content: enough to recognise its copy.
  struct Generation {
    uint64_t fingerprint = 0;
    uint32_t fingerprint_len = 0;
    uint64_t file_id = 0;
    uint64_t offset = 0;  // the end of the last complete line read from it
    int64_t rewritten_ms = 0;  // wall clock: when it was seen rewritten
  };
  // A copy is recognised only for this long after its original was seen
  // rewritten, and only if it was last written by then (logrotate copies, then
  // truncates): a file that merely begins like another (a fixed banner) is
  // not taken for its copy.
  static constexpr int64_t kCopyWindowMs = 60'000;
  static constexpr uint64_t kCopyCheckBytes = 4096;  // compared before the read position
  static constexpr size_t kRecentGenerations = 32;
  // How long a new file shorter than fingerprint_bytes that begins like an
  // open file waits before it is opened as a new file (see MayBeACopyBeingWritten).
  static constexpr int64_t kCopyBeingWrittenMs = 2'000;
  static constexpr int64_t kForgetAfterMs = 2'000;
  // 0: the pass runs at the start of the next loop turn, after every event
  // of this turn's batch and before any read, so a burst costs one pass.
  static constexpr uint64_t kRescanDelayMs = 0;

  File* Open(const std::string& path, bool at_end);
  // Known files renamed out of the glob while the agent was stopped.
  void RecoverRotated();
  using FileKey = std::pair<uint64_t, uint64_t>;  // device, inode
  void RecoverMoved(std::map<FileKey, CheckpointEntry>& entries, const std::vector<FileKey>& keys);
  bool CheckFingerprint(File* f);
  static bool Unsaved(const File* f);
  void Rewritten(File* f);
  bool RecoverCopy(const std::string& dir, const Generation& old);
  bool MayBeACopyBeingWritten(const std::string& path, uint64_t size, int64_t now_ms);
  // Whether the file open at `fd` begins like a file read or a generation
  // just rewritten: then it is that file's copy.
  bool CopyOf(int fd, uint64_t size, Generation* out);
  bool Matches(const std::string& path) const;  // by the globs and excludes
  CheckpointEntry Remember(const File* f) const;
  void Sleep(File* f);  // closes an idle file, remembering its position (dormant_)
  void KeepToBudget(size_t wanted);
  void AdmitBacklog();
  void ScheduleRescan();
  static void OnRescan(uv_timer_t* t);
  File* FindOpen(dev_t dev, ino_t ino) const;  // the open file with this identity, if any
  void Retire(File* f);  // read to the end, then close
  void MoveTo(File* f, const std::string& path);  // an open file renamed to `path`: read on from its offset
  void CloseFile(File* f);
  void MarkDirty(File* f);
  void SchedulePump();
  void Pump();
  // Reads at most one chunk; returns false at end of file.
  bool ReadChunk(File* f);
  void CheckTruncated(File* f, uint64_t size);
  void FlushIdle(File* f, int64_t now_ms);  // now_ms: MonotonicMillis()
  LineContext Context(const File* f) const;  // for f's lines read now: all but the line and its offset
  void Deliver(const File* f, LineContext& ctx, std::string_view line, uint64_t offset);
  template <typename Fn>
  void EachFile(Fn&& fn);

  static void OnTimer(uv_timer_t* t);
  static void OnIdle(uv_idle_t* h);
  static void OnFsEvent(uv_fs_event_t* h, const char* filename, int events, int status);
  static void OnHandleClosed(uv_handle_t* h);
  static void OnFileClosed(uv_handle_t* h);

  uv_loop_t* loop_;
  const SourceConfig& config_;
  uint32_t index_;
  LineSink& sink_;

  uv_timer_t stat_timer_;
  uv_timer_t rescan_timer_;  // a stat pass soon after renames, once for a burst
  bool rescan_armed_ = false;
  uv_idle_t idle_;
  int open_handles_ = 0;  // ours and the files' watchers, until their close callbacks
  bool started_ = false;
  bool closing_ = false;
  bool paused_ = false;
  bool pumping_ = false;

  std::map<std::string, File*> files_;  // by path: the file now at that path
  std::vector<File*> retired_;          // replaced or deleted, being read to their end
  std::map<std::pair<uint64_t, uint64_t>, File*> open_;  // every open file by device and inode
  std::vector<File*> dirty_;            // files that may have unread bytes (File::dirty), in marking order
  std::vector<File*> pumping_files_;    // Pump()'s copy of dirty_, kept for its capacity
  std::map<FileKey, CheckpointEntry> known_;    // the last run's positions not yet taken up
  std::map<FileKey, CheckpointEntry> dormant_;  // files closed (idle, or over the budget), opened again when they grow
  std::vector<std::string> backlog_;  // new files the last stat pass found over the budget, opened as room frees
  std::map<FileKey, CheckpointEntry> finished_;  // rotated-away files closed with lines maybe unsettled
  // Generations rewritten in place (copytruncate) with lines maybe unsettled:
  // in the checkpoint (without a device and inode, which the new generation
  // has) so that a crash before those lines are delivered finds them again
  // in the copy.
  std::vector<CheckpointEntry> rewritten_;
  std::vector<CheckpointEntry> lost_copies_;  // such generations from the last run, looked for at start
  std::set<std::string> known_paths_;           // paths the last run read (for start_at)
  int64_t last_run_ms_ = 0;                     // wall clock of the last run's newest checkpoint entry
  std::map<FileKey, int64_t> dormant_misses_;   // since when (MonotonicMillis) a dormant file has not been found
  std::vector<Generation> recent_;        // generations just rewritten, newest last
  std::map<std::pair<uint64_t, uint64_t>, std::string> compressed_;  // compressed files skipped (said once), by inode
  std::set<std::string> said_;            // other warnings given once: unreadable directories, fifos
  LogThrottle log_throttle_;
  std::map<std::string, int64_t> copying_;  // new files that may be copies being written, since when (MonotonicMillis)
  std::map<std::string, int> unopenable_;  // glob matches open(2) refused, with its errno (warned once)
  std::string scratch_;                 // one read buffer for all files
  std::string utf8_;                    // encoding utf-16*: the line being delivered, in UTF-8
  FileSourceStats stats_;
  uint64_t closed_truncated_ = 0;
  uint64_t closed_skipped_ = 0;
  uint64_t closed_nul_bytes_ = 0;
};

}  // namespace tailtrack
