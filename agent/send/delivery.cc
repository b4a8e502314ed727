#include "send/delivery.h"

#include <algorithm>

#include "spool/spool.h"

namespace tailtrack {

Delivery::Delivery(uv_loop_t* loop, size_t max_memory_batches, Spool* spool, DeliveryListener& listener)
    : loop_(loop), max_memory_(max_memory_batches), spool_(spool), listener_(listener) {
  uv_timer_init(loop_, &sync_timer_);
  sync_timer_.data = this;
}

Delivery::~Delivery() = default;

// While the collector is healthy, lines of files wait in their files (the
// owner pauses file sources when memory is full): spooling them would copy
// one file into another. Lines of sockets have no file to wait in.
bool Delivery::ShouldSpool(const Batch& batch) const {
  if (spool_ == nullptr) return false;
  if (!sender_->healthy()) return true;
  if (memory_.size() < max_memory_) return false;
  return std::any_of(batch.origins.begin(), batch.origins.end(), [](const BatchOrigin& o) { return o.file_id == 0; });
}

void Delivery::Submit(std::unique_ptr<Batch> batch) {
  if (ShouldSpool(*batch)) {
    if (!sender_->healthy()) SpoolMemory();  // older first
    if (ToSpool(batch)) {
      Pump();
      return;
    }
  }
  memory_.push_back(std::move(batch));
  Pump();
}

bool Delivery::ToSpool(std::unique_ptr<Batch>& batch) {
  spool_refused_ = spool_->Append(*batch) != Spool::AppendResult::kOk;
  if (spool_refused_) {
    if (log_throttle_.Due("spool full")) {
      Log(LogLevel::kWarn, "the spool takes no more batches (full or failing); {} wait in memory and reading pauses "
          "when memory is full", memory_.size() + 1);
    }
    return false;
  }
  ++stats_.spooled_batches;
  ++unsynced_batches_;
  unsynced_.insert(unsynced_.end(), batch->origins.begin(), batch->origins.end());
  batch.reset();
  ScheduleSync();
  return true;
}

void Delivery::SpoolMemory() {
  while (!memory_.empty()) {
    if (!ToSpool(memory_.front())) return;
    memory_.pop_front();
  }
  NoteRoom();
}

// Memory was full and is half empty again: paused sources may resume.
void Delivery::NoteRoom() {
  if (was_full_ && low()) {
    was_full_ = false;
    listener_.OnProgress();
  }
}

// Appends made within kSyncDelayMs share one sync: the fdatasync, not the
// write, is what costs (one per batch appends 15-40 MiB/s; one per 20 ms
// several times that). Lines are settled only after it.
void Delivery::ScheduleSync() {
  if (sync_armed_) return;
  sync_armed_ = true;
  uv_timer_start(&sync_timer_, OnSyncTimer, kSyncDelayMs, 0);
}

void Delivery::OnSyncTimer(uv_timer_t* t) { static_cast<Delivery*>(t->data)->SyncNow(); }

void Delivery::SyncNow() {
  sync_armed_ = false;
  if (unsynced_batches_ == 0) return;
  unsynced_batches_ = 0;
  if (!spool_->Sync()) {
    // Not durable: the checkpoints stay behind these lines, which are read
    // again after a restart (duplicates with the same messageIds, no loss).
    if (log_throttle_.Due("spool sync")) {
      Log(LogLevel::kError, "cannot sync the spool; file positions stay behind what it holds");
    }
    unsynced_.clear();
    return;
  }
  std::vector<BatchOrigin> settled;
  settled.swap(unsynced_);
  listener_.OnSettled(settled);
}

void Delivery::Pump() {
  if (pumping_ || sender_ == nullptr) return;
  pumping_ = true;
  while (sender_->Ready()) {
    std::unique_ptr<Batch> next;
    const bool replay = spool_ != nullptr && !draining_ && spool_->has_unread();
    // New batches and the spool's take turns: the replay goes on while new
    // lines keep being read.
    replay_turn_ = !replay_turn_;
    if (!replayed_.empty()) {
      next = std::move(replayed_.front());
      replayed_.pop_front();
    } else if (!memory_.empty() && !(replay && replay_turn_)) {
      next = std::move(memory_.front());
      memory_.pop_front();
    } else if (replay) {
      SpoolRef ref;
      next = spool_->Next(&ref);
      if (!next) continue;  // damaged records were skipped; has_unread() says if more remain
      next->from_spool = true;
      next->spool_ref = ref;
      ++stats_.replayed_batches;
    } else {
      break;
    }
    sender_->Send(std::move(next));
  }
  pumping_ = false;
  NoteRoom();
  if (full()) was_full_ = true;
  if (draining_ && drained()) listener_.OnProgress();
}

void Delivery::OnDelivered(std::unique_ptr<Batch> batch) {
  ++stats_.delivered_batches;
  stats_.delivered_events += batch->event_count();
  if (batch->from_spool) {
    spool_->Ack(batch->spool_ref);
  } else {
    listener_.OnSettled(batch->origins);
  }
  Pump();
}

void Delivery::OnEventRefused(const Batch& batch, size_t index, long status, std::string_view answer) {
  listener_.OnEventRefused(batch, index, status, answer);
}

void Delivery::OnReturned(std::unique_ptr<Batch> batch) {
  if (batch->from_spool) {
    replayed_.push_back(std::move(batch));  // already durable: it waits here, not again in the spool
  } else if (spool_ == nullptr || !ToSpool(batch)) {
    memory_.push_front(std::move(batch));
  }
  if (spool_ != nullptr && !sender_->healthy()) SpoolMemory();
  Pump();
}

void Delivery::OnReady() { Pump(); }

void Delivery::BeginDrain() {
  draining_ = true;
  if (spool_ != nullptr && !sender_->healthy()) SpoolMemory();
  Pump();
}

bool Delivery::drained() const { return memory_.empty() && sender_->busy() == 0; }

uint64_t Delivery::SpoolEverything(std::vector<std::unique_ptr<Batch>> unsent) {
  uint64_t lost = 0;
  auto keep = [&](std::unique_ptr<Batch>& batch) {
    if (batch->from_spool) return;  // still in the spool: read again at the next start
    if (spool_ == nullptr || !ToSpool(batch)) lost += batch->event_count();
  };
  for (auto& batch : unsent) keep(batch);
  for (auto& batch : memory_) keep(batch);
  memory_.clear();
  replayed_.clear();
  // Synced now, not at the timer: the loop is about to end.
  uv_timer_stop(&sync_timer_);
  sync_armed_ = false;
  if (spool_ != nullptr) SyncNow();
  stats_.lost_events += lost;
  return lost;
}

}  // namespace tailtrack
