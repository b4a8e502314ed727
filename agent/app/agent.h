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
// Reload (SIGHUP, or a change of the configuration or key file with
// reload.watch): the configuration is read again and, if valid, applied
// without stopping: see app/reload_plan.h and docs/reload.md. A bad one is
// refused with its FILE:LINE:COLUMN error and the running one stays.
//
// Admin endpoint: with admin.listen, an HTTP server on this same loop
// (admin/http_server.h) answers /healthz, /readyz, /status and /metrics from
// the components' counters, read on request (agent_status.cc). It is closed
// last, at the end of the drain, so /readyz says "draining" meanwhile.
#pragma once

#include <uv.h>

#include <cstdio>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin/http_server.h"
#include "app/service_notify.h"
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

// Configuration reloads, for the admin endpoint (the reload itself fills them).
struct ReloadStats {
  int64_t loaded_at_ms = 0;  // wall clock: when the configuration running now was loaded
  uint64_t reloads = 0;      // succeeded
  uint64_t failures = 0;
  std::string last_error;    // of the last failed reload; empty when none
};

class Agent : private LineSink, private BatchListener, private DeliveryListener {
 public:
  static constexpr size_t kMaxPendingFactor = 2;  // 8 batches with the default 4 in flight: enough to keep them busy
  static constexpr uint64_t kCheckpointIntervalMs = 1'000;
  // How long socket writers may be made to wait while the pipeline is full.
  static constexpr int64_t kShedSocketsAfterMs = 2'000;
  static constexpr int64_t kReplayProgressEveryMs = 5'000;

  // `config` must outlive the agent (a reload's configurations are the agent's own).
  Agent(const Config& config, std::unique_ptr<RuleSet> rules, AgentOptions options = {});
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // The admin endpoint's /healthz fails when the loop has not turned for this long.
  static constexpr int64_t kStalledAfterMs = 5'000;
  static constexpr uint64_t kHeartbeatMs = 1'000;
  // /readyz fails when batches wait and nothing was delivered for this long.
  static constexpr int64_t kNoProgressMs = 60'000;

  // Runs until a signal and its drain. Returns the exit status: 0, or
  // kExitConfig when state_dir or the spool cannot be created or a unix
  // source's socket or admin.listen cannot be set up (one FILE:LINE:COLUMN
  // line on stderr),
  // 1 when curl cannot start, another agent holds state_dir, or events were
  // lost at the end.
  int Run();

  const AgentStats& stats() const { return stats_; }

  // systemd's notify protocol: a reload calls service().Reloading() as it
  // begins and service().Reloaded() when it is done.
  ServiceNotify& service() { return service_; }

 private:
  void OnLine(const LineContext& line) override;
  void OnFileQuiet(const LineContext& file) override;
  void SavePositions(const std::vector<CheckpointEntry>& unsaved) override;
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
  void SettlePositions(std::vector<CheckpointEntry>* entries) const;
  void SnapshotPositions();
  std::optional<uint64_t> UnsettledFrom(uint32_t source, uint64_t file_id) const;
  void ReloadKey();
  ServiceCounters NotifyCounters() const;  // for the STATUS= line

  // Live reload (agent_reload.cc).
  void Reload(std::string_view why);
  void StopSource(size_t index, std::vector<CheckpointEntry>* positions);
  void StartSource(size_t index, const std::vector<CheckpointEntry>& positions);
  void StartDecoders(size_t index);
  void StartWatch();
  bool WatchedFilesChanged();
  static void OnWatchTimer(uv_timer_t* t);
  // Counts of what a reload replaced (see carried_).
  struct SourceCounts;
  void CarryRuleCounts();
  void Carry(size_t index, const SourceCounts& counts);
  RuleStats RuleTotals() const;  // the rules' counts, the carried ones added
  void LogReplayProgress();  // every few seconds while an earlier run's spool is replayed

  // The admin endpoint (agent_status.cc): reads the components' counters on request.
  bool StartAdmin();
  AdminResponse HandleAdmin(std::string_view path);
  // {ready, reason}: "ready", or why not (one line).
  std::pair<bool, std::string> Readiness() const;
  std::string StatusJson() const;
  std::string MetricsText() const;
  static void OnHeartbeat(uv_timer_t* t);

  static void OnSignal(uv_signal_t* h, int signum);
  static void OnHangup(uv_signal_t* h, int signum);
  static void OnFlushTimer(uv_timer_t* t);
  static void OnDrainTimer(uv_timer_t* t);
  static void OnFinishTimer(uv_timer_t* t);
  static void OnHousekeeping(uv_timer_t* t);
  void TrimHeapWhenQuiet();
  // Each source's losses so far, logged at most once a minute (LossLog).
  void LogLosses();

  const Config* config_;  // the one in use: the caller's, or the last reload's
  std::vector<std::unique_ptr<Config>> reloaded_;  // every reload's, kept: sources and batches still refer to them
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
  uv_timer_t watch_timer_;  // reload.watch
  uv_timer_t heartbeat_timer_;  // proves to /healthz that the loop turns

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
  std::unique_ptr<AdminServer> admin_;
  std::string checkpoint_path_;
  std::string ahead_path_;      // checkpoints.ahead (MergeNewer says what it is)
  bool ahead_on_disk_ = false;  // written since the checkpoint file was
  // The replay of an earlier run's spool, followed on a terminal (total 0: not followed).
  struct {
    uint64_t total = 0;
    int64_t started_ms = 0;
    int64_t logged_ms = 0;
  } replay_;
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
  uint64_t lines_at_last_tick_ = 0;  // for TrimHeapWhenQuiet
  bool heap_trimmed_ = true;

  std::set<size_t> not_started_;  // sockets a reload could not bind
  size_t watched_hash_ = 0;       // of the configuration and key files, for reload.watch
  // Sources a reload stopped, until their handles have closed.
  std::vector<std::unique_ptr<FileSource>> stopped_files_;
  std::vector<std::unique_ptr<UnixSource>> stopped_sockets_;
  ServiceNotify service_;  // READY, WATCHDOG, STATUS, STOPPING to systemd
  ReloadStats reload_stats_;
  // What the rules and sources a reload replaced had counted, so that
  // /status and /metrics go on from there instead of restarting at 0.
  struct SourceCounts {
    uint64_t lines = 0, bytes = 0, truncated = 0, skipped = 0, dropped = 0;
  };
  struct Carried {
    std::map<std::pair<size_t, std::string>, uint64_t> matched;  // (source index, rule name)
    std::vector<uint64_t> unmatched, not_json, invalid;            // by source index
    std::vector<SourceCounts> sources;                             // by source index
  } carried_;
  int64_t started_ms_ = 0;       // wall clock, for /status and tailtrack_start_time_seconds
  int64_t started_mono_ms_ = 0;  // MonotonicMillis()
  int64_t heartbeat_ms_ = 0;     // MonotonicMillis() at the last heartbeat
};

}  // namespace tailtrack
