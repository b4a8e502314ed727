// The commands of the command line. main.cc parses arguments and calls one of
// these; each returns the process exit status and prints its own errors
// (a ConfigError is one line on stderr and exit 78).
#pragma once

#include <string>

namespace tailtrack {

// `tailtrack validate -c FILE`: prints "ok", exit 0; or the error, exit 78.
int ValidateCommand(const std::string& config_path);

struct RunOptions {
  std::string config_path;
  // Print each batch to stdout as it would be sent, instead of sending it.
  // Needs no collector and no write key; state is not written.
  bool dry_run = false;
};

// `tailtrack run -c FILE`: runs the agent until SIGTERM/SIGINT, exit 0 after a clean drain.
int RunCommand(const RunOptions& options);

struct TestOptions {
  std::string config_path;
  std::string source;        // empty: run the config's own `tests:`
  std::string input = "-";   // file, or "-" for stdin
  bool stats = false;        // per-rule counts and unmatched samples to stderr
};

// `tailtrack test`: maps lines and prints events, one JSON per line; or runs
// the rule tests of the configuration.
int TestCommand(const TestOptions& options);

struct SpoolCommandOptions {
  std::string config_path;
  bool verify = false;  // list every piece of damage; exit 1 when there is any
};

// `tailtrack spool -c FILE [--verify]`: prints what waits in the spool and the
// dead-letter file. Reads only: no state lock, nothing changed. Exit 0; with
// --verify 1 when damage is found; 78 on a configuration error.
int SpoolCommand(const SpoolCommandOptions& options);

struct StatusOptions {
  std::string admin;        // HOST:PORT, [::1]:PORT or a port; empty: admin.listen of config_path, else 127.0.0.1:9464
  std::string config_path;  // read only for admin.listen
  bool watch = false;       // again every second until Ctrl-C, redrawn in place on a terminal
  bool json = false;        // the body of GET /status as it came
};

// `tailtrack status`: a running agent's GET /status for a person. Exit 0 when
// the agent answered; 1, with one line on stderr, when it could not be
// reached or did not answer with its status; 78 on a configuration error.
int StatusCommand(const StatusOptions& options);

}  // namespace tailtrack
