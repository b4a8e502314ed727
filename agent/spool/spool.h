// The disk spool: sealed batches waiting for the collector, in a directory of
// segment files (spool/segment.h), oldest first.
//
// Batches are appended to the newest segment and handed out oldest first by
// Next(); a handed-out batch stays on disk until Ack(). A segment is deleted
// once every record in it has been handed out and acked. A segment gets its
// seal (segment.h; not to be confused with a sealed batch) when the spool
// stops writing to it, at rollover and in the destructor, unless a sync of it
// failed or a failed write could not be cut back. After a restart everything
// not acked is read again from the oldest segment (duplicates are harmless:
// events keep their messageId), and appends go to a new segment: an old one
// is never appended to, except that Open seals one left unsealed by a crash.
//
// The spool never holds a segment in memory: it reads one 32 KiB block at a
// time, and keeps per segment only counts and the records handed out and not
// yet acked. Errors are results and counters, never exceptions.
//
// One owner, one thread (the agent's loop); the directory belongs to one
// process at a time (the caller holds the state lock).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "batch/batch.h"
#include "config/config.h"
#include "core/log.h"
#include "spool/segment.h"

namespace tailtrack {

struct SpoolOptions {
  std::string dir;
  uint64_t max_bytes = 1ull << 30;
  WhenFull when_full = WhenFull::kDropOldest;
  bool fsync = true;
  // A segment is closed once it reaches this size. The spool uses at most
  // max_bytes / 8, so that drop_oldest drops an eighth of it at a time.
  uint64_t segment_bytes = 8ull << 20;
};

struct SpoolStats {
  // Waiting (not yet acked, including handed out), and bytes on disk.
  uint64_t segments = 0, batches = 0, events = 0, bytes = 0;
  // created_ms (wall clock) of the oldest waiting batch, 0 when empty. Exact
  // for batches handed out; for the rest it may be up to one batch early.
  int64_t oldest_ms = 0;
  uint64_t appended_batches = 0, replayed_batches = 0;  // replayed: handed out by Next()
  // drop_oldest: batches not acked when their segment was deleted to make
  // room, whether or not Next() had handed them out.
  uint64_t dropped_batches = 0, dropped_events = 0;
  // Pieces of damage skipped (each bad checksum, bad length, cut record or
  // undecodable payload counts once), and segments set aside as NAME.quarantined.
  uint64_t damaged_records = 0, quarantined_segments = 0;
  uint64_t refused_batches = 0;  // Append answered kFull
};

class Spool {
 public:
  // Creates `dir` (0700) if missing and scans the segments in it, reading
  // each once to count its batches and events and any damage (logged). A
  // segment whose header is torn, has a bad magic or checksum, or an unknown
  // version is renamed aside to NAME.quarantined, counted and logged; one that
  // holds no record is deleted. A segment without its seal is cut back to the
  // end of its last whole record and sealed (synced when options.fsync): the
  // newest one was being written by an agent that died, and that is logged as
  // info; an older one was cut short after it was sealed, and that is damage
  // (counted once, and a warning). Fails (null, and *error: one line naming
  // the directory and the errno text) only when the directory cannot be
  // created or listed.
  static std::unique_ptr<Spool> Open(const SpoolOptions& options, std::string* error);
  // Seals the segment being written, and closes the files without syncing:
  // call Sync() first.
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  enum class AppendResult { kOk, kFull };
  // Appends one sealed batch with its created_ms (as wall clock), ends,
  // sources, origins and body. When it would take the spool past max_bytes:
  // drop_oldest deletes whole oldest segments first (the one being written
  // only when it is the last one left; handed-out records in them are
  // forgotten, a later Ack for them is ignored), counting and logging
  // (throttled) what was dropped; block answers kFull. A batch that cannot fit
  // even in an empty spool, and any write error (ENOSPC, EIO, EDQUOT, EFBIG),
  // is kFull too: a partial write is cut back so the segment stays clean, and
  // the error is logged once a minute.
  AppendResult Append(const Batch& batch);

  // Makes everything appended so far durable as options.fsync says:
  // fdatasync of each segment written since the last call, and fsync of the
  // directory after a segment was created. True when it is; with fsync off,
  // always true (the data is in the page cache, which survives a kill -9).
  // False when a sync failed: what was appended since the last true may not
  // be durable, and a later call does not vouch for it (the segment is
  // closed, unsealed; later appends go to a new one). Cheap when nothing is
  // new: no system call. (A segment closed at rollover is sealed and synced
  // at once, so that its seal is on disk before a newer segment is; a
  // failure there is reported by the next call.)
  bool Sync();

  // The oldest waiting batch not yet handed out, or null. Fills *ref (also
  // kept in the batch's spool_ref, with from_spool set); the batch's
  // created_ms is back on the monotonic clock, its age kept. Damaged records
  // are skipped and counted. A batch handed out stays on disk until Ack.
  std::unique_ptr<Batch> Next(SpoolRef* ref);

  // A batch handed out is done (delivered or dead-lettered). Unknown or
  // repeated refs are ignored.
  void Ack(SpoolRef ref);

  // Next() would return a batch (unless all that is left turns out damaged;
  // Next() then returns null once and this turns false).
  bool has_unread() const { return unread_ > 0; }
  bool empty() const { return stats_.batches == 0; }
  const SpoolStats& stats() const { return stats_; }

 private:
  // A record handed out and not yet acked.
  struct Pending {
    uint64_t events = 0;
    int64_t created_ms = 0;
  };
  struct Segment {
    uint64_t bytes = 0;
    uint64_t records = 0, events = 0;  // whole records in it
    uint64_t acked = 0, acked_events = 0;
    uint64_t handed_out = 0;  // records Next() has passed (acked or pending)
    std::map<uint64_t, Pending> pending;  // by record offset
    uint64_t damage_counted_until = 0;    // Open's scan counted the damage before this offset
    int64_t first_ms = 0;                 // created_ms of its oldest record
    int64_t last_read_ms = 0;             // created_ms of the last record handed out
  };
  using SegmentMap = std::map<uint64_t, Segment>;

  explicit Spool(const SpoolOptions& options);
  std::string PathOf(uint64_t seq) const;
  void AddScanned(uint64_t seq, bool newest);
  // The bytes a new segment holding only record_ takes, with its seal.
  uint64_t NeedAlone() const;
  bool OpenWriter();
  // Seals the segment being written (unless its writer is broken).
  void SealWriter();
  // Seals it, syncs it (with options.fsync) and stops writing to it.
  void CloseWriter();
  bool MakeRoom(uint64_t* need);
  // Deletes the segment once nothing in it waits to be handed out or acked.
  void MaybeRemove(SegmentMap::iterator it);
  void Remove(SegmentMap::iterator it);
  void OnDamage(uint64_t seq, uint64_t offset, std::string_view reason);
  void RefreshOldest();

  SpoolOptions options_;
  uint64_t segment_bytes_;
  SegmentMap segments_;
  uint64_t next_seq_ = 1;

  std::unique_ptr<SegmentWriter> writer_;  // appends to segment writer_seq_
  uint64_t writer_seq_ = 0;
  std::map<uint64_t, std::unique_ptr<SegmentWriter>> unsynced_;  // closed, written since the last Sync
  bool dir_dirty_ = false;  // a segment was created since the directory was last synced
  bool close_sync_failed_ = false;  // CloseWriter could not sync a segment: the next Sync() is false

  int reader_fd_ = -1;  // reads segment reader_seq_
  uint64_t reader_seq_ = 0;
  std::unique_ptr<SegmentReader> reader_;
  uint64_t unread_ = 0;  // records not yet handed out, over all segments

  SpoolStats stats_;
  LogThrottle throttle_;
  std::string record_;  // scratch
};

// What `tailtrack spool` shows of one segment file.
struct SpoolSegmentReport {
  std::string path;
  uint64_t bytes = 0, batches = 0, events = 0;
  int64_t oldest_ms = 0;  // created_ms (wall clock) of its oldest batch, 0 if none
  uint64_t damaged = 0;
  // "FILE: offset N: bad checksum", at most the first 100 of `damaged`. A
  // quarantined file (NAME.seg.quarantined) is reported with its header's
  // problem as damage.
  std::vector<std::string> damage;
  bool sealed = false;
};

// Reads every segment in `dir` (and every quarantined one) and checks every
// checksum; changes nothing. A segment without its seal is damage ("FILE:
// offset N: not sealed: cut short, or its writer was killed; ..."), except
// the newest one when `agent_running` (the caller found the state lock held):
// that one is being written, and may end in a torn record. A missing
// directory is an empty spool. False and *error (one line) when the
// directory cannot be listed.
bool InspectSpool(const std::string& dir, std::vector<SpoolSegmentReport>* out, std::string* error,
                  bool agent_running = false);

}  // namespace tailtrack
