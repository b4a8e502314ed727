#include "fake_collector.h"

#include <httplib.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/clock.h"

namespace tailtrack::testing {

namespace {

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

// `e` as JSON with every object's keys sorted, so that two renderings of one
// event compare equal; at the top level, fields in `skip` are left out.
void AppendCanonical(simdjson::dom::element e, std::string& out, const std::set<std::string>* skip) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      std::vector<std::pair<std::string_view, simdjson::dom::element>> fields;
      for (auto field : simdjson::dom::object(e)) {
        if (skip && skip->count(std::string(field.key))) continue;
        fields.emplace_back(field.key, field.value);
      }
      std::stable_sort(fields.begin(), fields.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out.push_back('{');
      for (size_t i = 0; i < fields.size(); ++i) {
        if (i) out.push_back(',');
        AppendJsonString(out, fields[i].first);
        out.push_back(':');
        AppendCanonical(fields[i].second, out, nullptr);
      }
      out.push_back('}');
      return;
    }
    case simdjson::dom::element_type::ARRAY: {
      out.push_back('[');
      bool first = true;
      for (simdjson::dom::element v : simdjson::dom::array(e)) {
        if (!first) out.push_back(',');
        first = false;
        AppendCanonical(v, out, nullptr);
      }
      out.push_back(']');
      return;
    }
    case simdjson::dom::element_type::STRING:
      AppendJsonString(out, std::string_view(e));
      return;
    default:
      out += simdjson::minify(e);
  }
}

}  // namespace

// One httplib::Server and the thread that runs it. Restart() makes a new one:
// the old one's listening socket is closed at Stop(), and its threads (which
// may still hold a kept-alive connection for a few seconds) are joined at
// destruction, so that Stop() and Restart() return at once.
struct FakeCollector::Served {
  uint64_t generation = 0;
  std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>();
  std::thread thread;
  bool stopped = false;
};

FakeCollector::FakeCollector(std::string write_key, int port) : write_key_(std::move(write_key)), port_(port) {
  std::lock_guard lock(mu_);
  Serve();
}

FakeCollector::~FakeCollector() {
  std::vector<std::unique_ptr<Served>> servers;
  {
    std::lock_guard lock(mu_);
    down_ = true;
    ++generation_;
    servers = std::move(servers_);
  }
  for (auto& s : servers) {
    if (!s->stopped) s->server->stop();
    if (s->thread.joinable()) s->thread.join();
  }
}

// Called with mu_ held.
void FakeCollector::Serve() {
  auto served = std::make_unique<Served>();
  served->generation = ++generation_;
  httplib::Server& server = *served->server;
  server.set_payload_max_length(64 << 20);
  server.set_tcp_nodelay(true);  // else Nagle and delayed ACKs cost 40 ms an answer
  server.set_keep_alive_max_count(1000000);
  const uint64_t generation = served->generation;
  server.Post("/v1/capture", [this, generation](const httplib::Request& req, httplib::Response& res) {
    Handle(generation, req, res);
  });
  if (port_ == 0) {
    port_ = server.bind_to_any_port("127.0.0.1");
  } else {
    // Right after a Stop() the port is free (the listening socket is closed,
    // and httplib sets SO_REUSEADDR for what is left in TIME_WAIT); retry a
    // little in case the kernel is slow to let go of it.
    const bool restart = !servers_.empty();
    bool bound = server.bind_to_port("127.0.0.1", port_);
    for (int i = 0; restart && i < 500 && !bound; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      bound = server.bind_to_port("127.0.0.1", port_);
    }
    if (!bound && restart) {
      std::fprintf(stderr, "FakeCollector: cannot bind 127.0.0.1:%d again\n", port_);
      std::abort();
    }
    if (!bound) port_ = -1;  // the constructor's caller checks port()
  }
  if (port_ <= 0) {
    down_ = true;
    return;
  }
  served->thread = std::thread([&server] { server.listen_after_bind(); });
  // stop() is a no-op on a server that is not running yet: wait for it, so
  // that a short test cannot leave the listener running forever.
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  down_ = false;
  servers_.push_back(std::move(served));
}

void FakeCollector::Stop() {
  std::lock_guard lock(mu_);
  down_ = true;
  ++generation_;  // what still comes on old connections is not accepted
  for (auto& s : servers_) {
    if (!s->stopped) {
      s->server->stop();  // closes the listening socket: connections are refused
      s->stopped = true;
    }
  }
  changed_.notify_all();
}

void FakeCollector::Restart() {
  std::lock_guard lock(mu_);
  if (!down_ || port_ <= 0) return;
  Serve();
}

bool FakeCollector::serving() const {
  std::lock_guard lock(mu_);
  return !down_;
}

std::string FakeCollector::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void FakeCollector::Handle(uint64_t generation, const httplib::Request& req, httplib::Response& res) {
  ReceivedRequest r;
  r.write_key = req.get_header_value("X-Write-Key");
  r.content_type = req.get_header_value("Content-Type");
  r.content_encoding = req.get_header_value("Content-Encoding");
  r.user_agent = req.get_header_value("User-Agent");
  r.body = req.body;  // cpp-httplib has already gunzipped it
  r.wire_bytes = req.has_header("Content-Length") ? std::stoul(req.get_header_value("Content-Length")) : 0;
  r.received_ms = WallClockMillis();

  ScriptedAnswer answer;
  bool overridden = false;  // scripted, or a failure mode
  bool stale = false;       // came on a connection of a stopped server
  std::string write_key;
  std::vector<std::string> markers;
  bool counts_only = false;
  {
    std::lock_guard lock(mu_);
    write_key = write_key_;
    counts_only = counts_only_;
    markers = poison_markers_;
    if (down_ || generation != generation_) {
      stale = true;
      answer = ScriptedAnswer::Drop();
      overridden = true;
    } else if (!script_.empty()) {
      answer = script_.front();
      script_.pop_front();
      overridden = true;
    } else if (fail_all_) {
      answer = *fail_all_;
      overridden = true;
    } else if (fail_fraction_ > 0) {
      std::uniform_real_distribution<double> u(0, 1);
      if (u(rng_) < fail_fraction_) {
        answer = u(rng_) < 0.5 ? ScriptedAnswer::Drop() : ScriptedAnswer::Status(503);
        overridden = true;
      }
    }
  }
  int status = 201;
  std::string message;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::array batch;
  bool parsed = false;
  if (r.write_key != write_key) {
    status = 401;
    message = "missing or invalid write key";
  } else if (parser.parse(r.body).get(doc) || doc["batch"].get_array().get(batch)) {
    status = 400;
    message = "invalid request body";
  } else {
    parsed = true;
    for (simdjson::dom::element e : batch) r.events.push_back(simdjson::minify(e));
    std::string_view sent_at;
    if (!doc["sentAt"].get_string().get(sent_at)) r.sent_at = std::string(sent_at);
    for (const auto& e : r.events) {
      for (const auto& m : markers) {
        if (e.find(m) != std::string::npos) {
          status = 400;
          message = "invalid event";
        }
      }
    }
  }
  if (overridden) {
    if (answer.delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(answer.delay_ms));
    status = answer.drop ? 0 : answer.status;
    message = stale ? "down" : "scripted";
  }
  r.status = status;
  if (answer.drop) {
    // Promise a body and break off: the client sees a broken connection.
    res.set_content_provider(1000, "application/json", [](size_t, size_t, httplib::DataSink&) { return false; });
  } else {
    res.status = status;
    if (!answer.retry_after.empty()) res.set_header("Retry-After", answer.retry_after);
    res.set_content(status / 100 == 2 ? R"({"status":"success"})" : R"({"error":")" + message + R"("})",
                    "application/json");
  }

  // What a de-duplicating collector would keep.
  struct Accepted {
    std::string id;  // empty: no messageId
    std::string canonical;
  };
  std::vector<Accepted> accepted;
  if (status / 100 == 2 && parsed && !counts_only) {
    std::set<std::string> ignored;
    {
      std::lock_guard lock(mu_);
      ignored = ignored_fields_;
    }
    for (simdjson::dom::element e : batch) {
      Accepted a;
      std::string_view id;
      if (!e["messageId"].get_string().get(id)) a.id = std::string(id);
      AppendCanonical(e, a.canonical, &ignored);
      accepted.push_back(std::move(a));
    }
  }

  std::function<void(const ReceivedRequest&)> hook;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < accepted.size(); ++i) {
      const Accepted& a = accepted[i];
      if (a.id.empty()) {
        ++without_id_;
        continue;
      }
      auto [it, inserted] = by_id_.try_emplace(a.id, Seen{r.events[i], a.canonical});
      if (inserted) continue;
      ++duplicates_;
      if (it->second.canonical != a.canonical) {
        ++foreign_;
        if (foreign_examples_.size() < 20) {
          foreign_examples_.push_back(a.id + ": " + it->second.event + " <> " + r.events[i]);
        }
      }
    }
    if (counts_only) {
      ReceivedRequest kept = r;
      kept.body.clear();
      kept.body.shrink_to_fit();
      kept.events.clear();
      kept.events.shrink_to_fit();
      requests_.push_back(std::move(kept));
    } else {
      requests_.push_back(r);
    }
    hook = on_request_;
  }
  if (hook) hook(r);
  changed_.notify_all();
}

void FakeCollector::Script(ScriptedAnswer answer) {
  std::lock_guard lock(mu_);
  script_.push_back(std::move(answer));
}

void FakeCollector::OnRequest(std::function<void(const ReceivedRequest&)> fn) {
  std::lock_guard lock(mu_);
  on_request_ = std::move(fn);
}

void FakeCollector::FailAll(ScriptedAnswer answer) {
  std::lock_guard lock(mu_);
  fail_all_ = std::move(answer);
}

void FakeCollector::FailRandomly(double fraction, uint64_t seed) {
  std::lock_guard lock(mu_);
  fail_fraction_ = fraction;
  rng_.seed(seed);
}

void FakeCollector::Heal() {
  std::lock_guard lock(mu_);
  fail_all_.reset();
  fail_fraction_ = 0;
}

void FakeCollector::RefuseEventsContaining(std::string marker) {
  std::lock_guard lock(mu_);
  if (marker.empty()) {
    poison_markers_.clear();
  } else {
    poison_markers_.push_back(std::move(marker));
  }
}

void FakeCollector::KeepCountsOnly() {
  std::lock_guard lock(mu_);
  counts_only_ = true;
}

void FakeCollector::SetWriteKey(std::string key) {
  std::lock_guard lock(mu_);
  write_key_ = std::move(key);
}

std::vector<ReceivedRequest> FakeCollector::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

size_t FakeCollector::accepted_events() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& r : requests_) {
    if (r.status / 100 == 2) n += r.events.size();
  }
  return n;
}

std::vector<std::string> FakeCollector::accepted_event_list() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> all;
  for (const auto& r : requests_) {
    if (r.status / 100 == 2) all.insert(all.end(), r.events.begin(), r.events.end());
  }
  return all;
}

size_t FakeCollector::accepted_unique() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

size_t FakeCollector::duplicate_deliveries() const {
  std::lock_guard lock(mu_);
  return duplicates_;
}

size_t FakeCollector::foreign_id_collisions() const {
  std::lock_guard lock(mu_);
  return foreign_;
}

std::vector<std::string> FakeCollector::foreign_id_collision_examples() const {
  std::lock_guard lock(mu_);
  return foreign_examples_;
}

size_t FakeCollector::accepted_without_message_id() const {
  std::lock_guard lock(mu_);
  return without_id_;
}

void FakeCollector::IgnoreFieldsWhenComparing(std::vector<std::string> top_level_fields) {
  std::lock_guard lock(mu_);
  ignored_fields_ = std::set<std::string>(top_level_fields.begin(), top_level_fields.end());
}

std::map<std::string, std::string> FakeCollector::accepted_by_message_id() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::string> out;
  for (const auto& [id, seen] : by_id_) out.emplace(id, seen.event);
  return out;
}

std::map<std::string, std::set<std::string>> FakeCollector::AcceptedIdsBy(const std::string& dotted_path) const {
  std::vector<std::string> keys;
  for (size_t start = 0;;) {
    const size_t dot = dotted_path.find('.', start);
    keys.push_back(dotted_path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::map<std::string, std::set<std::string>> out;
  simdjson::dom::parser parser;
  for (const auto& [id, event] : accepted_by_message_id()) {
    simdjson::dom::element e;
    if (parser.parse(event).get(e)) continue;
    bool found = true;
    for (const auto& k : keys) {
      if (e[k].get(e)) {
        found = false;
        break;
      }
    }
    std::string_view value;
    if (found && !e.get_string().get(value)) out[std::string(value)].insert(id);
  }
  return out;
}

size_t FakeCollector::request_count() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

size_t FakeCollector::requests_between(int64_t t0_ms, int64_t t1_ms) const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count_if(requests_.begin(), requests_.end(), [&](const ReceivedRequest& r) {
    return r.received_ms >= t0_ms && r.received_ms < t1_ms;
  }));
}

bool FakeCollector::WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  while (true) {
    lock.unlock();
    if (pred()) return true;
    lock.lock();
    if (std::chrono::steady_clock::now() >= deadline) break;
    changed_.wait_for(lock, std::chrono::milliseconds(50));
  }
  lock.unlock();
  return pred();
}

bool FakeCollector::WaitForEvents(size_t n, std::chrono::milliseconds timeout) {
  return WaitFor([&] { return accepted_events() >= n; }, timeout);
}

}  // namespace tailtrack::testing
