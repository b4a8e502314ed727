// Live reload: Agent::Reload and what it needs. See app/reload_plan.h for what
// changes and docs/operations.md for what an operator sees.
#include <fstream>
#include <functional>
#include <sstream>

#include "app/agent.h"
#include "app/reload_plan.h"
#include "config/loader.h"
#include "core/clock.h"

namespace tailtrack {

namespace {

constexpr uint64_t kWatchIntervalMs = 2'000;

std::string Join(const Config& config, const std::vector<size_t>& indices) {
  std::string out;
  for (size_t i : indices) out += (out.empty() ? "" : ", ") + config.sources[i].name;
  return out;
}

// The whole file, or empty when it cannot be read: a change either way.
std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

void Agent::Reload(std::string_view why) {
  if (draining_ || finishing_ || !started_) {
    Log(LogLevel::kInfo, "{}: not reloading while {}", why, started_ ? "stopping" : "starting");
    return;
  }
  service_.Reloading();
  WatchedFilesChanged();  // what is about to be loaded is the reference: a later change reloads again
  ReloadPlan plan;
  std::unique_ptr<RuleSet> rules;
  try {
    plan = PlanReload(*config_, LoadConfig(config_->path, ProcessEnv(),
                                           LoadOptions{.require_write_key = !options_.dry_run}));
    rules = RuleSet::Compile(plan.config);
    // A socket a reload could not bind is tried again, though unchanged.
    std::erase_if(plan.kept, [&](size_t i) {
      if (!not_started_.count(i)) return false;
      plan.restarted.push_back(i);
      return true;
    });
  } catch (const ConfigError& e) {
    ++reload_stats_.failures;
    reload_stats_.last_error = e.what();
    Log(LogLevel::kError, "{}: configuration refused, the running one stays: {}", why, e.what());
    ReloadKey();
    service_.Reloaded();
    return;
  }
  auto owned = std::make_unique<Config>(std::move(plan.config));
  const Config& next = *owned;

  // Sources that changed or went stop first: a socket hands on the complete
  // lines its clients already wrote, mapped by the rules they were sent under.
  // Their read positions carry over, so nothing is read twice or skipped.
  std::vector<CheckpointEntry> positions;
  for (size_t i : plan.restarted) StopSource(i, &positions);
  for (size_t i : plan.retired) StopSource(i, nullptr);

  if (plan.batch_changed) {
    batcher_->Flush();
    batcher_ = std::make_unique<Batcher>(next.batch, static_cast<BatchListener&>(*this));
  }
  CarryRuleCounts();
  rules_ = std::move(rules);
  reloaded_.push_back(std::move(owned));
  config_ = &next;
  if (plan.collector_changed && sender_) sender_->Reconfigure(next.collector);

  for (size_t i : plan.restarted) StartSource(i, positions);
  for (size_t i : plan.added) StartSource(i, last_checkpoints_);
  UpdatePause();
  ++reload_stats_.reloads;
  reload_stats_.last_error.clear();
  reload_stats_.loaded_at_ms = WallClockMillis();
  StartWatch();

  std::string changes;
  auto say = [&](const char* what, const std::vector<size_t>& which) {
    if (!which.empty()) changes += fmt::format("; {} {}", what, Join(next, which));
  };
  say("restarted", plan.restarted);
  say("added", plan.added);
  say("removed", plan.retired);
  if (plan.collector_changed) changes += "; collector settings changed";
  if (plan.batch_changed) changes += "; batch settings changed";
  Log(LogLevel::kInfo, "{}: configuration reloaded from {}: {} rules{}", why, next.path, next.rules.size(), changes);
  service_.Reloaded();
  if (!plan.restart_only.empty()) {
    Log(LogLevel::kWarn, "{}: {} changed in {}: that takes effect at the next start", why,
        fmt::join(plan.restart_only, ", "), next.path);
  }
}

// The decoding stages of source `index`, fresh: container envelopes and
// legacy encodings.
void Agent::StartDecoders(size_t index) {
  if (decoders_.size() <= index) decoders_.resize(index + 1);
  if (transcoders_.size() <= index) transcoders_.resize(index + 1);
  const SourceConfig& sc = config_->sources[index];
  transcoders_[index] = LineTranscoder::For(sc.encoding);
  decoders_[index].reset();
  if (sc.format == Format::kCri || sc.format == Format::kDocker) {
    decoders_[index] = std::make_unique<EnvelopeDecoder>(sc);
  }
}

// Starts source `index` of the configuration in use. A file source resumes
// the files among `positions` that are its own (by source name); a socket is
// bound now (a failure is logged: the other sources go on).
void Agent::StartSource(size_t index, const std::vector<CheckpointEntry>& positions) {
  const SourceConfig& sc = config_->sources[index];
  StartDecoders(index);
  const uint32_t at = static_cast<uint32_t>(index);
  if (sc.type == SourceType::kUnix) {
    auto source = std::make_unique<UnixSource>(&loop_, sc, at, static_cast<LineSink&>(*this));
    SourceError error;
    if (!source->Start(&error)) {
      Log(LogLevel::kError, "{}; the other sources go on, the next reload tries it again",
          ConfigError(config_->path, error.mark, error.message).what());
      stopped_sockets_.push_back(std::move(source));
      not_started_.insert(index);
      return;
    }
    not_started_.erase(index);
    if (sockets_paused_) source->Pause();
    sockets_.push_back(std::move(source));
    return;
  }
  auto source = std::make_unique<FileSource>(&loop_, sc, at, static_cast<LineSink&>(*this));
  std::vector<CheckpointEntry> known;
  for (const CheckpointEntry& e : positions) {
    if (e.source == sc.name) known.push_back(e);
  }
  source->SetCheckpoints(known);
  source->Start();
  if (paused_) source->Pause();
  Log(LogLevel::kInfo, "source {}: {} files match {}", sc.name, source->file_count(), fmt::join(sc.paths, ", "));
  sources_.push_back(std::move(source));
}

// Stops source `index`. With `positions`, a file source's read positions are
// added to it, each moved back to the first piece of a container line still
// held by its decoder, so that a restarted source reads that line again whole.
void Agent::StopSource(size_t index, std::vector<CheckpointEntry>* positions) {
  for (auto it = sources_.begin(); it != sources_.end(); ++it) {
    if ((*it)->index() != index) continue;
    if (positions) {
      // The new source takes these entries as already named on disk.
      (*it)->SaveIdentities();
      const size_t first = positions->size();
      (*it)->Positions(positions);
      if (const EnvelopeDecoder* decoder = decoders_[index].get()) {
        for (size_t k = first; k < positions->size(); ++k) {
          CheckpointEntry& e = (*positions)[k];
          if (const auto held = decoder->HeldFrom(e.file_id)) e.offset = std::min(e.offset, *held);
        }
      }
    }
    const FileSourceStats st = (*it)->stats();
    Carry(index, {st.lines, st.bytes, st.truncated_lines, st.skipped_lines, 0});
    (*it)->Close();
    stopped_files_.push_back(std::move(*it));
    sources_.erase(it);
    break;
  }
  for (auto it = sockets_.begin(); it != sockets_.end(); ++it) {
    if ((*it)->index() != index) continue;
    // Paused, it would leave what its clients wrote in the kernel: it hands
    // that on too (bounded by UnixSource's close budget).
    (*it)->Resume();
    (*it)->Close();
    const UnixSourceStats st = (*it)->stats();
    Carry(index, {st.lines, st.bytes, st.truncated_lines, st.skipped_lines, st.dropped_lines});
    stopped_sockets_.push_back(std::move(*it));
    sockets_.erase(it);
    break;
  }
  decoders_[index].reset();
  not_started_.erase(index);
  // Stopped sources whose handles have closed are done with.
  std::erase_if(stopped_files_, [](const auto& s) { return s->closed(); });
  std::erase_if(stopped_sockets_, [](const auto& s) { return s->closed(); });
}

void Agent::Carry(size_t index, const SourceCounts& counts) {
  if (carried_.sources.size() <= index) carried_.sources.resize(index + 1);
  SourceCounts& c = carried_.sources[index];
  c.lines += counts.lines, c.bytes += counts.bytes, c.truncated += counts.truncated;
  c.skipped += counts.skipped, c.dropped += counts.dropped;
}

// The rules about to be replaced: their counts, by source and rule name.
void Agent::CarryRuleCounts() {
  const RuleStats& s = rules_->stats();
  const size_t n = config_->sources.size();
  for (size_t r = 0; r < config_->rules.size(); ++r) {
    for (size_t i = 0; i < n && r * n + i < s.matched_by_source.size(); ++i) {
      if (const uint64_t m = s.matched_by_source[r * n + i]) carried_.matched[{i, config_->rules[r].name}] += m;
    }
  }
  auto add = [n](std::vector<uint64_t>& to, const std::vector<uint64_t>& from) {
    if (to.size() < n) to.resize(n);
    for (size_t i = 0; i < n && i < from.size(); ++i) to[i] += from[i];
  };
  add(carried_.unmatched, s.unmatched);
  add(carried_.not_json, s.not_json);
  add(carried_.invalid, s.invalid_by_source);
}

// reload.watch: the configuration and key files are compared by content every
// kWatchIntervalMs (a ConfigMap or Secret update swaps a symlink, which a
// watch on the file itself would miss).
void Agent::StartWatch() {
  if (!config_->reload.watch) {
    uv_timer_stop(&watch_timer_);
    return;
  }
  if (watched_hash_ == 0) WatchedFilesChanged();  // takes the current contents as the reference
  uv_timer_start(&watch_timer_, OnWatchTimer, kWatchIntervalMs, kWatchIntervalMs);
}

bool Agent::WatchedFilesChanged() {
  std::string contents = Contents(config_->path);
  if (!config_->collector.write_key_file.empty()) contents += Contents(config_->collector.write_key_file);
  const size_t hash = std::hash<std::string>{}(contents);
  const bool changed = watched_hash_ != 0 && hash != watched_hash_;
  watched_hash_ = hash;
  return changed;
}

void Agent::OnWatchTimer(uv_timer_t* t) {
  auto* self = static_cast<Agent*>(t->data);
  if (self->WatchedFilesChanged()) self->Reload("configuration file changed");
}

}  // namespace tailtrack
