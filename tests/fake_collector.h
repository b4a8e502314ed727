// A real HTTP collector on loopback for tests, on cpp-httplib: the seed's
// API (POST /v1/capture with X-Write-Key), answering 201 {"status":"success"},
// 400 for a body that is not JSON with a `batch` array, 401 for a wrong or
// missing key; and, when scripted, any other answer: a status with an
// optional Retry-After, a delay, or a dropped connection.
//
// Like a real Segment-style collector it also keeps what it accepted by
// messageId, so that tests can tell a harmless re-send (same messageId, same
// event: the collector drops it) from a reused id (same messageId, another
// event: a real collector would drop a line that was never stored).
//
// Opt-in behaviours, all off by default: every request failing (FailAll),
// a fraction failing (FailRandomly), batches refused for a poison event
// (RefuseEventsContaining), going down and up on the same port (Stop,
// Restart).
//
// It serves on its own threads; every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace tailtrack::testing {

// One answer to give instead of the normal one.
struct ScriptedAnswer {
  int status = 201;
  std::string retry_after;  // sent as Retry-After when not empty
  int delay_ms = 0;         // wait before answering
  bool drop = false;        // break the connection instead of answering

  static ScriptedAnswer Status(int status, std::string retry_after = "") {
    return {status, std::move(retry_after), 0, false};
  }
  static ScriptedAnswer Slow(int delay_ms, int status = 201) { return {status, "", delay_ms, false}; }
  static ScriptedAnswer Drop() { return {0, "", 0, true}; }
};

struct ReceivedRequest {
  std::string write_key;         // X-Write-Key as received
  std::string content_type;
  std::string content_encoding;
  std::string user_agent;
  std::string body;              // after gunzip
  size_t wire_bytes = 0;         // the body as it came (compressed or not)
  std::vector<std::string> events;  // each element of `batch`, as JSON text
  std::string sent_at;           // empty when absent
  int status = 0;                // what was answered (0: dropped)
  int64_t received_ms = 0;       // wall clock
};

class FakeCollector {
 public:
  // Binds 127.0.0.1 (port 0: any free port) and starts serving.
  explicit FakeCollector(std::string write_key, int port = 0);
  ~FakeCollector();
  FakeCollector(const FakeCollector&) = delete;
  FakeCollector& operator=(const FakeCollector&) = delete;

  int port() const { return port_; }
  std::string url() const;

  // Answers to give to the next requests, in order, before the normal ones.
  void Script(ScriptedAnswer answer);

  // Called (on a server thread) for every request after it is answered.
  void OnRequest(std::function<void(const ReceivedRequest&)> fn);

  std::vector<ReceivedRequest> requests() const;
  // Events in requests that were answered 2xx (re-sends counted each time).
  size_t accepted_events() const;
  std::vector<std::string> accepted_event_list() const;

  // Waits until pred() holds (checked at each request and every 50 ms) or
  // `timeout` passes; returns pred().
  bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool WaitForEvents(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Stops listening: from now on connections are refused, and a request that
  // still comes on a connection opened before is not accepted (its connection
  // is broken). Returns at once; the server's threads are joined later.
  void Stop();
  // Serves again on the same port, after Stop(). No-op when serving. Dies
  // (abort) if the port cannot be bound again within 5 s.
  void Restart();
  bool serving() const;

  // --- Answers ---

  // Every request (after the scripted ones) gets `answer` until Heal().
  void FailAll(ScriptedAnswer answer);
  // From now on, `fraction` of the requests (after the scripted ones) fail:
  // half of them answered 503, half with a broken connection. The draws come
  // from a generator seeded with `seed`, so a run can be repeated.
  void FailRandomly(double fraction, uint64_t seed = 1);
  // Ends FailAll and FailRandomly (scripted answers still come first).
  void Heal();
  // A batch holding an event whose JSON text contains `marker` is refused as
  // a whole: 400 {"error":"invalid event"}, as real collectors answer. Several
  // markers may be given; an empty marker clears them all.
  void RefuseEventsContaining(std::string marker);
  // The key requests must carry from now on (others: 401).
  void SetWriteKey(std::string key);
  // From now on requests are kept without their body and events, and accepted
  // events are not kept by messageId (the de-duplication counters below stop
  // counting): for runs of millions of events whose caller keeps its own
  // books in OnRequest, which still sees every request whole.
  void KeepCountsOnly();

  // --- De-duplication by messageId (events accepted in a 2xx answer) ---

  // Distinct messageIds accepted.
  size_t accepted_unique() const;
  // Accepted events whose messageId had already been accepted (re-sends that
  // a real collector drops).
  size_t duplicate_deliveries() const;
  // Accepted events whose messageId had already been accepted with another
  // event: a reused id, which at a real collector loses the second event.
  // Events are compared as JSON (key order does not matter), without the
  // top-level fields named in IgnoreFieldsWhenComparing (default: sentAt).
  size_t foreign_id_collisions() const;
  // Up to 20 of them, "messageId: first event <> later event", for messages.
  std::vector<std::string> foreign_id_collision_examples() const;
  // Accepted events without a top-level string messageId (not counted above).
  size_t accepted_without_message_id() const;
  // Top-level fields that may differ between two sends of one event (set
  // before the first request).
  void IgnoreFieldsWhenComparing(std::vector<std::string> top_level_fields);
  // The first event accepted under each messageId.
  std::map<std::string, std::string> accepted_by_message_id() const;
  // For each value of the string field at `dotted_path` (e.g.
  // "properties.order_id") in the accepted events, the messageIds it came
  // with. One line sent twice under one id gives one id; a line sent again
  // under another id gives two.
  std::map<std::string, std::set<std::string>> AcceptedIdsBy(const std::string& dotted_path) const;

  // --- Rates ---

  size_t request_count() const;
  // Requests received at wall-clock times in [t0_ms, t1_ms).
  size_t requests_between(int64_t t0_ms, int64_t t1_ms) const;

 private:
  struct Served;
  void Serve();  // a new httplib::Server on port_ (0: any), with its thread
  void Handle(uint64_t generation, const httplib::Request& req, httplib::Response& res);

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::string write_key_;
  int port_ = 0;
  uint64_t generation_ = 0;  // the Served whose requests count
  bool down_ = false;
  std::vector<std::unique_ptr<Served>> servers_;  // the current one last; older ones wind down

  std::deque<ScriptedAnswer> script_;
  std::optional<ScriptedAnswer> fail_all_;
  double fail_fraction_ = 0;
  std::mt19937_64 rng_;
  std::vector<std::string> poison_markers_;
  bool counts_only_ = false;

  std::vector<ReceivedRequest> requests_;
  std::function<void(const ReceivedRequest&)> on_request_;

  std::set<std::string> ignored_fields_{"sentAt"};
  struct Seen {
    std::string event;      // as first accepted
    std::string canonical;  // what later ones are compared with
  };
  std::map<std::string, Seen> by_id_;
  size_t duplicates_ = 0;
  size_t foreign_ = 0;
  size_t without_id_ = 0;
  std::vector<std::string> foreign_examples_;
};

}  // namespace tailtrack::testing
