// The agent's side of the admin endpoint (admin/http_server.h): /healthz,
// /readyz, /status and /metrics, built on request from the counters the
// components keep where the work happens. Nothing here runs per line.
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "admin/prometheus_text.h"
#include "admin/status_page.h"
#include "app/agent.h"
#include "config/loader.h"
#include "core/clock.h"
#include "event/json_writer.h"

namespace tailtrack {
namespace {

constexpr size_t kMaxFilesListed = 100;

// A small streaming JSON writer for /status: commas and nesting only.
class JsonOut {
 public:
  void Begin(char bracket) {
    Separate();
    out_ += bracket;
    first_.push_back(true);
  }
  void End(char bracket) {
    out_ += bracket;
    first_.pop_back();
  }
  JsonOut& Key(std::string_view key) {
    Separate();
    json::AppendString(out_, key);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  void String(std::string_view v) { Separate(), json::AppendString(out_, v); }
  void StringOrNull(std::string_view v) { v.empty() ? Null() : String(v); }
  void Uint(uint64_t v) { Separate(), json::AppendUint(out_, v); }
  void Int(int64_t v) { Separate(), json::AppendInt(out_, v); }
  void Double(double v) {
    Separate();
    if (!json::AppendDouble(out_, v)) out_ += "null";
  }
  void Bool(bool v) { Separate(), out_ += v ? "true" : "false"; }
  void Null() { Separate(), out_ += "null"; }
  // A wall-clock time in milliseconds, or null when unknown (0).
  void Time(int64_t ms) { ms > 0 ? String(FormatIsoMillis(ms)) : Null(); }
  std::string Take() { return std::move(out_); }

 private:
  void Separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

// The collector's URL as it may be shown: without any user:password@.
std::string ShownUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t host = scheme + 3;
  const size_t end = url.find_first_of("/?#", host);
  const size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  if (at == std::string::npos || at < host) return url;
  return url.substr(0, host) + url.substr(at + 1);
}

// "backing off" -> "backing_off": the contract's names.
std::string StateName(CollectorState state) {
  std::string name(CollectorStateName(state));
  std::replace(name.begin(), name.end(), ' ', '_');
  return name;
}

uint64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kText: return "text";
    case Format::kJson: return "json";
    case Format::kEvent: return "event";
    case Format::kCri: return "cri";
    case Format::kDocker: return "docker";
  }
  return "text";
}

bool RuleApplies(const RuleConfig& rule, const std::string& source) {
  return rule.sources.empty() || std::find(rule.sources.begin(), rule.sources.end(), source) != rule.sources.end();
}

// A source's numbers, whatever its type; zeros before it started.
struct SourceView {
  const SourceConfig* config = nullptr;
  uint64_t lines = 0, bytes = 0, truncated = 0, skipped = 0, dropped = 0, clients = 0;
  bool paused = false;
  std::vector<FileStatus> files;
  uint64_t lag = 0;
  size_t open = 0;
};

template <typename Carried>
std::vector<SourceView> ViewSources(const Config& config, const std::vector<std::unique_ptr<FileSource>>& files,
                                    const std::vector<std::unique_ptr<UnixSource>>& sockets, const Carried& carried) {
  std::vector<SourceView> views(config.sources.size());
  for (size_t i = 0; i < views.size(); ++i) views[i].config = &config.sources[i];
  for (const auto& s : files) {
    SourceView& v = views[s->index()];
    const FileSourceStats st = s->stats();
    v.lines = st.lines, v.bytes = st.bytes, v.truncated = st.truncated_lines, v.skipped = st.skipped_lines;
    v.paused = s->paused();
    s->Files(&v.files);
    for (const FileStatus& f : v.files) v.lag += f.lag(), v.open += f.open ? 1 : 0;
  }
  for (const auto& s : sockets) {
    const auto it = views.begin() + s->index();
    const UnixSourceStats st = s->stats();
    it->lines = st.lines, it->bytes = st.bytes, it->truncated = st.truncated_lines, it->skipped = st.skipped_lines;
    it->dropped = st.dropped_lines, it->clients = st.clients;
    it->paused = s->paused();
  }
  for (size_t i = 0; i < views.size() && i < carried.size(); ++i) {
    SourceView& v = views[i];
    v.lines += carried[i].lines, v.bytes += carried[i].bytes, v.truncated += carried[i].truncated;
    v.skipped += carried[i].skipped, v.dropped += carried[i].dropped;
  }
  return views;
}

}  // namespace

bool Agent::StartAdmin() {
  uv_timer_start(&heartbeat_timer_, OnHeartbeat, 0, kHeartbeatMs);
  heartbeat_ms_ = MonotonicMillis();
  if (config_->admin.listen.empty()) return true;
  admin_ = std::make_unique<AdminServer>(&loop_, [this](std::string_view path) { return HandleAdmin(path); });
  std::string error;
  if (!admin_->Listen(config_->admin.listen, &error)) {
    std::fprintf(stderr, "%s\n", ConfigError(config_->path, config_->admin.listen_mark, error).what());
    return false;
  }
  Log(LogLevel::kInfo, "admin endpoint on {} (port {}): /metrics, /healthz, /readyz, /status", config_->admin.listen,
      admin_->port());
  return true;
}

void Agent::OnHeartbeat(uv_timer_t* t) { static_cast<Agent*>(t->data)->heartbeat_ms_ = MonotonicMillis(); }

AdminResponse Agent::HandleAdmin(std::string_view path) {
  if (path == "/healthz") {
    // The server runs on the loop: a loop that does not turn does not answer
    // at all (a probe's timeout). This catches a request read just after a stall.
    const int64_t since = MonotonicMillis() - heartbeat_ms_;
    if (since > kStalledAfterMs) return {503, "text/plain; charset=utf-8", fmt::format("event loop stalled: last turn {} ms ago\n", since)};
    return {200, "text/plain; charset=utf-8", "ok\n"};
  }
  if (path == "/readyz") {
    auto [ready, reason] = Readiness();
    return {ready ? 200 : 503, "text/plain; charset=utf-8", reason + "\n"};
  }
  if (path == "/status") return {200, "application/json", StatusJson()};
  if (path == "/metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", MetricsText()};
  if (path == "/") return {200, "text/html; charset=utf-8", std::string(StatusPageHtml())};
  return {404, "text/plain; charset=utf-8", "not found; try /, /healthz, /readyz, /status or /metrics\n"};
}

std::pair<bool, std::string> Agent::Readiness() const {
  if (!started_) return {false, "not started"};
  if (draining_) return {false, "draining"};
  if (!sender_) return {true, "ready"};  // a dry run
  switch (sender_->state()) {
    case CollectorState::kUnauthorized:
      return {false, "collector unauthorized (401): fix the write key (write_key_file, then SIGHUP)"};
    case CollectorState::kMisconfigured:
      return {false, "collector misconfigured: collector.url answers 3xx, 404 or 405"};
    default: break;
  }
  const uint64_t waiting = delivery_->waiting_in_memory() + sender_->busy() + (spool_ ? spool_->stats().batches : 0);
  const int64_t last = std::max(started_mono_ms_, sender_->stats().last_delivery_mono_ms);
  const int64_t idle = MonotonicMillis() - last;
  if (waiting > 0 && idle > kNoProgressMs) {
    return {false, fmt::format("backlog making no progress: {} batches waiting, nothing delivered for {} s", waiting,
                               idle / 1000)};
  }
  return {true, "ready"};
}

std::string Agent::StatusJson() const {
  const int64_t now = WallClockMillis();
  const auto [ready, reason] = Readiness();
  const SenderStats sender = sender_ ? sender_->stats() : SenderStats{};
  const SpoolStats spool = spool_ ? spool_->stats() : SpoolStats{};
  const DeliveryStats delivery = delivery_ ? delivery_->stats() : DeliveryStats{};
  const RuleStats rules = RuleTotals();
  std::vector<SourceView> views = ViewSources(*config_, sources_, sockets_, carried_.sources);

  JsonOut j;
  j.Begin('{');
  j.Key("version").String(TAILTRACK_VERSION);
  j.Key("pid").Int(::getpid());
  j.Key("started_at").Time(started_ms_);
  j.Key("uptime_seconds").Double(static_cast<double>(MonotonicMillis() - started_mono_ms_) / 1000.0);
  j.Key("now").Time(now);
  j.Key("ready").Bool(ready);
  j.Key("ready_reason").String(reason);

  j.Key("config").Begin('{');
  j.Key("path").String(config_->path);
  j.Key("loaded_at").Time(reload_stats_.loaded_at_ms);
  j.Key("reloads").Uint(reload_stats_.reloads);
  j.Key("reload_failures").Uint(reload_stats_.failures);
  j.Key("last_reload_error").StringOrNull(reload_stats_.last_error);
  j.End('}');

  j.Key("collector").Begin('{');
  j.Key("url").String(ShownUrl(config_->collector.url));
  j.Key("state").String(sender_ ? StateName(sender_->state()) : "healthy");
  j.Key("in_flight").Uint(sender_ ? sender_->in_flight() : 0);
  j.Key("last_delivery_at").Time(sender.last_delivery_ms);
  j.Key("last_error").StringOrNull(sender.last_error);
  j.Key("last_error_at").Time(sender.last_error_ms);
  j.Key("requests").Uint(sender.requests);
  j.Key("failed_attempts").Uint(sender.failed_attempts);
  j.Key("retries").Uint(sender.retries);
  j.End('}');

  uint64_t lines = 0, bytes = 0, unmatched = 0;
  for (size_t i = 0; i < views.size(); ++i) {
    lines += views[i].lines, bytes += views[i].bytes;
    if (i < rules.unmatched.size()) unmatched += rules.unmatched[i];
  }
  j.Key("totals").Begin('{');
  j.Key("lines_read").Uint(lines);
  j.Key("bytes_read").Uint(bytes);
  j.Key("events_sent").Uint(options_.dry_run ? stats_.delivered_events : sender.delivered_events);
  j.Key("batches_sent").Uint(options_.dry_run ? stats_.delivered_batches : sender.delivered_batches);
  j.Key("dead_letters").Uint(stats_.dead_letters);
  j.Key("dropped_events").Uint(spool.dropped_events + delivery.lost_events);
  j.Key("unmatched_lines").Uint(unmatched);
  j.End('}');

  j.Key("memory").Begin('{');
  j.Key("batches_waiting").Uint(delivery_ ? delivery_->waiting_in_memory() : 0);
  j.Key("rss_bytes").Uint(ResidentBytes());
  j.End('}');

  j.Key("spool").Begin('{');
  j.Key("enabled").Bool(spool_ != nullptr);
  j.Key("dir").String(config_->spool.dir);
  j.Key("bytes").Uint(spool.bytes);
  j.Key("max_bytes").Uint(config_->spool.max_bytes);
  j.Key("batches").Uint(spool.batches);
  j.Key("events").Uint(spool.events);
  if (spool.oldest_ms > 0) {
    j.Key("oldest_age_seconds").Double(static_cast<double>(std::max<int64_t>(0, now - spool.oldest_ms)) / 1000.0);
  } else {
    j.Key("oldest_age_seconds").Null();
  }
  j.End('}');

  j.Key("sources").Begin('[');
  for (size_t i = 0; i < views.size(); ++i) {
    SourceView& v = views[i];
    const SourceConfig& sc = *v.config;
    if (sc.retired) continue;  // removed by a reload; its counts stay in the totals
    j.Begin('{');
    j.Key("name").String(sc.name);
    j.Key("type").String(sc.type == SourceType::kFile ? "file" : "unix");
    j.Key("format").String(FormatName(sc.format));
    if (sc.type == SourceType::kUnix) j.Key("path").String(sc.path);
    j.Key("paused").Bool(v.paused);
    j.Key("lines_read").Uint(v.lines);
    j.Key("bytes_read").Uint(v.bytes);
    j.Key("unmatched_lines").Uint(i < rules.unmatched.size() ? rules.unmatched[i] : 0);
    if (sc.type == SourceType::kFile) {
      j.Key("lag_bytes").Uint(v.lag);
      j.Key("files_watched").Uint(v.files.size());
      j.Key("files_open").Uint(v.open);
      // The most lagging first; a path's order breaks ties so the list is stable.
      std::sort(v.files.begin(), v.files.end(), [](const FileStatus& a, const FileStatus& b) {
        return a.lag() != b.lag() ? a.lag() > b.lag() : a.path < b.path;
      });
      const size_t listed = std::min(v.files.size(), kMaxFilesListed);
      j.Key("files").Begin('[');
      for (size_t f = 0; f < listed; ++f) {
        const FileStatus& fs = v.files[f];
        j.Begin('{');
        j.Key("path").String(fs.path);
        j.Key("offset").Uint(fs.offset);
        j.Key("size").Uint(fs.size);
        j.Key("lag_bytes").Uint(fs.lag());
        j.Key("open").Bool(fs.open);
        j.End('}');
      }
      j.End(']');
      j.Key("files_not_listed").Uint(v.files.size() - listed);
    } else {
      j.Key("clients").Uint(v.clients);
      j.Key("dropped_lines").Uint(v.dropped);
    }
    j.Key("rules").Begin('[');
    for (size_t r = 0; r < config_->rules.size(); ++r) {
      if (!RuleApplies(config_->rules[r], sc.name)) continue;
      const size_t at = r * views.size() + i;
      j.Begin('{');
      j.Key("name").String(config_->rules[r].name);
      j.Key("matched").Uint(at < rules.matched_by_source.size() ? rules.matched_by_source[at] : 0);
      j.End('}');
    }
    j.End(']');
    j.End('}');
  }
  j.End(']');

  j.Key("last_errors").Begin('[');
  for (const LogRecord& r : RecentProblems()) {
    j.Begin('{');
    j.Key("at").Time(r.at_ms);
    j.Key("level").String(LogLevelName(r.level));
    j.Key("message").String(r.message);
    j.End('}');
  }
  j.End(']');
  j.End('}');
  std::string out = j.Take();
  out += '\n';
  return out;
}

std::string Agent::MetricsText() const {
  const int64_t now = WallClockMillis();
  const SenderStats sender = sender_ ? sender_->stats() : SenderStats{};
  const SpoolStats spool = spool_ ? spool_->stats() : SpoolStats{};
  const DeliveryStats delivery = delivery_ ? delivery_->stats() : DeliveryStats{};
  const RuleStats rules = RuleTotals();
  const std::vector<SourceView> views = ViewSources(*config_, sources_, sockets_, carried_.sources);
  auto count = [](uint64_t n) { return static_cast<double>(n); };
  auto per_source = [&](PrometheusText& p, std::string_view name, auto value, bool (*only)(const SourceConfig&)) {
    for (size_t i = 0; i < views.size(); ++i) {
      if (only && !only(*views[i].config)) continue;
      p.Sample(name, {{"source", views[i].config->name}}, value(i));
    }
  };
  auto files = [](const SourceConfig& sc) { return sc.type == SourceType::kFile; };
  auto sockets = [](const SourceConfig& sc) { return sc.type == SourceType::kUnix; };

  PrometheusText p;
  p.Family("tailtrack_build_info", "gauge", "The agent's version; always 1.");
  p.Sample("tailtrack_build_info", {{"version", TAILTRACK_VERSION}}, 1);
  p.Family("tailtrack_start_time_seconds", "gauge", "When the agent started, in seconds since the Unix epoch.");
  p.Sample("tailtrack_start_time_seconds", static_cast<double>(started_ms_) / 1000.0);
  p.Family("tailtrack_ready", "gauge", "1 when /readyz answers 200, else 0.");
  p.Sample("tailtrack_ready", Readiness().first ? 1 : 0);
  p.Family("tailtrack_resident_memory_bytes", "gauge", "The agent's resident set size.");
  p.Sample("tailtrack_resident_memory_bytes", count(ResidentBytes()));

  p.Family("tailtrack_lines_read_total", "counter", "Lines read, per source.");
  per_source(p, "tailtrack_lines_read_total", [&](size_t i) { return count(views[i].lines); }, nullptr);
  p.Family("tailtrack_bytes_read_total", "counter", "Bytes read from files or received on sockets, per source.");
  per_source(p, "tailtrack_bytes_read_total", [&](size_t i) { return count(views[i].bytes); }, nullptr);
  p.Family("tailtrack_lines_matched_total", "counter", "Lines a rule matched, per source and rule.");
  for (size_t i = 0; i < views.size(); ++i) {
    for (size_t r = 0; r < config_->rules.size(); ++r) {
      if (!RuleApplies(config_->rules[r], views[i].config->name)) continue;
      const size_t at = r * views.size() + i;
      p.Sample("tailtrack_lines_matched_total", {{"source", views[i].config->name}, {"rule", config_->rules[r].name}},
               count(at < rules.matched_by_source.size() ? rules.matched_by_source[at] : 0));
    }
  }
  p.Family("tailtrack_lines_unmatched_total", "counter", "Lines no rule matched, per source.");
  per_source(p, "tailtrack_lines_unmatched_total",
             [&](size_t i) { return count(i < rules.unmatched.size() ? rules.unmatched[i] : 0); }, nullptr);
  p.Family("tailtrack_long_lines_total", "counter", "Lines over max_line_bytes, truncated or skipped, per source.");
  for (const SourceView& v : views) {
    p.Sample("tailtrack_long_lines_total", {{"source", v.config->name}, {"action", "truncated"}}, count(v.truncated));
    p.Sample("tailtrack_long_lines_total", {{"source", v.config->name}, {"action", "skipped"}}, count(v.skipped));
  }
  p.Family("tailtrack_decode_errors_total", "counter",
           "Lines that could not be decoded: not JSON for a json or event source, not a cri/docker record.");
  per_source(p, "tailtrack_decode_errors_total", [&](size_t i) {
    uint64_t n = i < rules.not_json.size() ? rules.not_json[i] : 0;
    if (i < decoders_.size() && decoders_[i]) n += decoders_[i]->stats().undecodable;
    return count(n);
  }, nullptr);
  p.Family("tailtrack_mapping_errors_total", "counter",
           "Events made from a line but not sendable (too large, or breaking the collector's fields): dead letters.");
  per_source(p, "tailtrack_mapping_errors_total",
             [&](size_t i) { return count(i < rules.invalid_by_source.size() ? rules.invalid_by_source[i] : 0); },
             nullptr);

  p.Family("tailtrack_events_sent_total", "counter", "Events the collector accepted (2xx), re-sends included.");
  p.Sample("tailtrack_events_sent_total", count(options_.dry_run ? stats_.delivered_events : sender.delivered_events));
  p.Family("tailtrack_batches_sent_total", "counter", "Requests the collector accepted (2xx).");
  p.Sample("tailtrack_batches_sent_total", count(options_.dry_run ? stats_.delivered_batches : sender.delivered_batches));
  p.Family("tailtrack_requests_total", "counter", "Requests to the collector by answer; error: no answer.");
  static constexpr std::string_view kClasses[] = {"2xx", "3xx", "4xx", "5xx", "error"};
  for (int c = 0; c < SenderStats::kStatusClasses; ++c) {
    p.Sample("tailtrack_requests_total", {{"status_class", kClasses[c]}}, count(sender.by_status_class[c]));
  }
  p.Family("tailtrack_retries_total", "counter", "Requests for a batch that had been tried before.");
  p.Sample("tailtrack_retries_total", count(sender.retries));
  p.Family("tailtrack_dead_letters_total", "counter",
           "Events written to the dead-letter file: refused by the collector, or invalid as made.");
  p.Sample("tailtrack_dead_letters_total", {{"reason", "refused"}}, count(sender.refused_events));
  p.Sample("tailtrack_dead_letters_total", {{"reason", "invalid"}}, count(batcher_ ? batcher_->stats().dead_letters : 0));
  p.Family("tailtrack_dropped_events_total", "counter",
           "Events dropped: by spool.when_full drop_oldest, or neither sent nor spooled at stop.");
  p.Sample("tailtrack_dropped_events_total", {{"cause", "spool_full"}}, count(spool.dropped_events));
  p.Sample("tailtrack_dropped_events_total", {{"cause", "lost_at_stop"}}, count(delivery.lost_events));
  p.Family("tailtrack_dropped_lines_total", "counter", "Socket lines dropped while the pipeline was full.");
  per_source(p, "tailtrack_dropped_lines_total", [&](size_t i) { return count(views[i].dropped); }, sockets);
  p.Family("tailtrack_spooled_batches_total", "counter", "Batches written to the disk spool.");
  p.Sample("tailtrack_spooled_batches_total", count(delivery.spooled_batches));
  p.Family("tailtrack_replayed_batches_total", "counter", "Batches read back from the disk spool to be sent.");
  p.Sample("tailtrack_replayed_batches_total", count(delivery.replayed_batches));
  p.Family("tailtrack_reloads_total", "counter", "Configuration reloads, by result.");
  p.Sample("tailtrack_reloads_total", {{"result", "ok"}}, count(reload_stats_.reloads));
  p.Sample("tailtrack_reloads_total", {{"result", "failed"}}, count(reload_stats_.failures));

  p.Family("tailtrack_files_watched", "gauge", "Files a file source follows, open or idle.");
  per_source(p, "tailtrack_files_watched", [&](size_t i) { return count(views[i].files.size()); }, files);
  p.Family("tailtrack_files_open", "gauge", "Files a file source holds open.");
  per_source(p, "tailtrack_files_open", [&](size_t i) { return count(views[i].open); }, files);
  p.Family("tailtrack_source_lag_bytes", "gauge", "Bytes written to a source's files and not read yet.");
  per_source(p, "tailtrack_source_lag_bytes", [&](size_t i) { return count(views[i].lag); }, files);
  p.Family("tailtrack_socket_clients", "gauge", "Clients connected to a unix source.");
  per_source(p, "tailtrack_socket_clients", [&](size_t i) { return count(views[i].clients); }, sockets);
  p.Family("tailtrack_batches_in_memory", "gauge", "Sealed batches waiting in memory.");
  p.Sample("tailtrack_batches_in_memory", count(delivery_ ? delivery_->waiting_in_memory() : 0));
  p.Family("tailtrack_requests_in_flight", "gauge", "Requests to the collector under way.");
  p.Sample("tailtrack_requests_in_flight", count(sender_ ? sender_->in_flight() : 0));
  p.Family("tailtrack_collector_state", "gauge", "1 for the collector's current state, 0 for the others.");
  for (CollectorState s : {CollectorState::kHealthy, CollectorState::kBackingOff, CollectorState::kHeld,
                           CollectorState::kUnauthorized, CollectorState::kMisconfigured}) {
    const CollectorState current = sender_ ? sender_->state() : CollectorState::kHealthy;
    p.Sample("tailtrack_collector_state", {{"state", StateName(s)}}, s == current ? 1 : 0);
  }
  p.Family("tailtrack_last_delivery_timestamp_seconds", "gauge",
           "When the collector last accepted a request, in seconds since the Unix epoch; 0 before any.");
  p.Sample("tailtrack_last_delivery_timestamp_seconds", static_cast<double>(sender.last_delivery_ms) / 1000.0);
  p.Family("tailtrack_spool_bytes", "gauge", "Bytes the disk spool takes.");
  p.Sample("tailtrack_spool_bytes", count(spool.bytes));
  p.Family("tailtrack_spool_max_bytes", "gauge", "spool.max_bytes.");
  p.Sample("tailtrack_spool_max_bytes", count(config_->spool.max_bytes));
  p.Family("tailtrack_spool_batches", "gauge", "Batches waiting in the disk spool.");
  p.Sample("tailtrack_spool_batches", count(spool.batches));
  p.Family("tailtrack_spool_events", "gauge", "Events waiting in the disk spool.");
  p.Sample("tailtrack_spool_events", count(spool.events));
  p.Family("tailtrack_spool_oldest_age_seconds", "gauge", "Age of the oldest batch in the spool; 0 when empty.");
  p.Sample("tailtrack_spool_oldest_age_seconds",
           spool.oldest_ms > 0 ? static_cast<double>(std::max<int64_t>(0, now - spool.oldest_ms)) / 1000.0 : 0);

  p.Family("tailtrack_request_duration_seconds", "histogram", "Time from a request's start to its answer.");
  p.HistogramSamples("tailtrack_request_duration_seconds", sender.request_seconds);
  p.Family("tailtrack_batch_events", "histogram", "Events per request the collector accepted.");
  p.HistogramSamples("tailtrack_batch_events", sender.batch_events);
  p.Family("tailtrack_batch_bytes", "histogram", "JSON body bytes (before gzip) per request the collector accepted.");
  p.HistogramSamples("tailtrack_batch_bytes", sender.batch_bytes);
  return p.text();
}

RuleStats Agent::RuleTotals() const {
  RuleStats totals = rules_->stats();
  const size_t n = config_->sources.size();
  totals.matched_by_source.resize(config_->rules.size() * n);
  for (auto* v : {&totals.unmatched, &totals.not_json, &totals.invalid_by_source}) v->resize(n);
  if (carried_.matched.empty() && carried_.unmatched.empty()) return totals;
  for (size_t r = 0; r < config_->rules.size(); ++r) {
    for (size_t i = 0; i < n; ++i) {
      const auto it = carried_.matched.find({i, config_->rules[r].name});
      if (it != carried_.matched.end()) totals.matched_by_source[r * n + i] += it->second;
    }
  }
  for (size_t i = 0; i < n && i < carried_.unmatched.size(); ++i) {
    totals.unmatched[i] += carried_.unmatched[i];
    totals.not_json[i] += carried_.not_json[i];
    totals.invalid_by_source[i] += carried_.invalid[i];
  }
  return totals;
}

}  // namespace tailtrack
