// fake_collector: a loopback collector for trying tailtrack by hand.
//   fake_collector [--port N] [--write-key K] [--quiet]
// Prints each batch it accepts to stdout, one line each (--quiet: only the
// number of events in it, for benchmarks); answers as the seed's API does.
// Stops on SIGINT/SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "fake_collector.h"

int main(int argc, char** argv) {
  int port = 0;
  std::string key = "test-key";
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--port") && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--write-key") && i + 1 < argc) {
      key = argv[++i];
    } else if (!std::strcmp(argv[i], "--quiet")) {
      quiet = true;
    } else {
      std::fprintf(stderr, "usage: %s [--port N] [--write-key K] [--quiet]\n", argv[0]);
      return 2;
    }
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the server's threads start

  tailtrack::testing::FakeCollector collector(key, port);
  if (collector.port() <= 0) {
    std::fprintf(stderr, "fake_collector: cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  collector.OnRequest([quiet](const tailtrack::testing::ReceivedRequest& r) {
    if (r.status / 100 == 2) {
      if (quiet) {
        std::printf("%zu\n", r.events.size());
      } else {
        std::printf("%s\n", r.body.c_str());
      }
      std::fflush(stdout);
    } else {
      std::fprintf(stderr, "fake_collector: answered %d\n", r.status);
    }
  });
  std::fprintf(stderr, "fake_collector: listening on %s (POST /v1/capture)\n", collector.url().c_str());
  int sig = 0;
  sigwait(&signals, &sig);
  collector.Stop();
  return 0;
}
