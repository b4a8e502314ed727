#include "send/sender.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "batch/gzip.h"
#include "core/clock.h"
#include "core/log.h"

namespace tailtrack {

namespace {
constexpr size_t kMaxAnswer = 4096;         // what is kept of an answer's body
constexpr uint64_t kMaxRetryAfterMs = 3'600'000;
}  // namespace

struct Sender::Request {
  Sender* owner = nullptr;
  CURL* easy = nullptr;
  std::unique_ptr<Batch> batch;
  std::string gzipped;
  std::string answer;
  char error[CURL_ERROR_SIZE] = {};
};

struct Sender::Socket {
  uv_poll_t poll;
  curl_socket_t fd;
  Sender* owner;
};

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
  curl_slist_free_all(headers_);
  curl_slist_free_all(gzip_headers_);
  if (curl_global_) curl_global_cleanup();
}

bool Sender::Init(std::string* error) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    *error = "cannot initialise libcurl";
    return false;
  }
  curl_global_ = true;
  std::string base = config_.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  url_ = base + "/v1/capture";
  user_agent_ = std::string("tailtrack/") + TAILTRACK_VERSION;
  for (curl_slist** list : {&headers_, &gzip_headers_}) {
    *list = curl_slist_append(*list, "Content-Type: application/json");
    *list = curl_slist_append(*list, ("X-Write-Key: " + config_.write_key).c_str());
    *list = curl_slist_append(*list, "Expect:");  // no 100-continue round trip for large bodies
  }
  gzip_headers_ = curl_slist_append(gzip_headers_, "Content-Encoding: gzip");
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

void Sender::Submit(std::unique_ptr<Batch> batch) {
  if (closing_) {
    unsent_.push_back(std::move(batch));
    return;
  }
  queue_.push_back(std::move(batch));
  Pump();
}

void Sender::Pump() {
  if (closing_) return;
  const uint64_t now = uv_now(loop_);
  const size_t limit = static_cast<size_t>(std::max(1, config_.max_in_flight));
  while (active_.size() < limit && !queue_.empty() && now >= hold_until_) {
    auto ready = std::find_if(queue_.begin(), queue_.end(),
                              [now](const auto& b) { return static_cast<uint64_t>(b->not_before_ms) <= now; });
    if (ready == queue_.end()) break;
    std::unique_ptr<Batch> batch = std::move(*ready);
    queue_.erase(ready);
    Start(std::move(batch));
  }
  // Wake up for the first batch that may go out, if there is room for it.
  if (queue_.empty() || active_.size() >= limit) {
    uv_timer_stop(&wake_);
    return;
  }
  uint64_t next = UINT64_MAX;
  for (const auto& b : queue_) next = std::min(next, static_cast<uint64_t>(b->not_before_ms));
  next = std::max(next, hold_until_);
  uv_timer_start(&wake_, OnWake, next > now ? next - now : 0, 0);
}

void Sender::OnWake(uv_timer_t* t) { static_cast<Sender*>(t->data)->Pump(); }

void Sender::Start(std::unique_ptr<Batch> batch) {
  Request* r;
  if (!idle_.empty()) {
    r = idle_.back();
    idle_.pop_back();
  } else {
    r = new Request;
    r->owner = this;
    r->easy = curl_easy_init();
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
  r->batch = std::move(batch);
  r->answer.clear();
  r->error[0] = '\0';
  ++r->batch->attempts;
  r->batch->StampSentAt(WallClockMillis());
  std::string_view payload = r->batch->body();
  const bool gzip = config_.compression == Compression::kGzip && Gzip(payload, &r->gzipped);
  if (gzip) payload = r->gzipped;
  curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, gzip ? gzip_headers_ : headers_);
  curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
  curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, payload.data());
  const CURLMcode added = curl_multi_add_handle(multi_, r->easy);
  if (added != CURLM_OK) {
    // Out of memory or a curl bug: the batch must not hold an in-flight slot
    // forever; it waits and is tried again like any failed attempt.
    std::unique_ptr<Batch> again = std::move(r->batch);
    idle_.push_back(r);
    const uint64_t delay = Backoff(again->attempts);
    Retry(std::move(again), delay, "curl multi", fmt::format("cannot start a request: {}", curl_multi_strerror(added)));
    return;
  }
  active_.push_back(r);
  ++stats_.requests;
}

size_t Sender::OnWrite(char* data, size_t size, size_t n, void* userp) {
  auto* r = static_cast<Request*>(userp);
  const size_t bytes = size * n;
  if (r->answer.size() < kMaxAnswer) r->answer.append(data, std::min(bytes, kMaxAnswer - r->answer.size()));
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
  std::unique_ptr<Batch> batch = std::move(r->batch);
  long status = 0;
  if (result == CURLE_OK) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  uint64_t retry_after = 0;
  const bool has_retry_after = status == 429 && RetryAfter(r->easy, &retry_after);
  const std::string answer = std::move(r->answer);
  const std::string error = r->error[0] ? r->error : curl_easy_strerror(result);
  r->answer.clear();
  r->gzipped.clear();
  idle_.push_back(r);

  if (status >= 200 && status < 300) {
    ++stats_.delivered_batches;
    stats_.delivered_events += batch->event_count();
    listener_.OnDelivered(std::move(batch));
    return;
  }
  const uint64_t now = uv_now(loop_);
  if (result != CURLE_OK) {
    const uint64_t delay = Backoff(batch->attempts);
    Retry(std::move(batch), delay, fmt::format("curl {}", static_cast<int>(result)),
          fmt::format("cannot deliver to {}: {}", url_, error));
  } else if (status == 429) {
    // A Retry-After of 0 or a date in the past is no licence to spin: at
    // least initial_backoff, so the retry rate stays bounded.
    const uint64_t floor = static_cast<uint64_t>(std::max<int64_t>(1, config_.retry.initial_backoff.count()));
    const uint64_t delay = has_retry_after ? std::max(retry_after, floor) : Backoff(batch->attempts);
    hold_until_ = std::max(hold_until_, now + delay);
    Retry(std::move(batch), delay, "http 429",
          fmt::format("collector {} asks to slow down (429){}; sending nothing for {} ms", url_,
                      has_retry_after ? " with Retry-After" : "", delay));
  } else if (status == 401) {
    const uint64_t delay = static_cast<uint64_t>(config_.retry.max_backoff.count());
    hold_until_ = std::max(hold_until_, now + delay);
    Retry(std::move(batch), delay, "http 401",
          fmt::format("collector {} refuses the write key (401); holding every batch, trying again in {} ms", url_,
                      delay));
  } else if (status == 408 || status >= 500 || status < 400) {
    const uint64_t delay = Backoff(batch->attempts);
    Retry(std::move(batch), delay, fmt::format("http {}", status),
          fmt::format("collector {} answered {}: {}", url_, status, answer.substr(0, 200)));
  } else {
    ++stats_.refused_batches;
    if (log_throttle_.Due(fmt::format("http {}", status))) {
      Log(LogLevel::kWarn, "collector {} refused a batch of {} events ({}): {}; they go to the dead-letter file", url_,
          batch->event_count(), status, answer.substr(0, 200));
    }
    listener_.OnRefused(std::move(batch), status, answer);
  }
}

void Sender::Retry(std::unique_ptr<Batch> batch, uint64_t delay_ms, std::string_view cause, std::string_view what) {
  ++stats_.retries;
  if (log_throttle_.Due(cause)) {
    Log(LogLevel::kWarn, "{} (batch {} attempt {}; retrying in {} ms; {} batches waiting)", what, batch->id,
        batch->attempts, delay_ms, pending() + 1);
  }
  batch->not_before_ms = static_cast<int64_t>(uv_now(loop_) + delay_ms);
  queue_.push_front(std::move(batch));  // retries go first: order is kept as far as it can be
}

uint64_t Sender::Backoff(int attempts) {
  const uint64_t initial = static_cast<uint64_t>(std::max<int64_t>(1, config_.retry.initial_backoff.count()));
  const uint64_t max = std::max(initial, static_cast<uint64_t>(config_.retry.max_backoff.count()));
  const int shift = std::clamp(attempts, 0, 30);
  const uint64_t cap = std::min(max, initial << shift);
  return std::uniform_int_distribution<uint64_t>(initial, cap)(rng_);
}

bool Sender::RetryAfter(CURL* easy, uint64_t* delay_ms) {
  curl_header* h = nullptr;
  if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h || !h->value) return false;
  const std::string value = h->value;
  if (value.empty()) return false;
  uint64_t ms;
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
    ms = value.size() > 7 ? kMaxRetryAfterMs : std::stoull(value) * 1000;
  } else {
    const time_t when = curl_getdate(value.c_str(), nullptr);
    if (when < 0) return false;
    const int64_t diff = static_cast<int64_t>(when) * 1000 - WallClockMillis();
    ms = diff > 0 ? static_cast<uint64_t>(diff) : 0;
  }
  *delay_ms = std::min(ms, kMaxRetryAfterMs);
  return true;
}

void Sender::Close() {
  if (closing_) return;
  closing_ = true;
  for (Request* r : active_) {
    curl_multi_remove_handle(multi_, r->easy);
    unsent_.push_back(std::move(r->batch));
    idle_.push_back(r);
  }
  active_.clear();
  for (auto& b : queue_) unsent_.push_back(std::move(b));
  queue_.clear();
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
