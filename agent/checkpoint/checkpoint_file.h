// The checkpoint file, {state_dir}/checkpoints: where each file was read up
// to, so that a restart (or a kill -9) resumes there instead of at start_at.
//
// Layout, every integer fixed-width little-endian:
//
//   magic     8 bytes  "TTCKPT\r\n"
//   version   u32      1
//   count     u32      number of entries, <= kMaxCheckpointEntries
//   entries   count x { u32 length + source bytes, u32 length + path bytes
//                       (each <= kMaxCheckpointString), u64 dev, u64 ino,
//                       u64 file_id, u64 fingerprint, u32 fingerprint_len,
//                       u64 offset, i64 updated_ms }
//   crc       u32      zlib crc32 of every byte before it
//
// The file is small and rewritten whole (SaveCheckpoints), never appended to,
// so one checksum over all of it is enough: unlike the spool there is no torn
// tail to tolerate, and a file that fails any check is refused whole.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tailtrack {

// One file's read position, as persisted in {state_dir}/checkpoints.
struct CheckpointEntry {
  std::string source;        // the source's name (config order may change between runs)
  std::string path;          // the path the file was last read under
  uint64_t dev = 0, ino = 0;
  uint64_t file_id = 0;      // the identity messageIds are made from
  uint64_t fingerprint = 0;  // Fingerprint() of the file's first fingerprint_len bytes
  uint32_t fingerprint_len = 0;
  uint64_t offset = 0;       // the next byte to read: every line before it is delivered or safely spooled
  int64_t updated_ms = 0;    // wall clock

  bool operator==(const CheckpointEntry&) const = default;
};

inline constexpr uint32_t kCheckpointVersion = 1;
inline constexpr size_t kMaxCheckpointString = 4096;     // a source name or a path, in bytes
inline constexpr size_t kMaxCheckpointEntries = 10'000'000;

// The file's bytes. Every string must be at most kMaxCheckpointString bytes and
// there may be at most kMaxCheckpointEntries entries, or ParseCheckpoints will
// refuse the result (SaveCheckpoints checks this; callers of Encode alone must).
std::string EncodeCheckpoints(const std::vector<CheckpointEntry>& entries);

// Parses the bytes of a checkpoint file into *out (replacing its contents).
// Everything is checked against the size before it is used, so any input is
// safe. False with a one-line *error on any inconsistency: bad magic, unknown
// version, truncated, a length past its bound, trailing garbage, checksum
// mismatch; *out is then empty.
bool ParseCheckpoints(std::string_view bytes, std::vector<CheckpointEntry>* out, std::string* error);

// Reads and parses PATH. A missing file is not an error: true, *out empty.
// Unreadable or damaged: false with *error "PATH: reason"; the caller then
// calls SetAsideCheckpoints and starts empty.
bool LoadCheckpoints(const std::string& path, std::vector<CheckpointEntry>* out, std::string* error);

// Replaces PATH atomically: writes PATH.tmp (0600; a stale one from a crash is
// overwritten), fsyncs it, renames it over PATH and fsyncs the directory, so
// that after a crash PATH holds either the old or the new entries, whole.
// False with *error ("PATH: what failed: errno text") on any failure; when the
// failure is before the rename, PATH is untouched and PATH.tmp removed. (A
// failure to fsync the directory is reported too, though PATH then already
// holds the new entries.) Also false, writing nothing, when an entry's string
// is longer than kMaxCheckpointString or there are too many entries.
bool SaveCheckpoints(const std::string& path, const std::vector<CheckpointEntry>& entries, std::string* error);

// {state_dir}/checkpoints.ahead: between two writes of the checkpoint file,
// whenever a new file generation is about to be read, the open files'
// entries are appended there first, so that a crash finds every generation
// whose lines may have gone out without the checkpoint file being rewritten
// whole each time. The checkpoint file's next write makes it redundant (the
// agent then deletes it). Each record is a u32 length, then the bytes of a
// checkpoint file (EncodeCheckpoints).
//
// One record's bytes.
std::string EncodeCheckpointRecord(const std::vector<CheckpointEntry>& entries);
// Appends one record holding `entries` and syncs it (fdatasync).
bool AppendCheckpointRecord(const std::string& path, const std::vector<CheckpointEntry>& entries,
                            std::string* error);
// Every entry of every whole record of PATH, oldest first; a record cut by a
// crash, and what follows it, is left out and cut off the file (so that
// records appended later are read). A missing file: true, none.
bool LoadCheckpointRecords(const std::string& path, std::vector<CheckpointEntry>* out, std::string* error);
// The same for the file's bytes; returns how many of them the whole records span.
size_t ParseCheckpointRecords(std::string_view bytes, std::vector<CheckpointEntry>* out);
// The checkpoint file's entries brought up to date by the ahead file's:
// each entry of `newer`, in order, replaces the entry of the same file in
// `entries` (same source, device and inode; for an entry without an inode,
// same source and file_id), or is added. By order, not by updated_ms: the
// wall clock may step back. (An ahead file older than the checkpoint, left
// by a crash between the checkpoint's rename and the ahead file's deletion,
// only moves offsets back: lines sent again under their ids.)
void MergeNewer(std::vector<CheckpointEntry>* entries, const std::vector<CheckpointEntry>& newer);

// Renames a damaged checkpoint file to PATH.damaged-<unix seconds> (with
// ".1", ".2"... added if that name is taken) so it can be inspected; returns
// the new name, or "" with errno set if the rename failed.
std::string SetAsideCheckpoints(const std::string& path);

}  // namespace tailtrack
