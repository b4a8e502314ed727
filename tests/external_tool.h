// Helpers for tests that run tools of the system (promtool, yamllint, node,
// ldd, dpkg) on files of the repository.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace tailtrack::testing {

// The absolute path of `name` found on $PATH, or "" when it is not there.
std::string FindProgram(const std::string& name);

struct ToolResult {
  int status = -1;  // exit status; -1 when it did not finish in time
  std::string out;
  std::string err;
  // For assertion messages: the status and both outputs.
  std::string Describe() const;
};

// Runs argv (argv[0] an absolute path) with extra environment `env`
// ("NAME=value") and waits for it.
ToolResult RunTool(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(120));

// A loopback TCP port nothing listens on right now.
int FreeLoopbackPort();

// The source tree's path of a repository file.
std::string SourcePath(const std::string& relative);

}  // namespace tailtrack::testing
