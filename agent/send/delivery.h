// Where a sealed batch waits until the collector has it: in memory, in the
// disk spool, or in flight in the sender. The policy (spec section 6):
//
//   - while the collector is healthy, batches wait in memory and go straight
//     out: they never touch the disk. When memory is full the owner pauses
//     its file sources (files are the buffer); a batch holding socket lines,
//     which have no file to wait in, goes to the spool;
//   - while the collector fails (any state but healthy), new batches are
//     appended to the spool, and the ones waiting in memory follow them;
//   - the sender takes new batches and the spool's in turn, the spool's
//     oldest first, one batch at a time, as its slots allow;
//   - at the end of a drain, everything still in memory or in flight goes to
//     the spool.
//
// A batch is *settled* when its events are delivered, refused for good, or
// durably in the spool (after Spool::Sync, as spool.fsync says): its origins
// are then released to the listener, which may move file checkpoints past
// them. A batch replayed from the spool was settled when it was spooled; its
// delivery acknowledges its record instead.
//
// Without a spool (dry runs) batches wait in memory only and the owner pauses
// its sources while full() holds.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string_view>
#include <vector>

#include "batch/batch.h"
#include "core/log.h"
#include "send/sender.h"

namespace tailtrack {

class Spool;

class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  // The batch with these origins is delivered, refused, or safely spooled.
  virtual void OnSettled(const std::vector<BatchOrigin>& origins) = 0;
  // Event `index` of `batch` is refused for good by the collector.
  virtual void OnEventRefused(const Batch& batch, size_t index, long status, std::string_view answer) = 0;
  // Memory has room again (full() went false), or a drain's wait is over.
  virtual void OnProgress() = 0;
};

struct DeliveryStats {
  uint64_t delivered_batches = 0;
  uint64_t delivered_events = 0;
  uint64_t spooled_batches = 0;
  uint64_t replayed_batches = 0;
  uint64_t lost_events = 0;  // could be neither sent nor spooled before the process ended
};

class Delivery : private SenderListener {
 public:
  static constexpr uint64_t kSyncDelayMs = 20;

  // `sender` is made by the caller with this object as its listener (see
  // listener()). `spool` may be null. Both must outlive this object.
  Delivery(uv_loop_t* loop, size_t max_memory_batches, Spool* spool, DeliveryListener& listener);
  ~Delivery();
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;

  SenderListener& sender_listener() { return *this; }
  void set_sender(Sender* sender) { sender_ = sender; }

  // Starts sending what the spool holds from an earlier run.
  void Start() { Pump(); }
  // A new sealed batch.
  void Submit(std::unique_ptr<Batch> batch);

  // Memory holds as many batches as it may: the owner pauses its file sources.
  bool full() const { return memory_.size() >= max_memory_; }
  // Memory is at most half full: paused sources may resume (the gap keeps
  // them from pausing and resuming at every batch).
  bool low() const { return memory_.size() <= max_memory_ / 2; }
  // The spool refuses batches (full with block, or a write error; or there
  // is none) and memory is full: the owner pauses its sockets too.
  bool blocked() const { return (spool_ == nullptr || spool_refused_) && memory_.size() >= max_memory_; }
  // Nothing new is replayed from the spool; what is in memory and in flight goes on.
  void BeginDrain();
  // Nothing waits in memory and nothing is in flight (the spool may hold more).
  bool drained() const;
  // The end: the sender must be closed (Sender::Close) first. Its unsent
  // batches and everything in memory go to the spool, which is synced.
  // Returns the events that could not be kept (no spool, or it refused them).
  uint64_t SpoolEverything(std::vector<std::unique_ptr<Batch>> unsent);

  size_t waiting_in_memory() const { return memory_.size() + replayed_.size(); }
  const DeliveryStats& stats() const { return stats_; }

 private:
  void OnDelivered(std::unique_ptr<Batch> batch) override;
  void OnEventRefused(const Batch& batch, size_t index, long status, std::string_view answer) override;
  void OnReturned(std::unique_ptr<Batch> batch) override;
  void OnReady() override;

  bool ShouldSpool(const Batch& batch) const;
  // Appends to the spool and schedules the sync that settles it. False
  // (the batch is still the caller's) when the spool refuses it.
  bool ToSpool(std::unique_ptr<Batch>& batch);
  void SpoolMemory();
  void NoteRoom();  // the collector fails: what waits in memory moves to the spool
  void Pump();
  void ScheduleSync();
  void SyncNow();
  static void OnSyncTimer(uv_timer_t* t);

  uv_loop_t* loop_;
  size_t max_memory_;
  Spool* spool_;
  Sender* sender_ = nullptr;
  DeliveryListener& listener_;

  std::deque<std::unique_ptr<Batch>> memory_;    // new batches, not in the spool
  std::deque<std::unique_ptr<Batch>> replayed_;  // read back from the spool, failed once: sent again first
  std::vector<BatchOrigin> unsynced_;            // origins of batches appended since the last sync
  size_t unsynced_batches_ = 0;
  uv_timer_t sync_timer_;
  bool sync_armed_ = false;
  bool draining_ = false;
  bool pumping_ = false;
  bool was_full_ = false;
  bool replay_turn_ = false;
  bool spool_refused_ = false;  // the last append was refused  // whose turn it is when memory and the spool both have batches
  LogThrottle log_throttle_;
  DeliveryStats stats_;
};

}  // namespace tailtrack
