// The running agent: one libuv loop that owns every source, the batcher and
// the sender, and the drain on SIGTERM/SIGINT.
//
//   FileSource, UnixSource --lines--> RuleSet::Map --events--> Batcher --batches--> Sender --> collector
//        ^                                                                 |
//        +---------------- pause/resume (backpressure) ---------------------+
//
// Backpressure: when kMaxPendingFactor x max_in_flight batches (at least 8)
// are queued or in flight, every source stops reading; they resume when half
// have drained. Files are the buffer; memory stays bounded.
//
// Drain: the first SIGTERM/SIGINT stops reading (incomplete last lines are
// not sent), seals the open batch, and waits for queued and in-flight batches
// up to collector.drain_timeout; what is left is logged; every handle is
// closed; Run() returns 0. A second signal ends the wait at once.
#pragma once

#include <uv.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "batch/batcher.h"
#include "config/config.h"
#include "core/log.h"
#include "rules/rule_set.h"
#include "send/sender.h"
#include "source/file_source.h"
#include "source/unix_source.h"
#include "spool/dead_letter.h"

namespace tailtrack {

struct AgentOptions {
  // No network and no state: each batch is printed to `out` as one line of
  // JSON and counts as delivered.
  bool dry_run = false;
  FILE* out = stdout;
};

struct AgentStats {
  uint64_t lines = 0;
  uint64_t delivered_batches = 0;
  uint64_t delivered_events = 0;
  uint64_t dead_letters = 0;
};

class Agent : private LineSink, private BatchListener, private SenderListener {
 public:
  static constexpr size_t kMaxPendingFactor = 4;

  // `config` must outlive the agent.
  Agent(const Config& config, std::unique_ptr<RuleSet> rules, AgentOptions options = {});
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs until a signal and its drain. Returns the exit status: 0, or
  // kExitConfig when state_dir cannot be created or a unix source's socket
  // cannot be set up (one FILE:LINE:COLUMN line on stderr), 1 when curl
  // cannot start.
  int Run();

  const AgentStats& stats() const { return stats_; }

 private:
  void OnLine(const LineContext& line) override;
  void OnBatch(std::unique_ptr<Batch> batch) override;
  void OnDeadLetter(std::string_view reason, std::string_view event_json, uint32_t source) override;
  void OnDelivered(std::unique_ptr<Batch> batch) override;
  void OnRefused(std::unique_ptr<Batch> batch, long status, std::string_view answer) override;

  void BeginDrain();
  void AfterSend();  // backpressure and the end of a drain
  void Finish();     // closes everything; the loop then ends
  void CloseAll();
  bool StartSockets();
  void ArmFlushTimer();
  void WriteDeadLetter(std::string_view reason, std::string_view event_json, uint32_t source);

  static void OnSignal(uv_signal_t* h, int signum);
  static void OnFlushTimer(uv_timer_t* t);
  static void OnDrainTimer(uv_timer_t* t);
  static void OnFinishTimer(uv_timer_t* t);

  const Config& config_;
  std::unique_ptr<RuleSet> rules_;
  AgentOptions options_;

  uv_loop_t loop_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  uv_timer_t flush_timer_;
  uv_timer_t drain_timer_;
  uv_timer_t finish_timer_;

  std::vector<std::unique_ptr<FileSource>> sources_;
  std::vector<std::unique_ptr<UnixSource>> sockets_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<Sender> sender_;
  std::unique_ptr<DeadLetter> dead_letter_;

  size_t max_pending_ = 8;
  bool paused_ = false;
  bool flush_armed_ = false;
  bool draining_ = false;
  bool finishing_ = false;
  LogThrottle log_throttle_;
  AgentStats stats_;
};

}  // namespace tailtrack
