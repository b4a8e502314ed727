#include "app/agent.h"

#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <filesystem>

#include "core/clock.h"
#include "core/log.h"

namespace tailtrack {

Agent::Agent(const Config& config, std::unique_ptr<RuleSet> rules, AgentOptions options)
    : config_(config), rules_(std::move(rules)), options_(options) {}

Agent::~Agent() = default;

int Agent::Run() {
  std::signal(SIGPIPE, SIG_IGN);
  if (!options_.dry_run && !config_.state_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(config_.state_dir, ec)) {
      std::filesystem::create_directories(config_.state_dir, ec);
      if (ec) {
        const ConfigError error(config_.path, config_.state_dir_mark,
                                fmt::format("cannot create state_dir {}: {}", config_.state_dir, ec.message()));
        std::fprintf(stderr, "%s\n", error.what());
        return kExitConfig;
      }
      ::chmod(config_.state_dir.c_str(), 0700);
    }
  }

  uv_loop_init(&loop_);
  for (uv_signal_t* s : {&sigterm_, &sigint_}) {
    uv_signal_init(&loop_, s);
    s->data = this;
  }
  for (uv_timer_t* t : {&flush_timer_, &drain_timer_, &finish_timer_}) {
    uv_timer_init(&loop_, t);
    t->data = this;
  }
  uv_signal_start(&sigterm_, OnSignal, SIGTERM);
  uv_signal_start(&sigint_, OnSignal, SIGINT);

  max_pending_ = std::max<size_t>(8, kMaxPendingFactor * static_cast<size_t>(std::max(1, config_.collector.max_in_flight)));
  batcher_ = std::make_unique<Batcher>(config_.batch, static_cast<BatchListener&>(*this));
  if (!options_.dry_run) {
    dead_letter_ = std::make_unique<DeadLetter>(DeadLetterPath(config_), config_.dead_letter.max_bytes);
    sender_ = std::make_unique<Sender>(&loop_, config_.collector, static_cast<SenderListener&>(*this));
    std::string error;
    if (!sender_->Init(&error)) {
      Log(LogLevel::kError, "{}", error);
      Finish();
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
      return 1;
    }
  }

  if (!StartSockets()) {
    CloseAll();
    uv_run(&loop_, UV_RUN_DEFAULT);
    sockets_.clear();
    sender_.reset();
    uv_loop_close(&loop_);
    return kExitConfig;
  }

  Log(LogLevel::kInfo, "tailtrack {} starting: {} sources; {}", TAILTRACK_VERSION, config_.sources.size(),
      options_.dry_run ? std::string("dry run, batches go to stdout")
                       : fmt::format("sending to {}/v1/capture (compression {}, {} requests at once)",
                                     config_.collector.url,
                                     config_.collector.compression == Compression::kGzip ? "gzip" : "none",
                                     config_.collector.max_in_flight));
  for (size_t i = 0; i < config_.sources.size(); ++i) {
    const SourceConfig& sc = config_.sources[i];
    if (sc.type != SourceType::kFile) continue;
    auto source = std::make_unique<FileSource>(&loop_, sc, static_cast<uint32_t>(i), static_cast<LineSink&>(*this));
    source->Start();
    Log(LogLevel::kInfo, "source {}: {} files match {}", sc.name, source->file_count(), fmt::join(sc.paths, ", "));
    sources_.push_back(std::move(source));
  }

  for (const auto& s : sockets_) {
    const SourceConfig& sc = s->config();
    Log(LogLevel::kInfo, "source {}: listening on {} ({}, mode {:04o}{}{})", sc.name, sc.path,
        sc.protocol == SocketProtocol::kStream ? "stream" : "datagram", sc.mode, sc.group.empty() ? "" : ", group ",
        sc.group);
  }

  uv_run(&loop_, UV_RUN_DEFAULT);
  sources_.clear();
  sockets_.clear();
  sender_.reset();
  uv_loop_close(&loop_);
  return 0;
}

// Sockets are bound before anything is read, so that a socket that cannot be
// set up stops the agent before it has taken a line it could not deliver.
bool Agent::StartSockets() {
  for (size_t i = 0; i < config_.sources.size(); ++i) {
    const SourceConfig& sc = config_.sources[i];
    if (sc.type != SourceType::kUnix) continue;
    auto source = std::make_unique<UnixSource>(&loop_, sc, static_cast<uint32_t>(i), static_cast<LineSink&>(*this));
    SourceError error;
    const bool ok = source->Start(&error);
    sockets_.push_back(std::move(source));  // a failed one may still have a handle closing
    if (!ok) {
      std::fprintf(stderr, "%s\n", ConfigError(config_.path, error.mark, error.message).what());
      return false;
    }
  }
  return true;
}

void Agent::OnLine(const LineContext& line) {
  ++stats_.lines;
  rules_->Map(line, *batcher_);
  if (batcher_->has_open_batch() && !flush_armed_) ArmFlushTimer();
}

void Agent::ArmFlushTimer() {
  const int64_t interval = config_.batch.flush_interval.count();
  const int64_t due = batcher_->opened_ms() + interval - MonotonicMillis();
  flush_armed_ = true;
  uv_timer_start(&flush_timer_, OnFlushTimer, static_cast<uint64_t>(std::clamp<int64_t>(due, 0, interval)), 0);
}

void Agent::OnFlushTimer(uv_timer_t* t) {
  auto* self = static_cast<Agent*>(t->data);
  self->flush_armed_ = false;
  if (!self->batcher_->has_open_batch()) return;
  // The batch that armed the timer may have gone out full; this one may be younger.
  if (MonotonicMillis() - self->batcher_->opened_ms() >= self->config_.batch.flush_interval.count()) {
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
    OnDelivered(std::move(batch));
    return;
  }
  sender_->Submit(std::move(batch));
  if (!paused_ && sender_->pending() >= max_pending_) {
    paused_ = true;
    Log(LogLevel::kDebug, "{} batches waiting: reading paused", sender_->pending());
    for (auto& s : sources_) s->Pause();
    for (auto& s : sockets_) s->Pause();
  }
}

void Agent::OnDeadLetter(std::string_view reason, std::string_view event_json, uint32_t source) {
  WriteDeadLetter(reason, event_json, source);
}

void Agent::WriteDeadLetter(std::string_view reason, std::string_view event_json, uint32_t source) {
  ++stats_.dead_letters;
  std::string_view name;
  if (source < config_.sources.size()) name = config_.sources[source].name;
  if (!dead_letter_) {
    Log(LogLevel::kWarn, "source {}: event not sent: {}", name, reason);
    return;
  }
  if (!dead_letter_->Write(reason, name, event_json) && log_throttle_.Due("dead letter")) {
    Log(LogLevel::kError, "cannot write the dead-letter file {}; its events are counted and dropped",
        dead_letter_->path());
  }
}

void Agent::OnDelivered(std::unique_ptr<Batch> batch) {
  ++stats_.delivered_batches;
  stats_.delivered_events += batch->event_count();
  // Here the batch's origins will move checkpoints.
  AfterSend();
}

void Agent::OnRefused(std::unique_ptr<Batch> batch, long status, std::string_view answer) {
  const std::string reason = fmt::format("collector answered {}: {}", status, answer.substr(0, 500));
  for (size_t i = 0; i < batch->event_count(); ++i) WriteDeadLetter(reason, batch->event(i), batch->event_source(i));
  AfterSend();
}

void Agent::AfterSend() {
  const size_t pending = sender_ ? sender_->pending() : 0;
  if (paused_ && pending <= max_pending_ / 2) {
    paused_ = false;
    for (auto& s : sources_) s->Resume();
    for (auto& s : sockets_) s->Resume();
  }
  // Not from inside the sender's callback: Finish() closes the sender.
  if (draining_ && pending == 0) uv_timer_start(&finish_timer_, OnFinishTimer, 0, 0);
}

void Agent::OnSignal(uv_signal_t* h, int signum) {
  auto* self = static_cast<Agent*>(h->data);
  if (self->draining_) {
    Log(LogLevel::kWarn, "signal {} again: stopping without waiting", signum);
    uv_timer_start(&self->finish_timer_, OnFinishTimer, 0, 0);
    return;
  }
  Log(LogLevel::kInfo, "signal {}: draining (up to {} ms)", signum, self->config_.collector.drain_timeout.count());
  self->BeginDrain();
}

void Agent::BeginDrain() {
  draining_ = true;
  // Sockets stop accepting and hand on the complete lines already queued to them.
  for (auto& s : sockets_) s->Close();
  for (auto& s : sources_) s->Close();
  uv_timer_stop(&flush_timer_);
  flush_armed_ = false;
  batcher_->Flush();
  uv_timer_start(&drain_timer_, OnDrainTimer, static_cast<uint64_t>(config_.collector.drain_timeout.count()), 0);
  AfterSend();
}

void Agent::OnDrainTimer(uv_timer_t* t) { static_cast<Agent*>(t->data)->Finish(); }

void Agent::OnFinishTimer(uv_timer_t* t) { static_cast<Agent*>(t->data)->Finish(); }

void Agent::Finish() {
  if (finishing_) return;
  finishing_ = true;
  for (auto& s : sockets_) s->Close();
  for (auto& s : sources_) s->Close();
  if (sender_) {
    sender_->Close();
    size_t batches = 0, events = 0;
    for (const auto& b : sender_->TakeUnsent()) {
      ++batches;
      events += b->event_count();
    }
    if (batches) {
      Log(LogLevel::kWarn, "stopping with {} batches ({} events) not delivered", batches, events);
    }
  }
  Log(LogLevel::kInfo, "stopped: {} lines read, {} events in {} batches delivered, {} dead letters", stats_.lines,
      stats_.delivered_events, stats_.delivered_batches, stats_.dead_letters);
  CloseAll();
}

// Every Close() here is idempotent; what is left is closed without a callback.
void Agent::CloseAll() {
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
