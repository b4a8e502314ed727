#include "app/agent.h"

#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <filesystem>

#include "core/clock.h"
#include "config/loader.h"
#include "core/log.h"

namespace tailtrack {

Agent::Agent(const Config& config, std::unique_ptr<RuleSet> rules, AgentOptions options)
    : config_(&config),
      rules_(std::move(rules)),
      options_(options),
      service_(SystemdNotifier::FromEnvironment(), [this] { return NotifyCounters(); }) {}

Agent::~Agent() = default;

// state_dir (created 0700), locked for the agent's life; the checkpoints of
// the last run; the spool. Errors are one line on stderr.
bool Agent::OpenState() {
  std::error_code ec;
  if (!std::filesystem::is_directory(config_->state_dir, ec)) {
    std::filesystem::create_directories(config_->state_dir, ec);
    if (ec) {
      const ConfigError error(config_->path, config_->state_dir_mark,
                              fmt::format("cannot create state_dir {}: {}", config_->state_dir, ec.message()));
      std::fprintf(stderr, "%s\n", error.what());
      exit_status_ = kExitConfig;
      return false;
    }
    ::chmod(config_->state_dir.c_str(), 0700);
  }
  std::string error;
  lock_ = StateLock::Acquire(config_->state_dir, &error);
  if (!lock_) {
    std::fprintf(stderr, "tailtrack: %s\n", error.c_str());
    exit_status_ = 1;
    return false;
  }
  checkpoint_path_ = config_->state_dir + "/checkpoints";
  ahead_path_ = checkpoint_path_ + ".ahead";
  if (!LoadCheckpoints(checkpoint_path_, &last_checkpoints_, &error)) {
    const std::string aside = SetAsideCheckpoints(checkpoint_path_);
    Log(LogLevel::kError, "{}; set aside as {}: files are read as if never seen (start_at)", error, aside);
    last_checkpoints_.clear();
  }
  std::vector<CheckpointEntry> ahead;
  if (!LoadCheckpointRecords(ahead_path_, &ahead, &error)) {
    const std::string aside = SetAsideCheckpoints(ahead_path_);
    Log(LogLevel::kError, "{}; set aside as {}: files first read after the last checkpoint are read as if never seen",
        error, aside);
    ahead.clear();
  }
  MergeNewer(&last_checkpoints_, ahead);
  // Deleted by the first checkpoint write, before anything is appended to it
  // again: records appended after a torn one would never be read.
  ahead_on_disk_ = std::filesystem::exists(ahead_path_, ec);
  spool_ = Spool::Open(SpoolOptions{config_->spool.dir, config_->spool.max_bytes, config_->spool.when_full,
                                    config_->spool.fsync},
                       &error);
  if (!spool_) {
    std::fprintf(stderr, "%s\n", ConfigError(config_->path, config_->state_dir_mark, error).what());
    exit_status_ = kExitConfig;
    return false;
  }
  const SpoolStats& waiting = spool_->stats();
  if (waiting.batches > 0) {
    Log(LogLevel::kInfo, "spool {}: {} batches ({} events, {} bytes) wait from an earlier run; replaying them",
        config_->spool.dir, waiting.batches, waiting.events, waiting.bytes);
    // Someone watching a terminal sees the replay go on (a journal has the line above).
    if (::isatty(STDERR_FILENO)) replay_.total = waiting.batches;
  }
  return true;
}

int Agent::Run() {
  std::signal(SIGPIPE, SIG_IGN);
  // Descriptors: the soft limit (often 1,024) up to the hard one; each source
  // keeps to its max_open_files below it.
  struct rlimit files;
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  started_ms_ = WallClockMillis();
  started_mono_ms_ = MonotonicMillis();
  if (reload_stats_.loaded_at_ms == 0) reload_stats_.loaded_at_ms = started_ms_;
  if (!options_.dry_run && !OpenState()) return exit_status_;

  uv_loop_init(&loop_);
  for (uv_signal_t* s : {&sigterm_, &sigint_, &sighup_}) {
    uv_signal_init(&loop_, s);
    s->data = this;
  }
  for (uv_timer_t* t : {&flush_timer_, &drain_timer_, &finish_timer_, &housekeeping_timer_, &watch_timer_,
                        &heartbeat_timer_}) {
    uv_timer_init(&loop_, t);
    t->data = this;
  }
  service_.Init(&loop_);
  uv_signal_start(&sigterm_, OnSignal, SIGTERM);
  uv_signal_start(&sigint_, OnSignal, SIGINT);
  uv_signal_start(&sighup_, OnHangup, SIGHUP);

  const size_t max_memory =
      std::max<size_t>(8, kMaxPendingFactor * static_cast<size_t>(std::max(1, config_->collector.max_in_flight)));
  batcher_ = std::make_unique<Batcher>(config_->batch, static_cast<BatchListener&>(*this));
  for (size_t i = 0; i < config_->sources.size(); ++i) StartDecoders(i);
  if (!options_.dry_run) {
    delivery_ = std::make_unique<Delivery>(&loop_, max_memory, spool_.get(), static_cast<DeliveryListener&>(*this));
    dead_letter_ = std::make_unique<DeadLetter>(DeadLetterPath(*config_), config_->dead_letter.max_bytes);
    sender_ = std::make_unique<Sender>(&loop_, config_->collector, delivery_->sender_listener());
    delivery_->set_sender(sender_.get());
    std::string error;
    if (!sender_->Init(&error)) {
      Log(LogLevel::kError, "{}", error);
      Finish();
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
      return 1;
    }
  }

  if (!StartSockets() || !StartAdmin()) {
    CloseAll();
    uv_run(&loop_, UV_RUN_DEFAULT);
    sockets_.clear();
    admin_.reset();
    sender_.reset();
    uv_loop_close(&loop_);
    return kExitConfig;
  }

  Log(LogLevel::kInfo, "tailtrack {} starting: {} sources; {}", TAILTRACK_VERSION, config_->sources.size(),
      options_.dry_run ? std::string("dry run, batches go to stdout")
                       : fmt::format("sending to {}/v1/capture (compression {}, {} requests at once)",
                                     config_->collector.url,
                                     config_->collector.compression == Compression::kGzip ? "gzip" : "none",
                                     config_->collector.max_in_flight));
  for (size_t i = 0; i < config_->sources.size(); ++i) {
    if (config_->sources[i].type == SourceType::kFile) StartSource(i, last_checkpoints_);
  }

  for (const auto& s : sockets_) {
    const SourceConfig& sc = s->config();
    Log(LogLevel::kInfo, "source {}: listening on {} ({}, mode {:04o}{}{})", sc.name, sc.path,
        sc.protocol == SocketProtocol::kStream ? "stream" : "datagram", sc.mode, sc.group.empty() ? "" : ", group ",
        sc.group);
  }
  started_ = true;
  StartWatch();
  service_.Started();
  if (!options_.dry_run) {
    WriteCheckpoints();  // entries of files gone for good are dropped now
    uv_timer_start(&housekeeping_timer_, OnHousekeeping, kCheckpointIntervalMs, kCheckpointIntervalMs);
    delivery_->Start();  // replays what the spool holds
  }

  uv_run(&loop_, UV_RUN_DEFAULT);
  admin_.reset();
  sources_.clear();
  sockets_.clear();
  stopped_files_.clear();
  stopped_sockets_.clear();
  sender_.reset();
  delivery_.reset();
  uv_loop_close(&loop_);
  return exit_status_;
}

// Sockets are bound before anything is read, so that a socket that cannot be
// set up stops the agent before it has taken a line it could not deliver.
bool Agent::StartSockets() {
  for (size_t i = 0; i < config_->sources.size(); ++i) {
    const SourceConfig& sc = config_->sources[i];
    if (sc.type != SourceType::kUnix) continue;
    auto source = std::make_unique<UnixSource>(&loop_, sc, static_cast<uint32_t>(i), static_cast<LineSink&>(*this));
    SourceError error;
    const bool ok = source->Start(&error);
    sockets_.push_back(std::move(source));  // a failed one may still have a handle closing
    if (!ok) {
      std::fprintf(stderr, "%s\n", ConfigError(config_->path, error.mark, error.message).what());
      return false;
    }
  }
  return true;
}

void Agent::OnLine(const LineContext& raw) {
  ++stats_.lines;
  LineContext line = raw;
  if (LineTranscoder* transcoder = transcoders_[line.source].get()) line.line = transcoder->ToUtf8(raw.line);
  if (EnvelopeDecoder* decoder = decoders_[line.source].get()) {
    decoder->OnLine(line, mapper_);
  } else {
    MapLine(line);
  }
}

void Agent::OnFileQuiet(const LineContext& file) {
  if (EnvelopeDecoder* decoder = decoders_[file.source].get()) decoder->Flush(file, mapper_);
}

void Agent::MapLine(const LineContext& line) {
  rules_->Map(line, *batcher_);
  if (batcher_->has_open_batch() && !flush_armed_) ArmFlushTimer();
}

void Agent::ArmFlushTimer() {
  const int64_t interval = config_->batch.flush_interval.count();
  const int64_t due = batcher_->opened_ms() + interval - MonotonicMillis();
  flush_armed_ = true;
  uv_timer_start(&flush_timer_, OnFlushTimer, static_cast<uint64_t>(std::clamp<int64_t>(due, 0, interval)), 0);
}

void Agent::OnFlushTimer(uv_timer_t* t) {
  auto* self = static_cast<Agent*>(t->data);
  self->flush_armed_ = false;
  if (!self->batcher_->has_open_batch()) return;
  // The batch that armed the timer may have gone out full; this one may be younger.
  if (MonotonicMillis() - self->batcher_->opened_ms() >= self->config_->batch.flush_interval.count()) {
    self->batcher_->Flush();
  } else {
    self->ArmFlushTimer();
  }
}

void Agent::OnBatch(std::unique_ptr<Batch> batch) {
  if (options_.dry_run) {
    batch->StampSentAt(WallClockMillis());
    std::fwrite(batch->body().data(), 1, batch->body().size(), options_.out);
    std::fputc('\n', options_.out);
    std::fflush(options_.out);
    ++stats_.delivered_batches;
    stats_.delivered_events += batch->event_count();
    return;
  }
  for (const BatchOrigin& o : batch->origins) {
    if (o.file_id != 0) ++holds_[{o.source, o.file_id}][o.first_offset];
  }
  delivery_->Submit(std::move(batch));
  UpdatePause();
}

// Files pause when memory is full (they are the buffer); sockets only when
// the spool refuses too, and not for long (see OnHousekeeping).
void Agent::UpdatePause() {
  if (!delivery_) return;  // a dry run: nothing waits
  const bool files = !draining_ && (paused_ ? !delivery_->low() : delivery_->full());
  const bool sockets = !draining_ && (sockets_paused_ ? !delivery_->low() : delivery_->blocked());
  if (files != paused_) {
    paused_ = files;
    Log(LogLevel::kDebug, "{} batches waiting in memory: reading files {}", delivery_->waiting_in_memory(),
        files ? "paused" : "resumed");
    for (auto& s : sources_) files ? s->Pause() : s->Resume();
  }
  if (sockets != sockets_paused_) {
    sockets_paused_ = sockets;
    if (sockets) sockets_paused_since_ms_ = MonotonicMillis();
    for (auto& s : sockets_) sockets ? s->Pause() : s->Resume();
  }
}

void Agent::OnDeadLetter(std::string_view reason, std::string_view event_json, uint32_t source) {
  WriteDeadLetter(reason, event_json, source);
}

void Agent::WriteDeadLetter(std::string_view reason, std::string_view event_json, uint32_t source) {
  ++stats_.dead_letters;
  std::string_view name;
  if (source < config_->sources.size()) name = config_->sources[source].name;
  if (!dead_letter_) {
    Log(LogLevel::kWarn, "source {}: event not sent: {}", name, reason);
    return;
  }
  if (!dead_letter_->Write(reason, name, event_json) && log_throttle_.Due("dead letter")) {
    Log(LogLevel::kError, "cannot write the dead-letter file {}; its events are counted and dropped",
        dead_letter_->path());
  }
}

void Agent::OnSettled(const std::vector<BatchOrigin>& origins) {
  for (const BatchOrigin& o : origins) {
    if (o.file_id == 0) continue;
    auto file = holds_.find({o.source, o.file_id});
    if (file == holds_.end()) continue;
    auto at = file->second.find(o.first_offset);
    if (at == file->second.end()) continue;
    if (--at->second == 0) file->second.erase(at);
    if (file->second.empty()) holds_.erase(file);
  }
}

void Agent::OnEventRefused(const Batch& batch, size_t index, long status, std::string_view answer) {
  WriteDeadLetter(fmt::format("collector answered {}: {}", status, answer), batch.event(index),
                  batch.event_source(index));
}

void Agent::OnProgress() {
  UpdatePause();
  // Not from inside the sender's callback: Finish() closes the sender.
  if (draining_ && delivery_->drained()) uv_timer_start(&finish_timer_, OnFinishTimer, 0, 0);
}

// Positions as FileSource reports them, moved back to the first line of any
// batch not settled yet, the open one included.
void Agent::WriteCheckpoints() {
  if (!lock_) return;
  // Once draining, the sources are closed: their last positions were taken then.
  if (!draining_) {
    for (auto& source : sources_) {
      source->ForgetFinished([&](uint64_t file_id) { return !UnsettledFrom(source->index(), file_id); });
    }
    SnapshotPositions();
  }
  std::vector<CheckpointEntry> entries = positions_;
  SettlePositions(&entries);
  auto same = [](const CheckpointEntry& a, const CheckpointEntry& b) {
    return a.source == b.source && a.path == b.path && a.dev == b.dev && a.ino == b.ino && a.file_id == b.file_id &&
           a.fingerprint == b.fingerprint && a.fingerprint_len == b.fingerprint_len && a.offset == b.offset;
  };
  if (!ahead_on_disk_ && entries.size() == last_checkpoints_.size() &&
      std::equal(entries.begin(), entries.end(), last_checkpoints_.begin(), same)) {
    return;
  }
  std::string error;
  if (!SaveCheckpoints(checkpoint_path_, entries, &error)) {
    if (log_throttle_.Due("checkpoints")) Log(LogLevel::kError, "cannot write checkpoints: {}", error);
    return;
  }
  last_checkpoints_ = std::move(entries);
  // The checkpoint holds all the ahead file held.
  if (ahead_on_disk_ && (::unlink(ahead_path_.c_str()) == 0 || errno == ENOENT)) ahead_on_disk_ = false;
}

// Each entry's offset moved back to the first line not settled yet.
void Agent::SettlePositions(std::vector<CheckpointEntry>* entries) const {
  for (CheckpointEntry& e : *entries) {
    const uint32_t source = static_cast<uint32_t>(config_->FindSource(e.source).value_or(0));
    if (const auto from = UnsettledFrom(source, e.file_id)) e.offset = std::min(e.offset, *from);
  }
}

// A file source is about to hand on the first lines of new file generations
// (FileSource::ReadChunk says why a restart must find them). Their entries
// are appended to the ahead file rather than the whole checkpoint rewritten:
// with 50,000 files known, a checkpoint per batch of new files made reading
// them quadratic.
void Agent::SavePositions(const std::vector<CheckpointEntry>& unsaved) {
  if (!lock_ || draining_) return;
  std::vector<CheckpointEntry> entries = unsaved;
  SettlePositions(&entries);
  std::string error;
  if (!AppendCheckpointRecord(ahead_path_, entries, &error)) {
    if (log_throttle_.Due("checkpoints")) Log(LogLevel::kError, "cannot write checkpoints: {}", error);
    return;
  }
  ahead_on_disk_ = true;
}

// The offset of the first line of file `file_id` not settled yet: held by a
// batch (the open one included) or a container line still in pieces. None
// when every line read from it is settled.
std::optional<uint64_t> Agent::UnsettledFrom(uint32_t source, uint64_t file_id) const {
  std::optional<uint64_t> from;
  auto take = [&](uint64_t offset) { from = from ? std::min(*from, offset) : offset; };
  if (auto held = holds_.find({source, file_id}); held != holds_.end() && !held->second.empty()) {
    take(held->second.begin()->first);
  }
  if (const Batch* open = batcher_ ? batcher_->open_batch() : nullptr) {
    for (const BatchOrigin& o : open->origins) {
      if (o.source == source && o.file_id == file_id) take(o.first_offset);
    }
  }
  if (const EnvelopeDecoder* decoder = decoders_[source].get()) {
    if (const auto held = decoder->HeldFrom(file_id)) take(*held);
  }
  return from;
}

void Agent::SnapshotPositions() {
  positions_.clear();
  for (auto& source : sources_) source->Positions(&positions_);
}

void Agent::OnHousekeeping(uv_timer_t* t) {
  // Every kCheckpointIntervalMs: checkpoints, and sockets paused too long.
  auto* self = static_cast<Agent*>(t->data);
  self->WriteCheckpoints();
  if (self->replay_.total > 0) self->LogReplayProgress();
  // Files are the buffer while reading is paused; sockets have none worth
  // the name, and their writers must not block forever.
  if (self->sockets_paused_ && MonotonicMillis() - self->sockets_paused_since_ms_ >= kShedSocketsAfterMs) {
    for (auto& s : self->sockets_) s->Shed();
  }
  self->LogLosses();
  self->TrimHeapWhenQuiet();
}

// After a burst, glibc keeps the heap it freed (batches, read buffers)
// mapped: a sidecar that once read a backlog would hold that peak for good.
// At the first housekeeping tick that sees no new line, the free memory goes
// back to the system, once per quiet spell (a few milliseconds at most).
void Agent::TrimHeapWhenQuiet() {
  const bool quiet = stats_.lines == lines_at_last_tick_;
  lines_at_last_tick_ = stats_.lines;
  if (!quiet) {
    heap_trimmed_ = false;
  } else if (!heap_trimmed_) {
    heap_trimmed_ = true;
    malloc_trim(0);
  }
}

void Agent::LogLosses() {
  std::vector<SourceLosses> losses(config_->sources.size());
  for (const auto& s : sources_) {
    const FileSourceStats fs = s->stats();
    losses[s->index()].truncated += fs.truncated_lines;
    losses[s->index()].skipped += fs.skipped_lines;
  }
  for (const auto& s : sockets_) {
    const UnixSourceStats us = s->stats();
    SourceLosses& l = losses[s->index()];
    l.truncated += us.truncated_lines;
    l.skipped += us.skipped_lines;
    l.dropped += us.dropped_lines;
    l.cut_clients += us.cut_lines;
  }
  for (size_t i = 0; i < carried_.sources.size() && i < losses.size(); ++i) {  // sources a reload restarted
    losses[i].truncated += carried_.sources[i].truncated;
    losses[i].skipped += carried_.sources[i].skipped;
    losses[i].dropped += carried_.sources[i].dropped;
  }
  for (size_t i = 0; i < decoders_.size(); ++i) {
    if (!decoders_[i]) continue;
    losses[i].undecodable += decoders_[i]->stats().undecodable;
    losses[i].cut_records += decoders_[i]->stats().cut;
  }
  const int64_t now = MonotonicMillis();
  for (size_t i = 0; i < losses.size(); ++i) {
    loss_log_.Note(config_->sources[i].name, config_->sources[i].format == Format::kCri ? "CRI" : "docker", losses[i],
                   now);
  }
}

ServiceCounters Agent::NotifyCounters() const {
  ServiceCounters c;
  c.lines = stats_.lines;
  c.events = delivery_ ? delivery_->stats().delivered_events : stats_.delivered_events;
  if (spool_) {
    c.spool_batches = spool_->stats().batches;
    c.spool_bytes = spool_->stats().bytes;
  }
  if (sender_) c.collector = CollectorStateName(sender_->state());
  return c;
}

void Agent::LogReplayProgress() {
  const int64_t now = MonotonicMillis();
  if (replay_.started_ms == 0) replay_.started_ms = replay_.logged_ms = now;
  const uint64_t replayed = std::min(replay_.total, delivery_->stats().replayed_batches);
  if (replayed == replay_.total) {
    Log(LogLevel::kInfo, "spool replay: the {} batches of the earlier run replayed in {:.1f} s", replay_.total,
        (now - replay_.started_ms) / 1000.0);
    replay_.total = 0;
  } else if (now - replay_.logged_ms >= kReplayProgressEveryMs) {
    Log(LogLevel::kInfo, "spool replay: {} of {} batches replayed", replayed, replay_.total);
    replay_.logged_ms = now;
  }
}

void Agent::OnHangup(uv_signal_t* h, int) { static_cast<Agent*>(h->data)->Reload("SIGHUP"); }

// A refused reload still takes a new key from write_key_file: a key fixed
// after a 401 should not wait for the configuration to be fixed too.
void Agent::ReloadKey() {
  if (!sender_ || config_->collector.write_key_file.empty()) return;
  SecretString key;
  std::string error;
  if (!ReadWriteKeyFile(config_->collector.write_key_file, &key, &error)) return;  // the reload's error said why
  sender_->SetWriteKey(key);
  Log(LogLevel::kInfo, "write key re-read from {}", config_->collector.write_key_file);
}

void Agent::OnSignal(uv_signal_t* h, int signum) {
  auto* self = static_cast<Agent*>(h->data);
  if (self->draining_) {
    Log(LogLevel::kWarn, "signal {} again: stopping without waiting", signum);
    uv_timer_start(&self->finish_timer_, OnFinishTimer, 0, 0);
    return;
  }
  Log(LogLevel::kInfo, "signal {}: draining (up to {} ms)", signum, self->config_->collector.drain_timeout.count());
  self->BeginDrain();
}

void Agent::BeginDrain() {
  service_.Stopping();
  SnapshotPositions();
  draining_ = true;
  // Sockets stop accepting and hand on the complete lines already queued to them.
  for (auto& s : sockets_) s->Close();
  for (auto& s : sources_) s->Close();
  uv_timer_stop(&flush_timer_);
  flush_armed_ = false;
  batcher_->Flush();
  if (options_.dry_run) {
    uv_timer_start(&finish_timer_, OnFinishTimer, 0, 0);
    return;
  }
  uv_timer_start(&drain_timer_, OnDrainTimer, static_cast<uint64_t>(config_->collector.drain_timeout.count()), 0);
  delivery_->BeginDrain();
  OnProgress();
}

void Agent::OnDrainTimer(uv_timer_t* t) { static_cast<Agent*>(t->data)->Finish(); }

void Agent::OnFinishTimer(uv_timer_t* t) { static_cast<Agent*>(t->data)->Finish(); }

void Agent::Finish() {
  if (finishing_) return;
  finishing_ = true;
  service_.Stopping();
  for (auto& s : sockets_) s->Close();
  for (auto& s : sources_) s->Close();
  if (sender_) {
    sender_->Close();
    const uint64_t lost = delivery_->SpoolEverything(sender_->TakeUnsent());
    if (lost > 0) {
      stats_.lost_events = lost;
      exit_status_ = 1;
      Log(LogLevel::kError, "stopping with {} events neither delivered nor kept in the spool: they are lost", lost);
    }
    // Sources that never started have no positions: the last run's stay.
    if (started_) WriteCheckpoints();
    if (spool_ && !spool_->empty()) {
      const SpoolStats& waiting = spool_->stats();
      Log(LogLevel::kInfo, "{} batches ({} events) wait in the spool for the next start", waiting.batches,
          waiting.events);
    }
  }
  const DeliveryStats& d = delivery_ ? delivery_->stats() : DeliveryStats{};
  Log(LogLevel::kInfo, "stopped: {} lines read, {} events in {} batches delivered, {} dead letters", stats_.lines,
      options_.dry_run ? stats_.delivered_events : d.delivered_events,
      options_.dry_run ? stats_.delivered_batches : d.delivered_batches, stats_.dead_letters);
  // What was cut, skipped or dropped on the way, said once at the end, per source.
  for (const auto& s : sources_) {
    const FileSourceStats fs = s->stats();
    if (fs.truncated_lines + fs.skipped_lines > 0) {
      Log(LogLevel::kInfo, "source {}: {} lines truncated and {} skipped for max_line_bytes", s->config().name,
          fs.truncated_lines, fs.skipped_lines);
    }
    if (fs.nul_bytes > 0) {
      Log(LogLevel::kInfo, "source {}: {} NUL bytes skipped (zeroed regions of files, not lines)", s->config().name,
          fs.nul_bytes);
    }
  }
  for (const auto& s : sockets_) {
    const UnixSourceStats us = s->stats();
    if (us.truncated_lines + us.skipped_lines + us.dropped_lines > 0) {
      Log(LogLevel::kInfo, "source {}: {} lines truncated and {} skipped for max_line_bytes ({} of them incomplete "
          "lines cut for clients_buffer), {} dropped while the pipeline was full", s->config().name,
          us.truncated_lines, us.skipped_lines, us.cut_lines, us.dropped_lines);
    }
    if (us.clients_rejected + us.clients_evicted > 0) {
      Log(LogLevel::kInfo, "source {}: {} connections closed at max_clients: {} new ones refused, {} silent ones "
          "closed to admit others", s->config().name, us.clients_rejected + us.clients_evicted, us.clients_rejected,
          us.clients_evicted);
    }
  }
  for (size_t i = 0; i < decoders_.size(); ++i) {
    if (!decoders_[i]) continue;
    const EnvelopeDecoder::Stats& es = decoders_[i]->stats();
    if (es.undecodable + es.cut > 0) {
      Log(LogLevel::kInfo, "source {}: {} lines were not {} records, {} records were over max_line_bytes",
          config_->sources[i].name, es.undecodable, config_->sources[i].format == Format::kCri ? "CRI" : "docker",
          es.cut);
    }
  }
  CloseAll();
}

// Every Close() here is idempotent; what is left is closed without a callback.
void Agent::CloseAll() {
  if (admin_) admin_->Close();  // the last to answer: /readyz says draining until here
  for (auto& s : sockets_) s->Close();
  for (auto& s : sources_) s->Close();
  if (sender_) sender_->Close();
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
}

}  // namespace tailtrack
