// Delivers batches to the collector: POST {url}/v1/capture over libcurl's
// multi interface, driven from the libuv loop (curl's multi-uv pattern:
// curl's socket callback starts and stops a uv_poll per socket, its timer
// callback a uv_timer; both call curl_multi_socket_action).
//
// The collector has one state for the whole agent (spec section 5), not one
// timer per batch, so that the request rate against a failing collector stays
// bounded whatever the number of waiting batches:
//
//   healthy        up to max_in_flight requests at once
//   backing off    5xx, 408, timeouts, refused or broken connections: after a
//                  capped exponential backoff with full jitter, one request
//                  probes; its success makes the collector healthy at once
//   held (429)     nothing is sent until Retry-After (seconds or an HTTP date;
//                  at least initial_backoff, at most 1 h) or, without one, the
//                  backoff; then full sending resumes
//   unauthorized   401: one probe every kUnauthorizedRetry, or at once after
//                  SetWriteKey
//   misconfigured  3xx (redirects are not followed), 404, 405: the url is
//                  wrong; one probe every kMisconfiguredRetry
//
// A failed attempt hands its batch back (OnReturned): the owner decides where
// it waits (the spool). 400 and the other 4xx refuse events, not the
// collector: a batch of several events is split in halves, recursively, until
// the refused events are alone; those are reported one by one
// (OnEventRefused) and the batch counts as delivered when every piece is
// (OnDelivered). Pieces stay here until then.
//
// Errors are logged once per cause per minute, never with the key.
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
#include "core/histogram.h"
#include "core/log.h"

namespace tailtrack {

enum class CollectorState { kHealthy, kBackingOff, kHeld, kUnauthorized, kMisconfigured };
std::string_view CollectorStateName(CollectorState state);

class SenderListener {
 public:
  virtual ~SenderListener() = default;
  // Every event of the batch was accepted, or refused for good and reported.
  virtual void OnDelivered(std::unique_ptr<Batch> batch) = 0;
  // Event `index` of `batch` is refused for good; `status` and `answer` say why.
  virtual void OnEventRefused(const Batch& batch, size_t index, long status, std::string_view answer) = 0;
  // The attempt failed; the batch is the listener's again.
  virtual void OnReturned(std::unique_ptr<Batch> batch) = 0;
  // Ready() may have become true.
  virtual void OnReady() = 0;
};

struct SenderStats {
  uint64_t requests = 0;
  uint64_t delivered_batches = 0;
  uint64_t delivered_events = 0;
  uint64_t failed_attempts = 0;  // answered other than 2xx, or no answer
  uint64_t refused_events = 0;   // refused for good (400 and other 4xx, alone in their piece)
  uint64_t splits = 0;           // batches or pieces split in two after a 4xx
  uint64_t retries = 0;          // requests for a batch already tried before
  // Answers by class: 2xx, 3xx, 4xx, 5xx, and no answer (a transport error).
  enum StatusClass { k2xx, k3xx, k4xx, k5xx, kNoAnswer, kStatusClasses };
  uint64_t by_status_class[kStatusClasses] = {};
  // Seconds from the request's start to its answer (curl's total time).
  Histogram request_seconds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  // Of each request answered 2xx: its events, and its JSON body's bytes (before gzip).
  Histogram batch_events{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
  Histogram batch_bytes{1024, 4096, 16384, 65536, 262144, 524288, 1048576, 2097152, 4194304};
  int64_t last_delivery_ms = 0;        // wall clock of the last 2xx, 0 before any
  int64_t last_delivery_mono_ms = 0;   // the same on the monotonic clock
  std::string last_error;              // the last failed attempt, as logged (never the key); empty before any
  int64_t last_error_ms = 0;           // wall clock
};

class Sender {
 public:
  static constexpr uint64_t kUnauthorizedRetryMs = 15'000;
  static constexpr uint64_t kMisconfiguredRetryMs = 30'000;

  // `listener` must outlive this object.
  Sender(uv_loop_t* loop, const CollectorConfig& config, SenderListener& listener);
  ~Sender();
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  // Sets curl up. False (with *error) if it cannot.
  bool Init(std::string* error);

  // Whether Send() would start a request now: the collector's state allows
  // it and there is a free slot.
  bool Ready() const;
  // Starts a request for a sealed batch. Only when Ready().
  void Send(std::unique_ptr<Batch> batch);

  // The key for the next requests (a reload of write_key_file). Ends a 401's wait.
  void SetWriteKey(const std::string& key);
  // New collector settings (a reload) for the next requests; those in flight
  // finish as they started. A collector that was failing is tried again now:
  // the new settings may be what it was waiting for.
  void Reconfigure(const CollectorConfig& config);

  CollectorState state() const { return state_; }
  bool healthy() const { return state_ == CollectorState::kHealthy; }
  // Requests running, and split pieces waiting.
  size_t busy() const { return active_.size() + pieces_.size(); }
  size_t in_flight() const { return active_.size(); }

  // Aborts what is in flight, stops, and closes every handle. The batches of
  // requests in flight and of unfinished splits (whole) can be taken with
  // TakeUnsent(). The object may be destroyed once the loop has run the close
  // callbacks (closed() is true).
  void Close();
  bool closed() const { return open_handles_ == 0; }
  std::vector<std::unique_ptr<Batch>> TakeUnsent() { return std::move(unsent_); }

  const SenderStats& stats() const { return stats_; }

 private:
  struct Request;
  struct Socket;
  struct Split;
  // A batch on its way: a whole one, or a piece of a split one.
  struct Job {
    std::unique_ptr<Batch> batch;
    Split* split = nullptr;  // when a piece
    size_t base = 0;         // a piece's first event in the split batch
  };

  bool Open() const;  // the state and the clock allow a request now
  void Start(Job job);
  void Pump();
  void CheckDone();
  void Finish(Request* r, CURLcode result);
  void Failed(Job job, uint64_t epoch, CollectorState next, uint64_t delay_ms, std::string_view cause,
              std::string_view what);
  void Refused(Job job, long status, const std::string& answer);
  void PieceDone(Split* split);
  void WakeAt(uint64_t when);
  void BuildHeaders(const std::string& key);
  void SetUrl();  // url_ from config_.url
  void SetOptions(Request* r);  // a handle's options from config_
  uint64_t Backoff();
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
  CollectorConfig config_;  // a copy: Reconfigure() replaces it
  SenderListener& listener_;
  std::string url_;
  std::string user_agent_;
  curl_slist* headers_ = nullptr;
  curl_slist* gzip_headers_ = nullptr;
  std::vector<curl_slist*> old_headers_;  // replaced by SetWriteKey; requests in flight may use them
  CURLM* multi_ = nullptr;
  bool curl_global_ = false;

  uv_timer_t curl_timer_;  // curl's own timeouts
  uv_timer_t wake_;        // the end of a backoff or a hold
  int open_handles_ = 0;
  bool closing_ = false;

  CollectorState state_ = CollectorState::kHealthy;
  uint64_t next_try_ = 0;  // uv_now() from which a request may go out (when not healthy)
  int failures_ = 0;       // consecutive failed attempts: the backoff's exponent
  uint64_t settings_ = 0;  // counts Reconfigure() calls
  uint64_t epoch_ = 0;     // counts the answers that changed the state; requests carry theirs

  std::vector<Request*> active_;
  std::vector<Request*> idle_;  // requests (and their easy handles) to reuse
  std::deque<Job> pieces_;      // split pieces waiting to be sent
  std::vector<std::unique_ptr<Split>> splits_;
  std::unordered_set<Socket*> sockets_;
  std::vector<std::unique_ptr<Batch>> unsent_;

  std::mt19937_64 rng_;
  LogThrottle log_throttle_;  // errors: once per cause a minute
  SenderStats stats_;
};

}  // namespace tailtrack
