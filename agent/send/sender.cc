#include "send/sender.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>

#include "batch/gzip.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "send/retry_after.h"

namespace tailtrack {

namespace {
constexpr size_t kMaxAnswer = 4096;         // what is kept of an answer's body
// Said once per start or reload: settings under which the write key may
// reach someone other than the collector.
void WarnIfTheKeyIsExposed(const CollectorConfig& c) {
  if (c.tls.insecure_skip_verify) {
    Log(LogLevel::kWarn, "collector.tls.insecure_skip_verify is on: the collector's certificate is not checked, so "
        "the write key goes to whoever answers at {}", c.url);
  }
  static const char* const kLoopback[] = {"http://127.", "http://localhost", "http://[::1]"};
  if (c.url.rfind("http://", 0) == 0 &&
      std::none_of(std::begin(kLoopback), std::end(kLoopback), [&](const char* p) { return c.url.rfind(p, 0) == 0; })) {
    Log(LogLevel::kWarn, "collector.url {} is plain http: the write key and the events cross the network unencrypted",
        c.url);
  }
}

// A header list holds the write key: zeroed before curl frees it.
void FreeHeaders(curl_slist* list) {
  for (curl_slist* item = list; item; item = item->next) OPENSSL_cleanse(item->data, std::strlen(item->data));
  curl_slist_free_all(list);
}

}  // namespace

struct Sender::Split {
  std::unique_ptr<Batch> batch;  // the batch the collector refused whole
  size_t open_pieces = 0;        // pieces not yet delivered or refused
};

struct Sender::Request {
  Sender* owner = nullptr;
  CURL* easy = nullptr;
  Job job;
  uint64_t epoch = 0;  // the sender's epoch when the request started
  uint64_t settings = ~0ull;  // the settings_ its options were set for
  std::string gzipped;
  std::string answer;
  bool answer_cut = false;  // the body went past kMaxAnswer: the transfer was stopped there
  char error[CURL_ERROR_SIZE] = {};
};

struct Sender::Socket {
  uv_poll_t poll;
  curl_socket_t fd;
  Sender* owner;
};

std::string_view CollectorStateName(CollectorState state) {
  switch (state) {
    case CollectorState::kHealthy: return "healthy";
    case CollectorState::kBackingOff: return "backing off";
    case CollectorState::kHeld: return "held";
    case CollectorState::kUnauthorized: return "unauthorized";
    case CollectorState::kMisconfigured: return "misconfigured";
  }
  return "unknown";
}

Sender::Sender(uv_loop_t* loop, const CollectorConfig& config, SenderListener& listener)
    : loop_(loop), config_(config), listener_(listener), rng_(std::random_device{}()) {
  uv_timer_init(loop_, &curl_timer_);
  uv_timer_init(loop_, &wake_);
  curl_timer_.data = this;  // curl's multi-uv example once forgot this: timeouts never fired
  wake_.data = this;
  open_handles_ = 2;
}

Sender::~Sender() {
  if (!closed()) Log(LogLevel::kError, "sender destroyed with open handles");
  for (Request* r : idle_) delete r;
  FreeHeaders(headers_);
  FreeHeaders(gzip_headers_);
  for (curl_slist* list : old_headers_) FreeHeaders(list);
  if (curl_global_) curl_global_cleanup();
}

bool Sender::Init(std::string* error) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    *error = "cannot initialise libcurl";
    return false;
  }
  curl_global_ = true;
  SetUrl();
  user_agent_ = std::string("tailtrack/") + TAILTRACK_VERSION;
  BuildHeaders(config_.write_key);
  WarnIfTheKeyIsExposed(config_);
  multi_ = curl_multi_init();
  if (!multi_ || !headers_ || !gzip_headers_) {
    *error = "cannot initialise libcurl";
    return false;
  }
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, OnCurlSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, OnCurlTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(std::max(1, config_.max_in_flight)));
  return true;
}

void Sender::BuildHeaders(const std::string& key) {
  if (headers_) old_headers_.push_back(headers_);
  if (gzip_headers_) old_headers_.push_back(gzip_headers_);
  headers_ = gzip_headers_ = nullptr;
  for (curl_slist** list : {&headers_, &gzip_headers_}) {
    *list = curl_slist_append(*list, "Content-Type: application/json");
    SecretString header = "X-Write-Key: " + key;
    *list = curl_slist_append(*list, header.c_str());
    *list = curl_slist_append(*list, "Expect:");  // no 100-continue round trip for large bodies
  }
  gzip_headers_ = curl_slist_append(gzip_headers_, "Content-Encoding: gzip");
}

void Sender::SetWriteKey(const std::string& key) {
  BuildHeaders(key);
  if (state_ == CollectorState::kUnauthorized) {
    log_throttle_.Forget("http 401");
    WakeAt(uv_now(loop_));
  }
}

void Sender::SetOptions(Request* r) {
  CURL* e = r->easy;
  curl_easy_setopt(e, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent_.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.timeout.count()));
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!config_.tls.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, config_.tls.ca_file.c_str());
  if (config_.tls.insecure_skip_verify) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

void Sender::SetUrl() {
  std::string base = config_.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  url_ = base + "/v1/capture";
}

void Sender::Reconfigure(const CollectorConfig& config) {
  config_ = config;
  ++settings_;
  // Answers to requests sent under the old settings no longer move the state.
  ++epoch_;
  SetUrl();
  BuildHeaders(config_.write_key);
  WarnIfTheKeyIsExposed(config_);
  if (multi_) curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, static_cast<long>(std::max(1, config_.max_in_flight)));
  // A 429's Retry-After is the collector's to lift, whatever changed here.
  if (state_ != CollectorState::kHealthy && state_ != CollectorState::kHeld) {
    log_throttle_ = LogThrottle{};
    WakeAt(uv_now(loop_));
  }
}

bool Sender::Open() const {
  if (closing_) return false;
  if (state_ == CollectorState::kHealthy) return active_.size() < static_cast<size_t>(std::max(1, config_.max_in_flight));
  // Failing: one request probes, once its time has come.
  return active_.empty() && uv_now(loop_) >= next_try_;
}

bool Sender::Ready() const { return pieces_.empty() && Open(); }

void Sender::Send(std::unique_ptr<Batch> batch) { Start(Job{std::move(batch)}); }

void Sender::Pump() {
  while (!pieces_.empty() && Open()) {
    Job job = std::move(pieces_.front());
    pieces_.pop_front();
    Start(std::move(job));
  }
  if (Ready()) listener_.OnReady();
}

void Sender::WakeAt(uint64_t when) {
  const uint64_t now = uv_now(loop_);
  next_try_ = when;
  uv_timer_start(&wake_, OnWake, when > now ? when - now : 0, 0);
}

void Sender::OnWake(uv_timer_t* t) {
  auto* self = static_cast<Sender*>(t->data);
  // A 429's hold is over: everything may go, not only a probe.
  if (self->state_ == CollectorState::kHeld) self->state_ = CollectorState::kHealthy;
  self->Pump();
}

void Sender::Start(Job job) {
  Request* r;
  if (!idle_.empty()) {
    r = idle_.back();
    idle_.pop_back();
  } else {
    r = new Request;
    r->owner = this;
    r->easy = curl_easy_init();
  }
  // A handle's options are set once per configuration: a reload's new URL,
  // timeout or TLS settings reach the handles made before it too.
  if (r->settings != settings_) {
    curl_easy_reset(r->easy);  // keeps its connections
    SetOptions(r);
    r->settings = settings_;
  }
  r->job = std::move(job);
  r->answer.clear();
  r->answer_cut = false;
  r->error[0] = '\0';
  Batch& batch = *r->job.batch;
  if (++batch.attempts > 1) ++stats_.retries;
  batch.StampSentAt(WallClockMillis());
  std::string_view payload = batch.body();
  const bool gzip = config_.compression == Compression::kGzip && Gzip(payload, &r->gzipped);
  if (gzip) payload = r->gzipped;
  curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, gzip ? gzip_headers_ : headers_);
  curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
  curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, payload.data());
  const CURLMcode added = curl_multi_add_handle(multi_, r->easy);
  if (added != CURLM_OK) {
    // Out of memory or a curl bug: the batch must not hold a slot forever;
    // it is handed back like any failed attempt.
    Job again = std::move(r->job);
    idle_.push_back(r);
    Failed(std::move(again), epoch_, CollectorState::kBackingOff, Backoff(), "curl multi",
           fmt::format("cannot start a request: {}", curl_multi_strerror(added)));
    return;
  }
  r->epoch = epoch_;
  active_.push_back(r);
  ++stats_.requests;
}

size_t Sender::OnWrite(char* data, size_t size, size_t n, void* userp) {
  auto* r = static_cast<Request*>(userp);
  const size_t bytes = size * n;
  // An answer longer than that is not read on: a collector (or whatever
  // answers in its place) sending a body without end would otherwise hold a
  // request until its timeout. The status is known by now and decides.
  if (r->answer.size() + bytes > kMaxAnswer) {
    r->answer.append(data, kMaxAnswer - r->answer.size());
    r->answer_cut = true;
    return 0;  // curl stops the transfer (CURLE_WRITE_ERROR) and closes the connection
  }
  r->answer.append(data, bytes);
  return bytes;
}

// curl wants to know about a socket: start, change or stop polling it.
int Sender::OnCurlSocket(CURL*, curl_socket_t s, int what, void* userp, void* socketp) {
  auto* self = static_cast<Sender*>(userp);
  auto* sock = static_cast<Socket*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    if (sock) {
      uv_poll_stop(&sock->poll);
      self->sockets_.erase(sock);
      uv_close(reinterpret_cast<uv_handle_t*>(&sock->poll), OnSocketClosed);
      if (self->multi_) curl_multi_assign(self->multi_, s, nullptr);
    }
    return 0;
  }
  if (!sock) {
    sock = new Socket;
    sock->fd = s;
    sock->owner = self;
    if (uv_poll_init_socket(self->loop_, &sock->poll, s) != 0) {
      delete sock;
      return -1;
    }
    sock->poll.data = sock;
    ++self->open_handles_;
    self->sockets_.insert(sock);
    curl_multi_assign(self->multi_, s, sock);
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  uv_poll_start(&sock->poll, events, OnPoll);
  return 0;
}

void Sender::OnSocketClosed(uv_handle_t* h) {
  auto* sock = static_cast<Socket*>(h->data);
  --sock->owner->open_handles_;
  delete sock;
}

void Sender::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* sock = static_cast<Socket*>(handle->data);
  Sender* self = sock->owner;
  int flags = 0;
  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  int running = 0;
  curl_multi_socket_action(self->multi_, sock->fd, flags, &running);
  self->CheckDone();
}

// curl wants to be called back after timeout_ms: -1 stops the timer; 0 means
// as soon as possible, which the next loop turn is (never from inside this callback).
int Sender::OnCurlTimer(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<Sender*>(userp);
  if (timeout_ms < 0) {
    uv_timer_stop(&self->curl_timer_);
  } else {
    uv_timer_start(&self->curl_timer_, OnTimeout, static_cast<uint64_t>(timeout_ms), 0);
  }
  return 0;
}

void Sender::OnTimeout(uv_timer_t* t) {
  auto* self = static_cast<Sender*>(t->data);
  int running = 0;
  curl_multi_socket_action(self->multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  self->CheckDone();
}

void Sender::CheckDone() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    const CURLcode result = msg->data.result;
    Request* r = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &r);
    curl_multi_remove_handle(multi_, easy);
    active_.erase(std::find(active_.begin(), active_.end(), r));
    Finish(r, result);
  }
  Pump();
}

void Sender::Finish(Request* r, CURLcode result) {
  Job job = std::move(r->job);
  const uint64_t epoch = r->epoch;
  long status = 0;
  if (result == CURLE_WRITE_ERROR && r->answer_cut) result = CURLE_OK;  // answered; only the body was cut
  if (result == CURLE_OK) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  uint64_t retry_after = 0;
  const bool has_retry_after = status == 429 && RetryAfter(r->easy, &retry_after);
  const std::string answer = std::move(r->answer);
  const std::string error = r->error[0] ? r->error : curl_easy_strerror(result);
  curl_off_t micros = 0;
  if (curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME_T, &micros) == CURLE_OK) {
    stats_.request_seconds.Observe(static_cast<double>(micros) / 1e6);
  }
  const int status_class = status >= 200 && status < 600 ? static_cast<int>(status / 100) - 2 : SenderStats::kNoAnswer;
  ++stats_.by_status_class[status_class];
  r->answer.clear();
  r->gzipped.clear();
  idle_.push_back(r);

  if (status >= 200 && status < 300) {
    stats_.batch_events.Observe(static_cast<double>(job.batch->event_count()));
    stats_.batch_bytes.Observe(static_cast<double>(job.batch->body().size()));
    stats_.last_delivery_ms = WallClockMillis();
    stats_.last_delivery_mono_ms = MonotonicMillis();
    // Only an answer to a request made in the current state ends it: a 200
    // to a request sent before a 429 does not lift the 429's hold.
    if (state_ != CollectorState::kHealthy && epoch == epoch_) {
      Log(LogLevel::kInfo, "collector {} accepts again ({})", url_, status);
      for (const char* cause : {"http 401", "http 429", "misconfigured", "failing"}) log_throttle_.Forget(cause);
      state_ = CollectorState::kHealthy;
      failures_ = 0;
      next_try_ = 0;
      uv_timer_stop(&wake_);
    }
    ++stats_.delivered_batches;
    stats_.delivered_events += job.batch->event_count();
    if (job.split) {
      PieceDone(job.split);
    } else {
      listener_.OnDelivered(std::move(job.batch));
    }
    return;
  }
  ++stats_.failed_attempts;
  const uint64_t now = uv_now(loop_);
  const uint64_t floor = static_cast<uint64_t>(std::max<int64_t>(1, config_.retry.initial_backoff.count()));
  if (result != CURLE_OK) {
    Failed(std::move(job), epoch, CollectorState::kBackingOff, Backoff(), "failing",
           fmt::format("cannot deliver to {}: {}", url_, error));
  } else if (status == 429) {
    // A Retry-After of 0 or a date in the past is no licence to spin.
    const uint64_t delay = has_retry_after ? std::max(retry_after, floor) : Backoff();
    Failed(std::move(job), epoch, has_retry_after ? CollectorState::kHeld : CollectorState::kBackingOff,
           std::max(delay, next_try_ > now ? next_try_ - now : 0), "http 429",
           fmt::format("collector {} asks to slow down (429{}); sending nothing for {} ms", url_,
                       has_retry_after ? " with Retry-After" : "", delay));
  } else if (status == 401) {
    Failed(std::move(job), epoch, CollectorState::kUnauthorized, kUnauthorizedRetryMs, "http 401",
           fmt::format("collector {} refuses the write key (401): nothing is dropped, batches wait; fix the key "
                       "(write_key_file, then SIGHUP)",
                       url_));
  } else if ((status >= 300 && status < 400) || status == 404 || status == 405) {
    Failed(std::move(job), epoch, CollectorState::kMisconfigured, kMisconfiguredRetryMs, "misconfigured",
           fmt::format("collector answered {} for {}: collector.url is probably wrong (redirects are not "
                       "followed); batches are kept and tried again every {} s",
                       status, url_, kMisconfiguredRetryMs / 1000));
  } else if (status == 408 || status >= 500 || status < 400) {
    Failed(std::move(job), epoch, CollectorState::kBackingOff, Backoff(), "failing",
           fmt::format("collector {} answered {}: {}", url_, status, answer.substr(0, 200)));
  } else {
    Refused(std::move(job), status, answer);
  }
}

// The collector, not the batch, is failing: the batch goes back to the
// owner, and the whole sender waits.
void Sender::Failed(Job job, uint64_t epoch, CollectorState next, uint64_t delay_ms, std::string_view cause,
                    std::string_view what) {
  if (next == CollectorState::kBackingOff && state_ != CollectorState::kHealthy && state_ != CollectorState::kBackingOff) {
    next = state_;  // a transport error during a hold keeps the hold's pace
  }
  const uint64_t now = uv_now(loop_);
  // The failures of requests sent together count once: only a request of
  // the current epoch (the probe, or the first to fail) moves the backoff.
  if (epoch == epoch_) {
    if (next == CollectorState::kBackingOff) ++failures_;
    if (state_ == CollectorState::kHealthy || next != state_) next_try_ = 0;
    state_ = next;
    ++epoch_;
  }
  // Within a state, a later answer never brings the next try forward.
  WakeAt(std::max(next_try_, now + delay_ms));
  stats_.last_error.assign(what);
  stats_.last_error_ms = WallClockMillis();
  if (log_throttle_.Due(cause)) {
    Log(next == CollectorState::kUnauthorized || next == CollectorState::kMisconfigured ? LogLevel::kError
                                                                                        : LogLevel::kWarn,
        "{} (next try in {} ms)", what, next_try_ - now);
  }
  if (job.split) {
    pieces_.push_front(std::move(job));
  } else {
    listener_.OnReturned(std::move(job.batch));
  }
}

// 400 and the other 4xx: some events are refused. Halves are sent again until
// each refused event is alone; only those are dead-lettered.
void Sender::Refused(Job job, long status, const std::string& answer) {
  const size_t n = job.batch->event_count();
  if (n > 1) {
    ++stats_.splits;
    if (!job.split) {
      auto split = std::make_unique<Split>();
      split->batch = std::move(job.batch);
      job.split = split.get();
      job.batch = nullptr;
      splits_.push_back(std::move(split));
      ++job.split->open_pieces;  // this job stands for the whole batch until it is cut
    }
    const Batch& whole = job.batch ? *job.batch : *job.split->batch;
    const size_t half = n / 2;
    // Pieces index into the split batch: base is where this job's events start.
    Job left{whole.Slice(0, half), job.split, job.base};
    Job right{whole.Slice(half, n), job.split, job.base + half};
    ++job.split->open_pieces;  // two pieces replace this job
    pieces_.push_front(std::move(right));
    pieces_.push_front(std::move(left));
    return;
  }
  const Batch& whole = job.split ? *job.split->batch : *job.batch;
  ++stats_.refused_events;
  if (log_throttle_.Due(fmt::format("http {}", status))) {
    Log(LogLevel::kWarn, "collector {} refused an event ({}): {}; it goes to the dead-letter file", url_, status,
        answer.substr(0, 200));
  }
  listener_.OnEventRefused(whole, job.base, status, answer.substr(0, 500));
  if (job.split) {
    PieceDone(job.split);
  } else {
    listener_.OnDelivered(std::move(job.batch));
  }
}

void Sender::PieceDone(Split* split) {
  if (--split->open_pieces > 0) return;
  auto it = std::find_if(splits_.begin(), splits_.end(), [&](const auto& s) { return s.get() == split; });
  std::unique_ptr<Batch> batch = std::move(split->batch);
  splits_.erase(it);
  listener_.OnDelivered(std::move(batch));
}

// Full jitter (uniform in [0, cap]), the cap doubling from initial_backoff
// with each consecutive failure up to max_backoff; never below 10 ms, so that
// a run of small draws cannot make a burst.
uint64_t Sender::Backoff() {
  const uint64_t initial = static_cast<uint64_t>(std::max<int64_t>(1, config_.retry.initial_backoff.count()));
  const uint64_t max = std::max(initial, static_cast<uint64_t>(config_.retry.max_backoff.count()));
  const int shift = std::clamp(failures_, 0, 30);
  const uint64_t cap = std::min(max, initial << shift);
  return std::max<uint64_t>(std::min<uint64_t>(10, cap), std::uniform_int_distribution<uint64_t>(0, cap)(rng_));
}

bool Sender::RetryAfter(CURL* easy, uint64_t* delay_ms) {
  curl_header* h = nullptr;
  if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h || !h->value) return false;
  const std::optional<uint64_t> ms = ParseRetryAfter(h->value, WallClockMillis());
  if (ms) *delay_ms = *ms;
  return ms.has_value();
}

void Sender::Close() {
  if (closing_) return;
  closing_ = true;
  uv_timer_stop(&wake_);
  for (Request* r : active_) {
    curl_multi_remove_handle(multi_, r->easy);
    if (!r->job.split) unsent_.push_back(std::move(r->job.batch));
    idle_.push_back(r);
  }
  active_.clear();
  // A split batch goes back whole: its delivered pieces are sent again
  // later with the same messageIds, which the collector drops.
  pieces_.clear();
  for (auto& split : splits_) unsent_.push_back(std::move(split->batch));
  splits_.clear();
  for (Request* r : idle_) curl_easy_cleanup(r->easy);
  for (Request* r : idle_) delete r;
  idle_.clear();
  CURLM* multi = multi_;
  multi_ = nullptr;
  if (multi) curl_multi_cleanup(multi);  // may still call OnCurlSocket to remove sockets
  for (Socket* sock : sockets_) uv_close(reinterpret_cast<uv_handle_t*>(&sock->poll), OnSocketClosed);
  sockets_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&curl_timer_), OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), OnHandleClosed);
}

void Sender::OnHandleClosed(uv_handle_t* h) { --static_cast<Sender*>(h->data)->open_handles_; }

}  // namespace tailtrack
