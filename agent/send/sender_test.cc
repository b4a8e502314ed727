#include "send/sender.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "fake_collector.h"
#include "test_util.h"

namespace tailtrack {
namespace {

using testing::FakeCollector;
using testing::RunLoopUntil;
using testing::ScriptedAnswer;

// The sender's owner, reduced to a queue: failed batches go back to its
// front and wait until the sender is ready again.
class Owner : public SenderListener {
 public:
  void OnDelivered(std::unique_ptr<Batch> batch) override { delivered.push_back(std::move(batch)); }
  void OnEventRefused(const Batch& batch, size_t index, long status, std::string_view answer) override {
    refused.push_back(std::string(batch.event(index)));
    statuses.push_back(status);
    answers.push_back(std::string(answer));
  }
  void OnReturned(std::unique_ptr<Batch> batch) override {
    ++returned;
    queue.push_front(std::move(batch));
  }
  void OnReady() override { Pump(); }
  void Pump() {
    while (sender && sender->Ready() && !queue.empty()) {
      auto b = std::move(queue.front());
      queue.pop_front();
      sender->Send(std::move(b));
    }
  }
  void Submit(std::unique_ptr<Batch> batch) {
    queue.push_back(std::move(batch));
    Pump();
  }

  Sender* sender = nullptr;
  std::deque<std::unique_ptr<Batch>> queue;
  std::vector<std::unique_ptr<Batch>> delivered;
  std::vector<std::string> refused;
  std::vector<long> statuses;
  std::vector<std::string> answers;
  int returned = 0;
};

std::unique_ptr<Batch> MakeBatch(int events, int first = 0) {
  auto b = std::make_unique<Batch>();
  for (int i = first; i < first + events; ++i) {
    b->Append(R"({"type":"track","event":"E","userId":"u)" + std::to_string(i) + "\"}", 0);
  }
  b->Seal();
  return b;
}

class SenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    config_.url = collector_.url() + "/";
    config_.write_key = "secret-key";
    config_.retry.initial_backoff = std::chrono::milliseconds(20);
    config_.retry.max_backoff = std::chrono::milliseconds(100);
    config_.timeout = std::chrono::milliseconds(2000);
  }
  void TearDown() override {
    if (sender_) {
      sender_->Close();
      testing::RunLoopToEnd(&loop_);
      EXPECT_TRUE(sender_->closed());
      sender_.reset();
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  Sender& Make() {
    sender_ = std::make_unique<Sender>(&loop_, config_, out_);
    out_.sender = sender_.get();
    std::string error;
    EXPECT_TRUE(sender_->Init(&error)) << error;
    return *sender_;
  }
  bool WaitDelivered(size_t n) {
    return RunLoopUntil(&loop_, [&] { return out_.delivered.size() >= n; });
  }

  FakeCollector collector_{"secret-key"};
  uv_loop_t loop_;
  CollectorConfig config_;
  Owner out_;
  std::unique_ptr<Sender> sender_;
};

TEST_F(SenderTest, PostsTheBatchWithItsHeadersToV1Capture) {
  Sender& s = Make();
  out_.Submit(MakeBatch(3));
  ASSERT_TRUE(WaitDelivered(1));
  const auto reqs = collector_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].status, 201);
  EXPECT_EQ(reqs[0].write_key, "secret-key");
  EXPECT_EQ(reqs[0].content_type, "application/json");
  EXPECT_EQ(reqs[0].content_encoding, "");
  EXPECT_EQ(reqs[0].user_agent, std::string("tailtrack/") + TAILTRACK_VERSION);
  EXPECT_EQ(reqs[0].events.size(), 3u);
  EXPECT_EQ(reqs[0].sent_at.size(), 24u);
  EXPECT_EQ(s.busy(), 0u);
  EXPECT_EQ(s.stats().delivered_events, 3u);
}

TEST_F(SenderTest, GzipsTheBodyWhenConfigured) {
  config_.compression = Compression::kGzip;
  Make();
  out_.Submit(MakeBatch(50));
  ASSERT_TRUE(WaitDelivered(1));
  const auto reqs = collector_.requests();
  EXPECT_EQ(reqs[0].content_encoding, "gzip");
  EXPECT_EQ(reqs[0].events.size(), 50u);
  EXPECT_LT(reqs[0].wire_bytes, reqs[0].body.size());
}

TEST_F(SenderTest, AFailedAttemptHandsTheBatchBackAndTheSameEventsGoAgainWithANewSentAt) {
  collector_.Script(ScriptedAnswer::Status(503));
  collector_.Script(ScriptedAnswer::Drop());
  Sender& s = Make();
  out_.Submit(MakeBatch(2));
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return out_.returned == 1; }));
  EXPECT_EQ(s.state(), CollectorState::kBackingOff);
  ASSERT_TRUE(WaitDelivered(1));
  const auto reqs = collector_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].status, 503);
  EXPECT_EQ(reqs[2].status, 201);
  EXPECT_EQ(reqs[2].events, reqs[0].events);
  EXPECT_EQ(out_.delivered[0]->attempts, 3);
  EXPECT_EQ(out_.returned, 2);
  EXPECT_EQ(s.stats().failed_attempts, 2u);
  EXPECT_EQ(s.state(), CollectorState::kHealthy);
}

TEST_F(SenderTest, ATimeoutIsAFailedAttempt) {
  config_.timeout = std::chrono::milliseconds(200);
  collector_.Script(ScriptedAnswer::Slow(600));
  Sender& s = Make();
  out_.Submit(MakeBatch(1));
  ASSERT_TRUE(WaitDelivered(1));
  EXPECT_GE(s.stats().failed_attempts, 1u);
}

TEST_F(SenderTest, WhileTheCollectorFailsOneRequestAtATimeProbesItWhateverWaits) {
  config_.max_in_flight = 4;
  config_.retry.initial_backoff = std::chrono::milliseconds(50);
  config_.retry.max_backoff = std::chrono::milliseconds(200);
  for (int i = 0; i < 1000; ++i) collector_.Script(ScriptedAnswer::Status(503));
  Make();
  for (int i = 0; i < 20; ++i) out_.Submit(MakeBatch(1, i));
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(800);
  RunLoopUntil(&loop_, [&] { return std::chrono::steady_clock::now() >= until; });
  const size_t requests = collector_.requests().size();
  // The first turn may start max_in_flight requests before any answer; after
  // that, one probe at a time, at least 10 ms apart.
  EXPECT_LE(requests, 4u + 800u / 10u);
  EXPECT_LT(requests, 20u + 4u) << "every waiting batch retried on its own";
  EXPECT_GE(requests, 2u);
  // Every batch waits, but the probe that may be in flight right now.
  EXPECT_EQ(out_.queue.size() + sender_->busy(), 20u);
  EXPECT_TRUE(out_.delivered.empty());
}

TEST_F(SenderTest, TheFirstSuccessAfterAnOutageResumesFullSending) {
  config_.max_in_flight = 3;
  collector_.Script(ScriptedAnswer::Status(503));
  Sender& s = Make();
  for (int i = 0; i < 6; ++i) out_.Submit(MakeBatch(1, i));
  ASSERT_TRUE(WaitDelivered(6));
  EXPECT_EQ(s.state(), CollectorState::kHealthy);
  EXPECT_EQ(collector_.accepted_events(), 6u);
}

TEST_F(SenderTest, A429HoldsEveryBatchForRetryAfter) {
  collector_.Script(ScriptedAnswer::Status(429, "1"));
  Sender& s = Make();
  out_.Submit(MakeBatch(1, 0));
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return out_.returned == 1; }));  // the 429 is in
  EXPECT_EQ(s.state(), CollectorState::kHeld);
  out_.Submit(MakeBatch(1, 1));  // arrives during the hold: waits too
  ASSERT_TRUE(WaitDelivered(2));
  const auto reqs = collector_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_GE(reqs[1].received_ms - reqs[0].received_ms, 900);
  EXPECT_GE(reqs[2].received_ms - reqs[0].received_ms, 900);
}

TEST_F(SenderTest, A200ToARequestSentBeforeA429DoesNotLiftItsHold) {
  config_.max_in_flight = 2;
  collector_.Script(ScriptedAnswer::Status(429, "2"));
  collector_.Script(ScriptedAnswer::Slow(300));  // the other request: accepted after the 429
  Sender& s = Make();
  out_.Submit(MakeBatch(1, 0));
  out_.Submit(MakeBatch(1, 1));
  ASSERT_TRUE(WaitDelivered(1));
  EXPECT_EQ(s.state(), CollectorState::kHeld);
  out_.Submit(MakeBatch(1, 2));
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return out_.delivered.size() == 3; }, std::chrono::seconds(5)));
  const auto reqs = collector_.requests();
  ASSERT_EQ(reqs.size(), 4u);
  int64_t held_at = 0;
  for (const auto& r : reqs) {
    if (r.status == 429) held_at = r.received_ms;
  }
  // Nothing went out before Retry-After, whatever the other answer said.
  EXPECT_GE(reqs[2].received_ms - held_at, 1900);
  EXPECT_GE(reqs[3].received_ms - held_at, 1900);
}

TEST_F(SenderTest, A429WithRetryAfterZeroOrAPastDateDoesNotSpin) {
  config_.retry.initial_backoff = std::chrono::milliseconds(400);
  config_.retry.max_backoff = std::chrono::milliseconds(1000);
  for (int i = 0; i < 25; ++i) {
    collector_.Script(ScriptedAnswer::Status(429, "0"));
    collector_.Script(ScriptedAnswer::Status(429, "Thu, 01 Jan 1970 00:00:00 GMT"));
  }
  Make();
  out_.Submit(MakeBatch(1));
  RunLoopUntil(&loop_, [] { return false; }, std::chrono::milliseconds(500));
  // At most one retry per initial_backoff, however fast the collector answers.
  EXPECT_LE(collector_.requests().size(), 3u);
}

TEST_F(SenderTest, A400SplitsTheBatchUntilTheRefusedEventIsAloneAndDeliversTheRest) {
  config_.max_in_flight = 1;  // one request at a time: the script's order is the pieces' order
  collector_.Script(ScriptedAnswer::Status(400));  // [0 1 2 3]
  collector_.Script(ScriptedAnswer::Status(400));  // [0 1]
  collector_.Script(ScriptedAnswer::Status(201));  // [0]
  collector_.Script(ScriptedAnswer::Status(400));  // [1]: refused alone
  collector_.Script(ScriptedAnswer::Status(201));  // [2 3]
  Sender& s = Make();
  out_.Submit(MakeBatch(4));
  ASSERT_TRUE(WaitDelivered(1));
  ASSERT_EQ(out_.refused.size(), 1u);
  EXPECT_NE(out_.refused[0].find("\"userId\":\"u1\""), std::string::npos) << out_.refused[0];
  EXPECT_EQ(out_.statuses[0], 400);
  EXPECT_EQ(out_.delivered[0]->event_count(), 4u);  // the whole batch counts as delivered
  const auto reqs = collector_.requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[2].events.size(), 1u);
  EXPECT_EQ(reqs[4].events.size(), 2u);
  EXPECT_EQ(s.state(), CollectorState::kHealthy);
  EXPECT_EQ(out_.returned, 0);
}

TEST_F(SenderTest, A400OnASingleEventRefusesItWithTheAnswer) {
  collector_.Script(ScriptedAnswer::Status(400));
  Make();
  out_.Submit(MakeBatch(1));
  ASSERT_TRUE(WaitDelivered(1));
  ASSERT_EQ(out_.refused.size(), 1u);
  EXPECT_NE(out_.answers[0].find("scripted"), std::string::npos);
  EXPECT_EQ(collector_.requests().size(), 1u);
}

TEST_F(SenderTest, AWrongKeyWaitsAndANewKeyIsTriedAtOnce) {
  config_.write_key = "wrong";
  Sender& s = Make();
  out_.Submit(MakeBatch(1));
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return out_.returned == 1; }));
  EXPECT_EQ(s.state(), CollectorState::kUnauthorized);
  EXPECT_FALSE(RunLoopUntil(&loop_, [&] { return collector_.requests().size() > 1; }, std::chrono::milliseconds(200)));
  EXPECT_EQ(collector_.requests()[0].status, 401);
  EXPECT_TRUE(out_.refused.empty());
  s.SetWriteKey("secret-key");
  ASSERT_TRUE(WaitDelivered(1));
  EXPECT_EQ(collector_.requests().back().write_key, "secret-key");
}

TEST_F(SenderTest, A404IsAWrongUrlNotARefusedEvent) {
  collector_.Script(ScriptedAnswer::Status(404));
  Sender& s = Make();
  out_.Submit(MakeBatch(2));
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return out_.returned == 1; }));
  EXPECT_EQ(s.state(), CollectorState::kMisconfigured);
  EXPECT_FALSE(s.Ready());
  EXPECT_TRUE(out_.refused.empty());
}

TEST_F(SenderTest, NeverRunsMoreThanMaxInFlightRequests) {
  config_.max_in_flight = 2;
  for (int i = 0; i < 6; ++i) collector_.Script(ScriptedAnswer::Slow(100));
  Sender& s = Make();
  for (int i = 0; i < 6; ++i) out_.Submit(MakeBatch(1, i));
  EXPECT_EQ(s.busy(), 2u);
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return out_.delivered.size() == 6; }));
  EXPECT_EQ(collector_.accepted_events(), 6u);
  EXPECT_GE(s.stats().requests, 6u);
  // Six 100 ms answers two at a time take at least three rounds.
  const auto reqs = collector_.requests();
  EXPECT_GE(reqs.back().received_ms - reqs.front().received_ms, 200);
}

TEST_F(SenderTest, CloseHandsBackWhatWasInFlight) {
  collector_.Script(ScriptedAnswer::Slow(1000));
  Sender& s = Make();
  out_.Submit(MakeBatch(4));
  ASSERT_TRUE(RunLoopUntil(&loop_, [&] { return !collector_.requests().empty() || s.busy() == 1; }));
  s.Close();
  const auto unsent = s.TakeUnsent();
  ASSERT_EQ(unsent.size(), 1u);
  EXPECT_EQ(unsent[0]->event_count(), 4u);
}

}  // namespace
}  // namespace tailtrack
