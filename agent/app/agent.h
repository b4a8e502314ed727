// The running agent: one libuv loop that owns every source, the batcher, the
// delivery (memory, spool, sender) and the checkpoints.
//
//   FileSource, UnixSource --lines--> RuleSet::Map --events--> Batcher --batches--> Delivery --> Sender --> collector
//        ^          ^                                                                  |  +--> Spool (disk)
//        |          +------------- pause/resume (backpressure) ------------------------+
//        +------------- settled origins --> checkpoints (state_dir/checkpoints) <------+
//
// Checkpoints: a sealed batch holds, for each file it has lines of, the
// offset of its first such line. A file's checkpoint is the end of the last
// line read, moved back to the first line of any batch not yet settled
// (delivered, refused, or synced to the spool) or still open in the batcher.
// They are written every kCheckpointIntervalMs and at the end of a drain.
//
// Backpressure: when memory holds its share of batches, file sources stop
// reading (files are the buffer); when it holds twice that (the spool
// refuses more, or there is none), sockets too, for at most
// kShedSocketsAfterMs before their lines are dropped and counted.
//
// Drain: the first SIGTERM/SIGINT stops reading (incomplete last lines are
// not sent), seals the open batch, and waits for what is in memory and in
// flight up to collector.drain_timeout; then what is left goes to the spool,
// the checkpoints are written, every handle is closed, and Run() returns 0
// (1 if events could be neither sent nor spooled: the log says how many).
// A second signal ends the wait at once.
//
// SIGHUP re-reads collector.write_key_file (the environment is not read
// again); the full reload of the configuration comes later.
#pragma once

#include <uv.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/loss_log.h"
#include "batch/batcher.h"
#include "checkpoint/state_lock.h"
#include "config/config.h"
#include "decode/encoding.h"
#include "decode/envelope.h"
#include "core/log.h"
#include "rules/rule_set.h"
#include "send/delivery.h"
#include "send/sender.h"
#include "source/file_source.h"
#include "source/unix_source.h"
#include "spool/dead_letter.h"
#include "spool/spool.h"

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
  uint64_t lost_events = 0;  // at the end: neither delivered nor kept in the spool
};

class Agent : private LineSink, private BatchListener, private DeliveryListener {
 public:
  static constexpr size_t kMaxPendingFactor = 4;
  static constexpr uint64_t kCheckpointIntervalMs = 1'000;
  // How long socket writers may be made to wait while the pipeline is full.
  static constexpr int64_t kShedSocketsAfterMs = 2'000;

  // `config` must outlive the agent.
  Agent(const Config& config, std::unique_ptr<RuleSet> rules, AgentOptions options = {});
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Runs until a signal and its drain. Returns the exit status: 0, or
  // kExitConfig when state_dir or the spool cannot be created or a unix
  // source's socket cannot be set up (one FILE:LINE:COLUMN line on stderr),
  // 1 when curl cannot start, another agent holds state_dir, or events were
  // lost at the end.
  int Run();

  const AgentStats& stats() const { return stats_; }

 private:
  void OnLine(const LineContext& line) override;
  void OnFileQuiet(const LineContext& file) override;
  void MapLine(const LineContext& line);  // rules, then the batcher
  void OnBatch(std::unique_ptr<Batch> batch) override;
  void OnDeadLetter(std::string_view reason, std::string_view event_json, uint32_t source) override;
  void OnSettled(const std::vector<BatchOrigin>& origins) override;
  void OnEventRefused(const Batch& batch, size_t index, long status, std::string_view answer) override;
  void OnProgress() override;

  bool OpenState();   // state_dir, its lock, the checkpoints, the spool
  void BeginDrain();
  void Finish();     // closes everything; the loop then ends
  void CloseAll();
  bool StartSockets();
  void UpdatePause();  // backpressure: pause or resume sources as the delivery says
  void ArmFlushTimer();
  void WriteDeadLetter(std::string_view reason, std::string_view event_json, uint32_t source);
  void WriteCheckpoints();
  void SnapshotPositions();
  std::optional<uint64_t> UnsettledFrom(uint32_t source, uint64_t file_id) const;
  void ReloadKey();

  static void OnSignal(uv_signal_t* h, int signum);
  static void OnHangup(uv_signal_t* h, int signum);
  static void OnFlushTimer(uv_timer_t* t);
  static void OnDrainTimer(uv_timer_t* t);
  static void OnFinishTimer(uv_timer_t* t);
  static void OnHousekeeping(uv_timer_t* t);
  // Each source's losses so far, logged at most once a minute (LossLog).
  void LogLosses();

  const Config& config_;
  std::unique_ptr<RuleSet> rules_;
  AgentOptions options_;

  uv_loop_t loop_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  uv_signal_t sighup_;
  uv_timer_t flush_timer_;
  uv_timer_t drain_timer_;
  uv_timer_t finish_timer_;
  uv_timer_t housekeeping_timer_;

  // Container envelopes, between sources and rules: one decoder per cri or
  // docker source (by source index; null for the others).
  struct Mapper : LineSink {
    Agent* agent;
    explicit Mapper(Agent* a) : agent(a) {}
    void OnLine(const LineContext& line) override { agent->MapLine(line); }
  };
  Mapper mapper_{this};
  std::vector<std::unique_ptr<EnvelopeDecoder>> decoders_;
  std::vector<std::unique_ptr<LineTranscoder>> transcoders_;  // latin1 / windows-1252 sources

  std::vector<std::unique_ptr<FileSource>> sources_;
  std::vector<std::unique_ptr<UnixSource>> sockets_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<StateLock> lock_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<Delivery> delivery_;
  std::unique_ptr<Sender> sender_;
  std::unique_ptr<DeadLetter> dead_letter_;
  std::string checkpoint_path_;
  std::vector<CheckpointEntry> positions_;         // the sources' positions, before settling
  std::vector<CheckpointEntry> last_checkpoints_;  // what was last written, to skip a write that changes nothing
  // Batches not settled yet, per file: (source, file_id) -> first offset -> how many.
  std::map<std::pair<uint32_t, uint64_t>, std::map<uint64_t, uint32_t>> holds_;

  bool started_ = false;         // the sources started: their positions may be written
  bool paused_ = false;          // file sources
  bool sockets_paused_ = false;
  int64_t sockets_paused_since_ms_ = 0;  // MonotonicMillis()
  int exit_status_ = 0;
  bool flush_armed_ = false;
  bool draining_ = false;
  bool finishing_ = false;
  LogThrottle log_throttle_;
  LossLog loss_log_;
  AgentStats stats_;
};

}  // namespace tailtrack
