// tailtrack: turns application log lines into analytics events.
// Command line only; the work is in app/.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "app/commands.h"

int main(int argc, char** argv) {
  using namespace tailtrack;
  CLI::App app{"tailtrack: turns log lines into analytics events (track, page, identify)"};
  app.set_version_flag("--version", std::string("tailtrack ") + TAILTRACK_VERSION);
  app.require_subcommand(1);

  std::string config;
  RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "run the agent in the foreground until SIGTERM/SIGINT");
  run_cmd->add_option("-c,--config", run.config_path, "configuration file")->required();
  run_cmd->add_flag("--dry-run", run.dry_run, "print each batch to stdout instead of sending it");

  auto* validate_cmd = app.add_subcommand("validate", "check the configuration and print ok");
  validate_cmd->add_option("-c,--config", config, "configuration file")->required();

  TestOptions test;
  auto* test_cmd = app.add_subcommand(
      "test", "map lines with a source's rules and print the events; without --source, run the config's tests");
  test_cmd->add_option("-c,--config", test.config_path, "configuration file")->required();
  test_cmd->add_option("--source", test.source, "the source whose rules map the input");
  test_cmd->add_option("input", test.input, "input file, or - for stdin (default)");
  test_cmd->add_flag("--stats", test.stats, "print per-rule match counts and unmatched samples to stderr");

  SpoolCommandOptions spool;
  auto* spool_cmd = app.add_subcommand("spool", "list what waits in the spool and the dead-letter file");
  spool_cmd->add_option("-c,--config", spool.config_path, "configuration file")->required();
  spool_cmd->add_flag("--verify", spool.verify, "check every checksum; exit 1 on damage");

  StatusOptions status;
  auto* status_cmd = app.add_subcommand("status", "show what a running agent is doing (its admin endpoint's /status)");
  status_cmd->add_option("--admin", status.admin, "the agent's admin.listen address (default: from -c, else 127.0.0.1:9464)");
  status_cmd->add_option("-c,--config", status.config_path, "configuration file, read for admin.listen");
  status_cmd->add_flag("--watch", status.watch, "redraw every second until Ctrl-C");
  status_cmd->add_flag("--json", status.json, "print the raw JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    // A usage error is one line and exit 2; 78 is kept for configuration errors.
    bool unknown_command = argc > 1 && argv[1][0] != '-';
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      if (argc > 1 && sub->get_name() == argv[1]) unknown_command = false;
    }
    std::fprintf(stderr, "tailtrack: %s (see tailtrack --help)\n",
                 unknown_command ? (std::string("unknown command \"") + argv[1] + "\"").c_str() : e.what());
    return 2;
  }
  if (*run_cmd) return RunCommand(run);
  if (*validate_cmd) return ValidateCommand(config);
  if (*spool_cmd) return SpoolCommand(spool);
  if (*status_cmd) return StatusCommand(status);
  return TestCommand(test);
}
