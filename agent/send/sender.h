// Delivers batches to the collector: POST {url}/v1/capture over libcurl's
// multi interface, driven from the libuv loop (curl's multi-uv pattern:
// curl's socket callback starts and stops a uv_poll per socket, its timer
// callback a uv_timer; both call curl_multi_socket_action).
//
// Answers (spec section 5):
//   2xx                   delivered: OnDelivered (the batch's origins may be committed)
//   5xx, 408, 3xx, 1xx,
//   timeout, connection   retried, per batch, after an exponential backoff with
//                         jitter: uniform in [initial, min(max, initial * 2^attempt)]
//   429                   nothing is sent before Retry-After (seconds or an HTTP
//                         date, at most 1 h, at least initial_backoff) or, without
//                         one, the backoff
//   401                   nothing is dropped; nothing is sent for retry.max_backoff
//   400, other 4xx        refused: OnRefused with the answer (the split that
//                         isolates the bad events comes with the spool)
// At most `max_in_flight` requests run at once; connections are kept alive
// and reused. Errors are logged once per cause per minute, never with the key.
//
// Batches wait in memory (the disk spool comes later); the owner bounds them
// with pending() and pauses its sources.
#pragma once

#include <curl/curl.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "batch/batch.h"
#include "config/config.h"
#include "core/log.h"

namespace tailtrack {

class SenderListener {
 public:
  virtual ~SenderListener() = default;
  virtual void OnDelivered(std::unique_ptr<Batch> batch) = 0;
  // The collector refused the batch for good; `status` and `answer` say why.
  virtual void OnRefused(std::unique_ptr<Batch> batch, long status, std::string_view answer) = 0;
};

struct SenderStats {
  uint64_t requests = 0;
  uint64_t delivered_batches = 0;
  uint64_t delivered_events = 0;
  uint64_t retries = 0;  // failed attempts that will be tried again
  uint64_t refused_batches = 0;
};

class Sender {
 public:
  // `config` and `listener` must outlive this object.
  Sender(uv_loop_t* loop, const CollectorConfig& config, SenderListener& listener);
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // Sets curl up. False (with *error) if it cannot.
  bool Init(std::string* error);

  // Queues a sealed batch; it goes out as soon as the limits allow.
  void Submit(std::unique_ptr<Batch> batch);

  // Batches queued or in flight.
  size_t pending() const { return queue_.size() + active_.size(); }

  // Aborts what is in flight, stops, and closes every handle. What was not
  // delivered can be taken with TakeUnsent(). The object may be destroyed
  // once the loop has run the close callbacks (closed() is true).
  void Close();
  bool closed() const { return open_handles_ == 0; }
  std::vector<std::unique_ptr<Batch>> TakeUnsent() { return std::move(unsent_); }

  const SenderStats& stats() const { return stats_; }

 private:
  struct Request;
  struct Socket;

  void Pump();
  void Start(std::unique_ptr<Batch> batch);
  void CheckDone();
  void Finish(Request* r, CURLcode result);
  void Retry(std::unique_ptr<Batch> batch, uint64_t delay_ms, std::string_view cause, std::string_view what);
  uint64_t Backoff(int attempts);
  // The delay a 429 asks for, if it says.
  bool RetryAfter(CURL* easy, uint64_t* delay_ms);

  static int OnCurlSocket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
  static int OnCurlTimer(CURLM* multi, long timeout_ms, void* userp);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimeout(uv_timer_t* t);
  static void OnWake(uv_timer_t* t);
  static void OnHandleClosed(uv_handle_t* h);
  static void OnSocketClosed(uv_handle_t* h);
  static size_t OnWrite(char* data, size_t size, size_t n, void* userp);

  uv_loop_t* loop_;
  const CollectorConfig& config_;
  SenderListener& listener_;
  std::string url_;
  std::string user_agent_;
  curl_slist* headers_ = nullptr;
  curl_slist* gzip_headers_ = nullptr;
  CURLM* multi_ = nullptr;
  bool curl_global_ = false;

  uv_timer_t curl_timer_;  // curl's own timeouts
  uv_timer_t wake_;        // the next retry or the end of a hold
  int open_handles_ = 0;
  bool closing_ = false;

  std::deque<std::unique_ptr<Batch>> queue_;
  std::vector<Request*> active_;
  std::vector<Request*> idle_;  // requests (and their easy handles) to reuse
  std::unordered_set<Socket*> sockets_;
  std::vector<std::unique_ptr<Batch>> unsent_;
  uint64_t hold_until_ = 0;  // uv_now() before which nothing is sent (429, 401)

  std::mt19937_64 rng_;
  LogThrottle log_throttle_;  // errors: once per cause a minute
  SenderStats stats_;
};

}  // namespace tailtrack
