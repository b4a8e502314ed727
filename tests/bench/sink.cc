// tailtrack_bench_sink: the benchmark's collector on loopback. It is built to
// be fast, so that the agent, not the sink, sets the end-to-end rate.
//
//   tailtrack_bench_sink [--port P] [--write-key K] [--expect-event NAME]
//                        [--expect-properties a,b,c] [--threads N]
//     Serves POST /v1/capture: 401 without the write key, 400 on a body that
//     is not {"batch":[...]}, else 201. cpp-httplib gunzips a body sent with
//     Content-Encoding: gzip. Each event is checked (type, messageId, and the
//     expected event name and properties when given) and counted, and
//     messageIds are kept to count distinct ones. GET /stats answers the
//     counts as JSON. Prints "listening on http://127.0.0.1:PORT" on stderr.
//
//   tailtrack_bench_sink --blast URL [--clients N] [--seconds S] [--gzip]
//     The sink's own ceiling: N keep-alive clients post the same pre-built
//     batch of 500 valid events as fast as the sink answers, for S seconds;
//     prints one JSON line {"events_per_s":..., "requests_per_s":..., ...}.
#include <httplib.h>
#include <simdjson.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

struct Options {
  int port = 0;
  std::string write_key = "bench-key";
  std::string expect_event;
  std::vector<std::string> expect_properties;
  int threads = 32;  // httplib holds a thread per keep-alive connection: the agent's, and /stats
  std::string blast_url;
  int clients = 2;
  double seconds = 3;
  bool gzip = false;
};

std::vector<std::string> SplitComma(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t comma = s.find(',');
    if (comma != 0) out.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "tailtrack_bench_sink: %s\n", why);
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage(("missing value after " + std::string(a)).c_str());
      return argv[++i];
    };
    if (a == "--port") o.port = std::atoi(value());
    else if (a == "--write-key") o.write_key = value();
    else if (a == "--expect-event") o.expect_event = value();
    else if (a == "--expect-properties") o.expect_properties = SplitComma(value());
    else if (a == "--threads") o.threads = std::max(1, std::atoi(value()));
    else if (a == "--blast") o.blast_url = value();
    else if (a == "--clients") o.clients = std::max(1, std::atoi(value()));
    else if (a == "--seconds") o.seconds = std::atof(value());
    else if (a == "--gzip") o.gzip = true;
    else Usage(("unknown option " + std::string(a)).c_str());
  }
  return o;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Everything the sink has seen. One mutex: a batch takes it once, after it is parsed.
class Tally {
 public:
  Tally() { ids_.reserve(1 << 21); }

  void AddRequest(size_t wire_bytes, size_t body_bytes, bool gzip, int status) {
    std::lock_guard lock(mu_);
    ++requests_;
    wire_bytes_ += wire_bytes;
    body_bytes_ += body_bytes;
    if (gzip) ++gzip_requests_;
    if (status != 201) ++rejected_;
    double now = Now();
    if (first_ == 0) first_ = now;
    last_ = now;
  }

  // ids: the 64-bit hashes of the batch's messageIds. Two of a million ids
  // share a hash with a chance of about 3e-8: the distinct count is exact in practice,
  // and hashes keep the set (and its cost per event) small.
  void AddEvents(const std::vector<uint64_t>& ids, uint64_t invalid) {
    std::lock_guard lock(mu_);
    events_ += ids.size() + invalid;
    invalid_ += invalid;
    for (uint64_t id : ids) {
      if (!ids_.insert(id).second) ++duplicates_;
    }
  }

  std::string Json() {
    std::lock_guard lock(mu_);
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "{\"requests\":%llu,\"gzip_requests\":%llu,\"rejected\":%llu,\"events\":%llu,"
                  "\"invalid_events\":%llu,\"distinct_ids\":%zu,\"duplicates\":%llu,"
                  "\"wire_bytes\":%llu,\"body_bytes\":%llu,\"first_request_s\":%.6f,\"last_request_s\":%.6f}",
                  (unsigned long long)requests_, (unsigned long long)gzip_requests_, (unsigned long long)rejected_,
                  (unsigned long long)events_, (unsigned long long)invalid_, ids_.size(),
                  (unsigned long long)duplicates_, (unsigned long long)wire_bytes_,
                  (unsigned long long)body_bytes_, first_, last_);
    return buf;
  }

  void Reset() {
    std::lock_guard lock(mu_);
    requests_ = gzip_requests_ = rejected_ = events_ = invalid_ = duplicates_ = wire_bytes_ = body_bytes_ = 0;
    first_ = last_ = 0;
    ids_.clear();
  }

 private:
  std::mutex mu_;
  uint64_t requests_ = 0, gzip_requests_ = 0, rejected_ = 0, events_ = 0, invalid_ = 0, duplicates_ = 0;
  uint64_t wire_bytes_ = 0, body_bytes_ = 0;
  double first_ = 0, last_ = 0;
  std::unordered_set<uint64_t> ids_;
};

bool HasString(simdjson::dom::element obj, const char* key) {
  std::string_view s;
  return !obj[key].get_string().get(s) && !s.empty();
}

// An event as the agent's rules make it: a type and a messageId, and when
// expected, the event name and every expected property.
bool ValidEvent(simdjson::dom::element e, const Options& o, std::string_view& id) {
  if (!HasString(e, "type") || e["messageId"].get_string().get(id) || id.empty()) return false;
  if (!o.expect_event.empty()) {
    std::string_view name;
    if (e["event"].get_string().get(name) || name != o.expect_event) return false;
  }
  if (!o.expect_properties.empty()) {
    simdjson::dom::object props;
    if (e["properties"].get_object().get(props)) return false;
    for (const auto& p : o.expect_properties) {
      simdjson::dom::element v;
      if (props[p].get(v)) return false;
    }
  }
  return true;
}

int Serve(const Options& o) {
  Tally tally;
  httplib::Server server;
  server.new_task_queue = [&] { return new httplib::ThreadPool(o.threads); };
  // Without it the answer's header and body wait on each other's delayed ACK (40 ms).
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1000000);  // not a new connection every 5 requests, httplib's default
  server.Post("/v1/capture", [&](const httplib::Request& req, httplib::Response& res) {
    bool gzip = req.get_header_value("Content-Encoding") == "gzip";
    size_t wire = req.has_header("Content-Length") ? std::stoul(req.get_header_value("Content-Length")) : 0;
    if (req.get_header_value("X-Write-Key") != o.write_key) {
      res.status = 401;
      res.set_content(R"({"error":"missing or invalid write key"})", "application/json");
      tally.AddRequest(wire, req.body.size(), gzip, res.status);
      return;
    }
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::array batch;
    if (parser.parse(req.body).get(doc) || doc["batch"].get_array().get(batch)) {
      res.status = 400;
      res.set_content(R"({"error":"invalid request body"})", "application/json");
      tally.AddRequest(wire, req.body.size(), gzip, res.status);
      return;
    }
    std::vector<uint64_t> ids;
    uint64_t invalid = 0;
    for (simdjson::dom::element e : batch) {
      std::string_view id;
      if (ValidEvent(e, o, id)) {
        ids.push_back(std::hash<std::string_view>{}(id));
      } else {
        ++invalid;
      }
    }
    res.status = 201;
    res.set_content(R"({"status":"success"})", "application/json");
    tally.AddRequest(wire, req.body.size(), gzip, res.status);
    tally.AddEvents(ids, invalid);
  });
  server.Get("/stats", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(tally.Json(), "application/json");
  });
  server.Post("/reset", [&](const httplib::Request&, httplib::Response& res) {
    tally.Reset();
    res.set_content(tally.Json(), "application/json");
  });
  int port = o.port;
  if (port == 0) {
    port = server.bind_to_any_port("127.0.0.1");
  } else if (!server.bind_to_port("127.0.0.1", port)) {
    port = -1;
  }
  if (port <= 0) {
    std::fprintf(stderr, "tailtrack_bench_sink: cannot listen on 127.0.0.1:%d\n", o.port);
    return 1;
  }
  std::fprintf(stderr, "listening on http://127.0.0.1:%d\n", port);
  std::fflush(stderr);
  return server.listen_after_bind() ? 0 : 1;
}

std::string Gzip(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = in.size();
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = out.size();
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A batch like the agent's for the benchmark's rule: 500 track events.
std::string BatchBody() {
  std::string body = "{\"batch\":[";
  char ev[512];
  for (int i = 0; i < 500; ++i) {
    std::snprintf(ev, sizeof ev,
                  "%s{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"user_%d\","
                  "\"timestamp\":\"2026-01-20T06:30:00.%03dZ\",\"properties\":{\"order_id\":\"ord_%d\","
                  "\"total\":%d.%02d,\"currency\":\"USD\",\"channel\":\"web\"},"
                  "\"context\":{\"library\":{\"name\":\"tailtrack\",\"version\":\"0.1.0\"}},"
                  "\"messageId\":\"shop-order-completed-%016x\"}",
                  i ? "," : "", 100000 + i * 7, i % 1000, 4000000 + i * 13, i * 3 % 2500, i % 100, i * 2654435761u);
    body += ev;
  }
  body += "],\"sentAt\":\"2026-01-20T06:30:01.000Z\"}";
  return body;
}

int Blast(const Options& o) {
  std::string body = BatchBody();
  if (o.gzip) body = Gzip(body);
  std::atomic<uint64_t> ok{0}, failed{0};
  double start = Now();
  double stop = start + o.seconds;
  std::vector<std::thread> clients;
  for (int c = 0; c < o.clients; ++c) {
    clients.emplace_back([&] {
      httplib::Client client(o.blast_url);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      httplib::Headers headers = {{"X-Write-Key", o.write_key}};
      if (o.gzip) headers.emplace("Content-Encoding", "gzip");
      while (Now() < stop) {
        auto res = client.Post("/v1/capture", headers, body, "application/json");
        (res && res->status == 201 ? ok : failed)++;
      }
    });
  }
  for (auto& t : clients) t.join();
  double elapsed = Now() - start;
  std::printf("{\"clients\":%d,\"seconds\":%.3f,\"gzip\":%s,\"requests\":%llu,\"failed\":%llu,"
              "\"events_per_s\":%.0f,\"requests_per_s\":%.0f,\"body_bytes\":%zu}\n",
              o.clients, elapsed, o.gzip ? "true" : "false", (unsigned long long)ok.load(),
              (unsigned long long)failed.load(), ok * 500 / elapsed, ok / elapsed, body.size());
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  return o.blast_url.empty() ? Serve(o) : Blast(o);
}
