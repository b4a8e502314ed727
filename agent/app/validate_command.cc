#include <cstdio>

#include "app/commands.h"
#include "config/loader.h"
#include "rules/rule_set.h"

namespace tailtrack {

int ValidateCommand(const std::string& config_path) {
  try {
    const Config config = LoadConfig(config_path);
    RuleSet::Compile(config);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return kExitConfig;
  }
  std::printf("ok\n");
  return 0;
}

}  // namespace tailtrack
