#include <cstdio>

#include "app/agent.h"
#include "app/commands.h"
#include "config/loader.h"
#include "rules/rule_set.h"

namespace tailtrack {

int RunCommand(const RunOptions& options) {
  Config config;
  std::unique_ptr<RuleSet> rules;
  try {
    config = LoadConfig(options.config_path, ProcessEnv(), LoadOptions{.require_write_key = !options.dry_run});
    rules = RuleSet::Compile(config);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return kExitConfig;
  }
  Agent agent(config, std::move(rules), AgentOptions{.dry_run = options.dry_run});
  return agent.Run();
}

}  // namespace tailtrack
