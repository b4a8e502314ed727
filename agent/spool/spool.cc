#include "spool/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

#include "core/clock.h"
#include "spool/batch_record.h"

namespace tailtrack {
namespace {

constexpr std::string_view kQuarantined = ".quarantined";
constexpr size_t kMaxDamageListed = 100;

// What one reading of a whole segment file found.
struct SegmentScan {
  std::string error;           // the file could not be opened
  bool gone = false;           // ... because it no longer exists
  std::string header_problem;  // the header is bad: nothing after it was read
  uint64_t bytes = 0, records = 0, events = 0, damaged = 0;
  int64_t oldest_ms = 0;
  std::vector<std::pair<uint64_t, std::string>> damage;  // the first kMaxDamageListed
  bool sealed = false;
  uint64_t framed = 0;  // whole records, decodable or not (what a seal counts)
  uint64_t end = 0;     // the end of the last whole record: what follows it in an unsealed segment is torn
};

// Reads `path` record by record, decoding each batch, as the spool will when
// it replays it. An empty file (a crash right after it was created) is an
// empty segment, not damage.
SegmentScan ScanSegment(const std::string& path) {
  SegmentScan scan;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    scan.gone = errno == ENOENT;
    scan.error = std::strerror(errno);
    return scan;
  }
  struct stat st;
  scan.bytes = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (scan.bytes == 0) {
    ::close(fd);
    return scan;
  }
  char header[kSegmentHeaderSize];
  const ssize_t n = ::pread(fd, header, sizeof header, 0);
  scan.header_problem = CheckSegmentHeader(std::string_view(header, n > 0 ? static_cast<size_t>(n) : 0));
  if (!scan.header_problem.empty()) {
    ::close(fd);
    return scan;
  }
  auto damage = [&scan](uint64_t offset, std::string_view reason) {
    ++scan.damaged;
    if (scan.damage.size() < kMaxDamageListed) scan.damage.emplace_back(offset, std::string(reason));
  };
  SegmentReader reader(fd, kSegmentHeaderSize, damage);
  std::string payload;
  uint64_t offset = 0;
  while (reader.Read(&payload, &offset)) {
    int64_t created = 0;
    const auto batch = DecodeBatchRecord(std::move(payload), &created);
    if (!batch) {
      damage(offset, "undecodable batch record");
      continue;
    }
    scan.oldest_ms = scan.records == 0 ? created : std::min(scan.oldest_ms, created);
    ++scan.records;
    scan.events += batch->event_count();
  }
  scan.sealed = reader.sealed();
  scan.framed = reader.records();
  scan.end = reader.end();
  ::close(fd);
  return scan;
}

// What an unsealed segment lost at its end, for a person.
std::string TornTail(const SegmentScan& scan) {
  if (scan.bytes == 0) return "the file is empty";
  if (scan.bytes <= scan.end) return "it ends after its last whole record";
  return fmt::format("the last {} bytes are a torn record", scan.bytes - scan.end);
}

// The names in `dir`; false with errno set when it cannot be listed.
bool ListDir(const std::string& dir, std::vector<std::string>* names) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  errno = 0;
  while (const dirent* entry = ::readdir(d)) names->emplace_back(entry->d_name);
  const int err = errno;
  ::closedir(d);
  errno = err;
  return err == 0;
}

// NNN of "NNN.seg.quarantined".
std::optional<uint64_t> ParseQuarantinedName(std::string_view name) {
  if (name.size() <= kQuarantined.size() || !name.ends_with(kQuarantined)) return std::nullopt;
  return ParseSegmentName(name.substr(0, name.size() - kQuarantined.size()));
}

bool SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  errno = err;
  return ok;
}

}  // namespace

Spool::Spool(const SpoolOptions& options)
    : options_(options), segment_bytes_(std::min(options.segment_bytes, options.max_bytes / 8)) {}

Spool::~Spool() {
  // The seal is not synced, as nothing is here: if a power cut right after
  // the stop loses it, the next start takes this segment for a crashed
  // agent's and seals it again, which loses nothing.
  if (writer_) SealWriter();
  if (reader_fd_ >= 0) ::close(reader_fd_);
}

std::string Spool::PathOf(uint64_t seq) const { return options_.dir + "/" + SegmentName(seq); }

uint64_t Spool::NeedAlone() const {
  const uint64_t end = kSegmentHeaderSize + FramedSize(record_.size(), kSegmentHeaderSize);
  return end + SealSize(end);
}

std::unique_ptr<Spool> Spool::Open(const SpoolOptions& options, std::string* error) {
  std::error_code ec;
  if (!std::filesystem::is_directory(options.dir, ec)) {
    if (!std::filesystem::create_directories(options.dir, ec) && ec) {
      *error = fmt::format("spool dir {}: cannot create: {}", options.dir, ec.message());
      return nullptr;
    }
    ::chmod(options.dir.c_str(), 0700);
  }
  std::vector<std::string> names;
  if (!ListDir(options.dir, &names)) {
    *error = fmt::format("spool dir {}: cannot list: {}", options.dir, std::strerror(errno));
    return nullptr;
  }

  std::unique_ptr<Spool> spool(new Spool(options));
  std::vector<uint64_t> seqs;
  for (const std::string& name : names) {
    if (auto seq = ParseSegmentName(name)) {
      seqs.push_back(*seq);
    } else if (auto quarantined = ParseQuarantinedName(name)) {
      // Never reuse the number of a file set aside: a second quarantine would overwrite it.
      spool->next_seq_ = std::max(spool->next_seq_, *quarantined + 1);
    }
  }
  std::sort(seqs.begin(), seqs.end());
  for (uint64_t seq : seqs) spool->AddScanned(seq, seq == seqs.back());
  return spool;
}

void Spool::AddScanned(uint64_t seq, bool newest) {
  next_seq_ = std::max(next_seq_, seq + 1);
  const std::string path = PathOf(seq);
  const SegmentScan scan = ScanSegment(path);
  if (!scan.error.empty()) {
    Log(LogLevel::kWarn, "spool: cannot read {}: {}; left alone", path, scan.error);
    return;
  }
  if (!scan.header_problem.empty()) {
    const std::string aside = path + std::string(kQuarantined);
    if (::rename(path.c_str(), aside.c_str()) != 0) {
      Log(LogLevel::kWarn, "spool: {}: {}; cannot rename it aside: {}", path, scan.header_problem,
          std::strerror(errno));
      return;
    }
    ++stats_.quarantined_segments;
    Log(LogLevel::kWarn, "spool: {}: {}; set aside as {}", path, scan.header_problem, aside);
    return;
  }
  if (scan.damaged > 0) {
    stats_.damaged_records += scan.damaged;
    Log(LogLevel::kWarn, "spool: {}: damage skipped in {} places (first at offset {}: {})", path, scan.damaged,
        scan.damage[0].first, scan.damage[0].second);
  }
  uint64_t bytes = scan.bytes;
  if (!scan.sealed) {
    // Every segment an agent closes is sealed, and every start seals the
    // ones left open: so the newest one without a seal is the one a crashed
    // (or killed) agent was writing, and its torn tail is the normal end of
    // that. An older one was cut short after it was sealed (or could not be
    // sealed after a failed write or sync): what it lost is damage.
    const uint64_t torn = scan.bytes > scan.end ? scan.bytes - scan.end : 0;
    const bool silent = newest && torn == 0 && scan.framed == 0;  // created just before a crash
    if (!newest) {
      ++stats_.damaged_records;
      Log(LogLevel::kWarn,
          "spool: {}: not sealed though a newer segment exists: cut short after it was closed, or not closed "
          "cleanly; {}; {}",
          path, TornTail(scan),
          scan.records == 0 ? "removed" : torn > 0 ? "cut back to its last whole record and sealed" : "sealed");
    } else if (!silent) {
      Log(LogLevel::kInfo, "spool: {}: not sealed: the agent writing it was stopped without closing it (a crash or "
          "kill -9); {}; {}",
          path, torn > 0 ? fmt::format("cut off the torn record in its last {} bytes", torn)
                         : std::string("it ends after its last whole record"),
          scan.records > 0 ? "sealed" : "removed");
    }
    if (scan.records > 0) {
      std::string error;
      auto writer = SegmentWriter::Reopen(path, scan.end, scan.framed, &error);
      if (writer && writer->Seal(&error) && (!options_.fsync || writer->Sync(&error))) {
        bytes = writer->size();
      } else {
        // Read as it is, its torn tail is still the end; the next start tries again.
        Log(LogLevel::kWarn, "spool: {}: cannot seal it: {}", path, error);
        if (writer) bytes = writer->size();
      }
    }
  }
  if (scan.records == 0) {  // nothing to replay: a segment created just before a crash, or all damage
    ::unlink(path.c_str());
    return;
  }
  Segment& s = segments_[seq];
  s.bytes = bytes;
  s.records = scan.records;
  s.events = scan.events;
  s.first_ms = scan.oldest_ms;
  s.damage_counted_until = scan.bytes;
  ++stats_.segments;
  stats_.bytes += bytes;
  stats_.batches += scan.records;
  stats_.events += scan.events;
  unread_ += scan.records;
  RefreshOldest();
}

bool Spool::OpenWriter() {
  const uint64_t seq = next_seq_++;  // even on failure: the name may be taken
  std::string error;
  writer_ = SegmentWriter::Create(PathOf(seq), &error);
  if (!writer_) {
    if (throttle_.Due("spool create")) Log(LogLevel::kWarn, "spool: cannot create {}: {}", PathOf(seq), error);
    return false;
  }
  writer_seq_ = seq;
  segments_[seq].bytes = writer_->size();
  ++stats_.segments;
  stats_.bytes += writer_->size();
  dir_dirty_ = true;
  return true;
}

void Spool::SealWriter() {
  if (writer_->sealed() || writer_->broken()) return;  // broken: left unsealed, the next start reports it
  const uint64_t before = writer_->size();
  std::string error;
  if (!writer_->Seal(&error)) {
    if (throttle_.Due("spool seal")) Log(LogLevel::kWarn, "spool: cannot seal {}: {}", writer_->path(), error);
    return;
  }
  if (auto it = segments_.find(writer_seq_); it != segments_.end()) it->second.bytes = writer_->size();
  stats_.bytes += writer_->size() - before;
}

void Spool::CloseWriter() {
  if (!writer_) return;
  SealWriter();
  if (options_.fsync && writer_->dirty()) {
    if (writer_->sealed()) {
      // Synced now, before a newer segment can exist: a seal lost to a power
      // cut would make the next start take this one for a segment cut short.
      std::string error;
      if (!writer_->Sync(&error)) {
        close_sync_failed_ = true;  // the next Sync() says so
        if (throttle_.Due("spool sync")) Log(LogLevel::kWarn, "spool: cannot sync {}: {}", writer_->path(), error);
      }
    } else {
      unsynced_[writer_seq_] = std::move(writer_);
    }
  }
  writer_.reset();
  if (auto it = segments_.find(writer_seq_); it != segments_.end()) MaybeRemove(it);
}

bool Spool::MakeRoom(uint64_t* need) {
  if (options_.when_full == WhenFull::kBlock) return false;
  const uint64_t alone = NeedAlone();
  if (alone > options_.max_bytes) return false;  // dropping everything would not help
  while (stats_.bytes + *need > options_.max_bytes) {
    auto oldest = segments_.begin();
    if (oldest == segments_.end()) return false;
    if (writer_ && oldest->first == writer_seq_) {
      // Only the segment being written is left: close it so that it can go
      // too, and the record starts a new one.
      if (oldest->second.records == 0) return false;
      CloseWriter();
      *need = alone;
      continue;
    }
    const Segment& s = oldest->second;
    const uint64_t batches = s.records - s.acked, events = s.events - s.acked_events;
    stats_.dropped_batches += batches;
    stats_.dropped_events += events;
    if (throttle_.Due("spool dropped")) {
      Log(LogLevel::kWarn,
          "spool: full ({} bytes): dropped the oldest segment, {} batches ({} events); {} batches ({} events) "
          "dropped so far",
          options_.max_bytes, batches, events, stats_.dropped_batches, stats_.dropped_events);
    }
    Remove(oldest);
  }
  return true;
}

Spool::AppendResult Spool::Append(const Batch& batch) {
  const int64_t now = WallClockMillis();
  const int64_t age = batch.created_ms != 0 ? std::max<int64_t>(0, MonotonicMillis() - batch.created_ms) : 0;
  EncodeBatchRecord(batch, now - age, &record_);
  if (writer_ && (writer_->size() >= segment_bytes_ || writer_->broken())) CloseWriter();
  // Room for the record and for the seal after it.
  uint64_t need = NeedAlone();
  if (writer_) {
    const uint64_t framed = FramedSize(record_.size(), writer_->size());
    need = framed + SealSize(writer_->size() + framed);
  }
  if (record_.size() > kMaxRecordBytes ||
      (stats_.bytes + need > options_.max_bytes && !MakeRoom(&need))) {
    ++stats_.refused_batches;
    if (throttle_.Due("spool full")) {
      Log(LogLevel::kWarn, "spool: full ({} of {} bytes): a batch of {} bytes refused ({} refused so far)",
          stats_.bytes, options_.max_bytes, record_.size(), stats_.refused_batches);
    }
    return AppendResult::kFull;
  }
  if (!writer_ && !OpenWriter()) {
    ++stats_.refused_batches;
    return AppendResult::kFull;
  }
  uint64_t offset = 0;
  std::string error;
  const uint64_t before = writer_->size();
  if (!writer_->Append(record_, &offset, &error)) {
    ++stats_.refused_batches;
    if (throttle_.Due("spool write")) {
      Log(LogLevel::kWarn, "spool: cannot write {}: {} ({} batches refused so far)", writer_->path(), error,
          stats_.refused_batches);
    }
    if (writer_->broken()) CloseWriter();
    return AppendResult::kFull;
  }
  Segment& s = segments_[writer_seq_];
  s.bytes = writer_->size();
  stats_.bytes += writer_->size() - before;
  if (s.records == 0) s.first_ms = now - age;
  ++s.records;
  s.events += batch.event_count();
  ++stats_.batches;
  stats_.events += batch.event_count();
  ++stats_.appended_batches;
  ++unread_;
  RefreshOldest();
  return AppendResult::kOk;
}

bool Spool::Sync() {
  if (!options_.fsync) return true;
  bool ok = !close_sync_failed_;
  close_sync_failed_ = false;
  std::string error;
  for (auto& [seq, writer] : unsynced_) {
    if (!writer->Sync(&error)) {
      ok = false;
      if (throttle_.Due("spool sync")) Log(LogLevel::kWarn, "spool: cannot sync {}: {}", writer->path(), error);
    }
  }
  unsynced_.clear();
  if (writer_ && !writer_->Sync(&error)) {
    ok = false;
    if (throttle_.Due("spool sync")) Log(LogLevel::kWarn, "spool: cannot sync {}: {}", writer_->path(), error);
    // After a failed fdatasync the kernel may have dropped the dirty pages and
    // a retry can succeed without writing them: never vouch for this file
    // again. It is left unsealed, so that once a newer segment exists the
    // next start and `tailtrack spool --verify` report it.
    writer_.reset();
    if (auto it = segments_.find(writer_seq_); it != segments_.end()) MaybeRemove(it);
  }
  if (dir_dirty_) {
    if (SyncDir(options_.dir)) {
      dir_dirty_ = false;
    } else {
      ok = false;
      if (throttle_.Due("spool sync")) {
        Log(LogLevel::kWarn, "spool: cannot sync the directory {}: {}", options_.dir, std::strerror(errno));
      }
    }
  }
  return ok;
}

void Spool::OnDamage(uint64_t seq, uint64_t offset, std::string_view reason) {
  auto it = segments_.find(seq);
  if (it != segments_.end() && offset < it->second.damage_counted_until) return;  // counted by Open's scan
  ++stats_.damaged_records;
  if (throttle_.Due("spool damage")) {
    Log(LogLevel::kWarn, "spool: {}: offset {}: {}; skipped ({} damaged records so far)", PathOf(seq), offset,
        reason, stats_.damaged_records);
  }
}

std::unique_ptr<Batch> Spool::Next(SpoolRef* ref) {
  while (unread_ > 0) {
    auto it = std::find_if(segments_.begin(), segments_.end(),
                           [](const auto& entry) { return entry.second.handed_out < entry.second.records; });
    if (it == segments_.end()) break;  // not reached: unread_ counts exactly these
    const uint64_t seq = it->first;
    Segment& s = it->second;
    if (!reader_ || reader_seq_ != seq) {
      if (reader_fd_ >= 0) ::close(reader_fd_);
      reader_.reset();
      reader_seq_ = seq;
      reader_fd_ = ::open(PathOf(seq).c_str(), O_RDONLY | O_CLOEXEC);
      if (reader_fd_ >= 0) {
        reader_ = std::make_unique<SegmentReader>(
            reader_fd_, kSegmentHeaderSize,
            [this, seq](uint64_t offset, std::string_view reason) { OnDamage(seq, offset, reason); });
      } else {
        // Gone or unreadable: what it held cannot be replayed.
        ++stats_.damaged_records;
        Log(LogLevel::kWarn, "spool: cannot read {}: {}", PathOf(seq), std::strerror(errno));
      }
    }
    uint64_t offset = 0;
    std::string payload;
    if (!reader_ || !reader_->Read(&payload, &offset)) {
      // All the segment holds now has been read. Records counted but not
      // found were damaged after they were counted: they are gone.
      unread_ -= s.records - s.handed_out;
      s.handed_out = s.records;
      if (!writer_ || writer_seq_ != seq) {
        if (reader_fd_ >= 0) ::close(reader_fd_);
        reader_fd_ = -1;
        reader_.reset();
      }
      MaybeRemove(it);
      RefreshOldest();
      continue;
    }
    int64_t created = 0;
    auto batch = DecodeBatchRecord(std::move(payload), &created);
    if (!batch) {
      OnDamage(seq, offset, "undecodable batch record");
      continue;
    }
    ++s.handed_out;
    --unread_;
    s.pending[offset] = Pending{batch->event_count(), created};
    s.last_read_ms = created;
    ++stats_.replayed_batches;
    batch->created_ms = MonotonicMillis() - std::max<int64_t>(0, WallClockMillis() - created);
    batch->from_spool = true;
    batch->spool_ref = SpoolRef{seq, offset};
    *ref = batch->spool_ref;
    RefreshOldest();
    return batch;
  }
  return nullptr;
}

void Spool::Ack(SpoolRef ref) {
  auto it = segments_.find(ref.segment);
  if (it == segments_.end()) return;
  Segment& s = it->second;
  auto p = s.pending.find(ref.record);
  if (p == s.pending.end()) return;
  ++s.acked;
  s.acked_events += p->second.events;
  --stats_.batches;
  stats_.events -= p->second.events;
  s.pending.erase(p);
  MaybeRemove(it);
  RefreshOldest();
}

void Spool::MaybeRemove(SegmentMap::iterator it) {
  const Segment& s = it->second;
  if (s.handed_out < s.records || !s.pending.empty()) return;
  if (writer_ && it->first == writer_seq_) {
    if (s.records == 0) return;  // just started
    writer_.reset();             // fully acked: the next Append starts a new segment
  }
  Remove(it);
}

void Spool::Remove(SegmentMap::iterator it) {
  const uint64_t seq = it->first;
  const Segment& s = it->second;
  stats_.batches -= s.records - s.acked;
  stats_.events -= s.events - s.acked_events;
  stats_.bytes -= s.bytes;
  --stats_.segments;
  unread_ -= s.records - s.handed_out;
  if (reader_seq_ == seq) {
    reader_.reset();
    if (reader_fd_ >= 0) ::close(reader_fd_);
    reader_fd_ = -1;
  }
  unsynced_.erase(seq);
  if (writer_ && writer_seq_ == seq) writer_.reset();
  const std::string path = PathOf(seq);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT && throttle_.Due("spool unlink")) {
    // Left behind, it is replayed after a restart: duplicates, not loss.
    Log(LogLevel::kWarn, "spool: cannot delete {}: {}", path, std::strerror(errno));
  }
  segments_.erase(it);
  RefreshOldest();
}

void Spool::RefreshOldest() {
  stats_.oldest_ms = 0;
  for (const auto& [seq, s] : segments_) {
    if (s.records == s.acked) continue;
    int64_t oldest = INT64_MAX;
    // The next record to hand out is at least as new as the last one handed out.
    if (s.handed_out < s.records) oldest = s.handed_out == 0 ? s.first_ms : s.last_read_ms;
    for (const auto& [offset, p] : s.pending) oldest = std::min(oldest, p.created_ms);
    stats_.oldest_ms = oldest == INT64_MAX ? 0 : oldest;
    return;
  }
}

bool InspectSpool(const std::string& dir, std::vector<SpoolSegmentReport>* out, std::string* error,
                  bool agent_running) {
  out->clear();
  std::vector<std::string> names;
  if (!ListDir(dir, &names)) {
    if (errno == ENOENT) return true;
    *error = fmt::format("spool dir {}: cannot list: {}", dir, std::strerror(errno));
    return false;
  }
  std::vector<std::pair<uint64_t, std::string>> files;  // by sequence; a quarantined file beside its number
  for (const std::string& name : names) {
    if (auto seq = ParseSegmentName(name)) files.emplace_back(*seq, name);
    if (auto seq = ParseQuarantinedName(name)) files.emplace_back(*seq, name);
  }
  std::sort(files.begin(), files.end());
  uint64_t newest = 0;
  for (const auto& [seq, name] : files) {
    if (!name.ends_with(kQuarantined)) newest = seq;
  }
  for (const auto& [seq, name] : files) {
    SpoolSegmentReport report;
    report.path = dir + "/" + name;
    const SegmentScan scan = ScanSegment(report.path);
    if (scan.gone) continue;  // delivered and deleted by a running agent since the listing
    report.bytes = scan.bytes;
    if (!scan.error.empty()) {
      report.damaged = 1;
      report.damage.push_back(fmt::format("{}: cannot read: {}", report.path, scan.error));
    } else if (name.ends_with(kQuarantined)) {
      report.damaged = 1;
      report.damage.push_back(fmt::format("{}: set aside by the agent: {}", report.path,
                                          scan.header_problem.empty() ? "quarantined" : scan.header_problem));
    } else if (!scan.header_problem.empty()) {
      report.damaged = 1;
      report.damage.push_back(fmt::format("{}: offset 0: {}", report.path, scan.header_problem));
    } else {
      report.batches = scan.records;
      report.events = scan.events;
      report.oldest_ms = scan.oldest_ms;
      report.damaged = scan.damaged;
      report.sealed = scan.sealed;
      for (const auto& [offset, reason] : scan.damage) {
        report.damage.push_back(fmt::format("{}: offset {}: {}", report.path, offset, reason));
      }
      if (!scan.sealed && !(agent_running && seq == newest)) {
        ++report.damaged;
        if (report.damage.size() < kMaxDamageListed) {
          report.damage.push_back(fmt::format("{}: offset {}: not sealed: cut short, or its writer was killed; {}",
                                              report.path, scan.end, TornTail(scan)));
        }
      }
    }
    out->push_back(std::move(report));
  }
  return true;
}

}  // namespace tailtrack
