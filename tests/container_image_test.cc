// packaging/container/Dockerfile, checked without a container engine (none
// runs on these machines): its stages, user, entrypoint and volume; that every
// shared library the real binary links is installed in the runtime stage by a
// package it names (or one those depend on); that the build stage installs
// only packages packaging/install-deps.sh knows; that .dockerignore keeps what
// the build copies; and that the image's configuration validates.
// Not checked here: that `docker build` succeeds, that the image starts.
#include <fnmatch.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "external_tool.h"
#include "test_util.h"

namespace tailtrack::testing {
namespace {

struct Stage {
  std::string from;                      // "debian:bookworm AS build"
  std::vector<std::string> instructions;  // continuation lines joined, comments dropped
  std::set<std::string> apt_packages;     // named by `apt-get install`
};

std::vector<Stage> ParseDockerfile(const std::string& text) {
  std::vector<Stage> stages;
  std::stringstream lines(text);
  std::string line, joined;
  auto flush = [&] {
    if (joined.empty()) return;
    if (joined.rfind("FROM ", 0) == 0) {
      stages.push_back({joined.substr(5), {}, {}});
    } else if (!stages.empty()) {
      stages.back().instructions.push_back(joined);
    }
    joined.clear();
  };
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const bool continued = !line.empty() && line.back() == '\\';
    if (continued) line.pop_back();
    joined += line;
    if (!continued) flush();
  }
  flush();
  // The words after "apt-get install" that are not options, up to the next &&.
  static const std::regex kInstall(R"(apt-get install((?:\s+[^&\s]+)+))");
  for (auto& stage : stages) {
    for (const auto& instruction : stage.instructions) {
      for (std::sregex_iterator it(instruction.begin(), instruction.end(), kInstall), end; it != end; ++it) {
        std::stringstream words((*it)[1].str());
        std::string word;
        while (words >> word) {
          if (word[0] != '-') stage.apt_packages.insert(word);
        }
      }
    }
  }
  return stages;
}

std::vector<std::string> Instructions(const Stage& stage, const std::string& keyword) {
  std::vector<std::string> out;
  for (const auto& i : stage.instructions) {
    if (i.rfind(keyword + " ", 0) == 0) out.push_back(i.substr(keyword.size() + 1));
  }
  return out;
}

// The packages that installed `paths` on this (Debian 12) machine, by path as
// given; a path no package owns (under its name or its real one) is missing.
// One dpkg-query for all: it reads the whole file database each time.
std::map<std::string, std::string> PackagesOwning(const std::string& dpkg_query, const std::vector<std::string>& paths) {
  std::vector<std::string> argv = {dpkg_query, "-S"};
  std::map<std::string, std::string> given_as;  // a name dpkg may know -> the path given
  for (const auto& p : paths) {
    for (const std::string& name : {p, std::filesystem::weakly_canonical(p).string()}) {
      if (given_as.emplace(name, p).second) argv.push_back(name);
    }
  }
  const ToolResult r = RunTool(argv);  // exit 1 when some path is unknown: the rest are listed
  std::map<std::string, std::string> out;
  static const std::regex kLine(R"(^([^:,\s]+)[^ ]*: (/\S+)$)");
  std::stringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_match(line, m, kLine) || !given_as.count(m[2].str())) continue;
    // The name as given wins over its real name (libuv.so is libuv1-dev's, its target libuv1's).
    const std::string& given = given_as[m[2].str()];
    if (m[2].str() == given || !out.count(given)) out[given] = m[1].str();
  }
  return out;
}

// Installed packages that `roots` depend on (Depends, Pre-Depends), transitively.
// One dpkg-query per level of the graph.
std::set<std::string> DependencyClosure(const std::string& dpkg_query, const std::set<std::string>& roots) {
  std::set<std::string> seen;
  std::set<std::string> level = roots;
  while (!level.empty()) {
    std::vector<std::string> argv = {dpkg_query, "-W", "-f=${Depends}, ${Pre-Depends}\n"};
    for (const auto& p : level) {
      if (seen.insert(p).second) argv.push_back(p);
    }
    level.clear();
    if (argv.size() == 3) break;
    // Names that are not installed (alternatives, virtual packages) are reported on stderr and skipped.
    const ToolResult r = RunTool(argv);
    static const std::regex kName(R"((?:^|[,|\n])\s*([a-z0-9][a-z0-9.+-]+))");
    for (std::sregex_iterator it(r.out.begin(), r.out.end(), kName), end; it != end; ++it) {
      if (!seen.count((*it)[1].str())) level.insert((*it)[1].str());
    }
  }
  return seen;
}

// install-deps.sh's package names: the words inside its packages=( ... ) and packages+=( ... ).
std::set<std::string> InstallDepsPackages() {
  const std::string text = ReadFile(SourcePath("packaging/install-deps.sh"));
  std::set<std::string> out;
  static const std::regex kList(R"(packages\+?=\(([^)]*)\))");
  for (std::sregex_iterator it(text.begin(), text.end(), kList), end; it != end; ++it) {
    std::stringstream lines((*it)[1].str());
    std::string line;
    while (std::getline(lines, line)) {
      std::stringstream words(line.substr(0, line.find('#')));
      std::string word;
      while (words >> word) out.insert(word);
    }
  }
  return out;
}

// True when the binary under test links a sanitizer's runtime (tests/run.sh
// --sanitize): the image's binary is built without one.
bool SanitizerBuild(const std::string& objdump_output) {
  return std::regex_search(objdump_output, std::regex(R"(NEEDED\s+lib(a|ub)san)"));
}

class ContainerImage : public ::testing::Test {
 protected:
  void SetUp() override {
    dockerfile_ = ReadFile(SourcePath("packaging/container/Dockerfile"));
    stages_ = ParseDockerfile(dockerfile_);
    ASSERT_EQ(stages_.size(), 2u) << "a build stage and a runtime stage";
  }
  const Stage& build() const { return stages_.front(); }
  const Stage& runtime() const { return stages_.back(); }

  std::string dockerfile_;
  std::vector<Stage> stages_;
};

TEST_F(ContainerImage, BuildsOnDebian12AndRunsOnSlimAsANumericNonRootUser) {
  EXPECT_EQ(build().from, "debian:bookworm AS build");
  EXPECT_EQ(runtime().from, "debian:bookworm-slim");
  const auto users = Instructions(runtime(), "USER");
  ASSERT_EQ(users.size(), 1u);
  EXPECT_TRUE(std::regex_match(users[0], std::regex("[1-9][0-9]*:[1-9][0-9]*")))
      << "USER must be numeric uid:gid, not root (runAsNonRoot can only check a number): " << users[0];
  EXPECT_EQ(Instructions(runtime(), "ENTRYPOINT"),
            std::vector<std::string>{R"(["tailtrack", "run", "-c", "/etc/tailtrack/tailtrack.yaml"])"});
  // State and spool on a volume: the root file system can be read-only.
  EXPECT_EQ(Instructions(runtime(), "VOLUME"), std::vector<std::string>{R"(["/var/lib/tailtrack"])"});
  const std::string config = ReadFile(SourcePath("packaging/container/tailtrack.yaml"));
  EXPECT_NE(config.find("\nstate_dir: /var/lib/tailtrack "), std::string::npos) << "state on the image's volume";
  EXPECT_NE(config.find("\n  listen: 0.0.0.0:9464 "), std::string::npos) << "admin port reachable by probes";
  EXPECT_NE(dockerfile_.find("EXPOSE 9464\n"), std::string::npos);
  // The binary on $PATH (the entrypoint names it without a directory) and the configuration where it reads it.
  const auto copies = Instructions(runtime(), "COPY");
  EXPECT_NE(std::find(copies.begin(), copies.end(), "--from=build /src/build/tailtrack /usr/bin/tailtrack"), copies.end());
  EXPECT_NE(std::find(copies.begin(), copies.end(), "packaging/container/tailtrack.yaml /etc/tailtrack/tailtrack.yaml"),
            copies.end());
}

TEST_F(ContainerImage, EveryLibraryTheBinaryLinksComesFromAPackageTheRuntimeStageInstalls) {
  const std::string ldd = FindProgram("ldd"), objdump = FindProgram("objdump"), dpkg_query = FindProgram("dpkg-query");
  if (ldd.empty() || objdump.empty() || dpkg_query.empty()) GTEST_SKIP() << "needs ldd, objdump and dpkg-query (Debian)";
  const std::set<std::string>& installed = runtime().apt_packages;
  ASSERT_FALSE(installed.empty());
  // libc6 is essential: it is in every Debian image.
  std::set<std::string> provided = DependencyClosure(dpkg_query, installed);
  provided.insert("libc6");

  const ToolResult headers = RunTool({objdump, "-p", TAILTRACK_BINARY});
  if (SanitizerBuild(headers.out)) GTEST_SKIP() << "a sanitizer build links libasan/libubsan; the image's binary does not";

  // Every library loaded (ldd: NEEDED and theirs) is in an installed package or its dependencies...
  const ToolResult loaded = RunTool({ldd, TAILTRACK_BINARY});
  ASSERT_EQ(loaded.status, 0) << loaded.Describe();
  std::map<std::string, std::string> path_of;  // soname -> the path it resolved to
  static const std::regex kResolved(R"(^\s*(\S+) => (/\S+))");
  std::stringstream lines(loaded.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, kResolved)) path_of[m[1].str()] = m[2].str();
  }
  std::vector<std::string> paths;
  for (const auto& [soname, path] : path_of) paths.push_back(path);
  const std::map<std::string, std::string> owner = PackagesOwning(dpkg_query, paths);
  std::map<std::string, std::string> package_of;  // soname -> package
  for (const auto& [soname, path] : path_of) {
    ASSERT_TRUE(owner.count(path)) << path << " belongs to no Debian package: the image could not provide it";
    const std::string& package = package_of[soname] = owner.at(path);
    EXPECT_TRUE(provided.count(package)) << soname << " comes from " << package
                                         << ", which the runtime stage neither installs nor gets through a dependency";
  }
  ASSERT_GT(package_of.size(), 5u) << loaded.out;

  // ...and the binary's own NEEDED libraries are from packages it names (not by chance through another's).
  ASSERT_EQ(headers.status, 0) << headers.Describe();
  static const std::regex kNeeded(R"(NEEDED\s+(\S+))");
  int needed = 0;
  for (std::sregex_iterator it(headers.out.begin(), headers.out.end(), kNeeded), end; it != end; ++it, ++needed) {
    const std::string soname = (*it)[1].str();
    ASSERT_TRUE(package_of.count(soname)) << soname << " is NEEDED but ldd did not resolve it";
    const std::string& package = package_of[soname];
    EXPECT_TRUE(package == "libc6" || installed.count(package))
        << TAILTRACK_BINARY << " needs " << soname << " from " << package << ": add it to the runtime stage's apt-get install";
  }
  EXPECT_GT(needed, 5);
  // Not libraries, but needed at run time: HTTPS to the collector, zone names in the timestamp filter.
  EXPECT_TRUE(installed.count("ca-certificates"));
  EXPECT_TRUE(installed.count("tzdata"));
}

TEST_F(ContainerImage, TheBuildStageInstallsWhatInstallDepsKnowsAndTheDevPackagesOfEveryLinkedLibrary) {
  const std::string objdump = FindProgram("objdump"), dpkg_query = FindProgram("dpkg-query");
  if (objdump.empty() || dpkg_query.empty()) GTEST_SKIP() << "needs objdump and dpkg-query (Debian)";
  const std::set<std::string> known = InstallDepsPackages();
  ASSERT_TRUE(known.count("libuv1-dev")) << "install-deps.sh's package list was not found";
  const std::set<std::string>& build_packages = build().apt_packages;
  for (const auto& p : build_packages) {
    EXPECT_TRUE(known.count(p)) << "the build stage installs " << p << ", which packaging/install-deps.sh does not";
  }
  for (const std::string p : {"build-essential", "cmake", "pkg-config", "libhowardhinnant-date-dev", "libcli11-dev"}) {
    EXPECT_TRUE(build_packages.count(p)) << p;  // the toolchain and header-only libraries
  }
  // The -dev package of each linked library: the one owning its unversioned link (libuv.so -> libuv1-dev).
  const ToolResult headers = RunTool({objdump, "-p", TAILTRACK_BINARY});
  ASSERT_EQ(headers.status, 0) << headers.Describe();
  if (SanitizerBuild(headers.out)) GTEST_SKIP() << "a sanitizer build links libasan/libubsan; the image's binary does not";
  static const std::regex kNeeded(R"(NEEDED\s+(lib\S+)\.so)");
  std::vector<std::string> links;
  for (std::sregex_iterator it(headers.out.begin(), headers.out.end(), kNeeded), end; it != end; ++it) {
    const std::string link = "/usr/lib/x86_64-linux-gnu/" + (*it)[1].str() + ".so";
    if (std::filesystem::exists(link)) links.push_back(link);  // else not on this architecture's path
  }
  const std::map<std::string, std::string> owner = PackagesOwning(dpkg_query, links);
  int checked = 0;
  for (const auto& [link, dev] : owner) {
    if (dev.find("-dev") == std::string::npos || dev.rfind("libc6", 0) == 0 || dev.rfind("libstdc++", 0) == 0 ||
        dev.rfind("libgcc", 0) == 0) {
      continue;  // the C and C++ runtimes come with build-essential
    }
    ++checked;
    EXPECT_TRUE(build_packages.count(dev)) << link << " is from " << dev << ", which the build stage does not install";
  }
  EXPECT_GE(checked, 5);
}

TEST_F(ContainerImage, DockerignoreKeepsWhatTheBuildCopiesAndDropsBuildTrees) {
  const std::string ignore = ReadFile(SourcePath(".dockerignore"));
  std::vector<std::string> patterns;
  std::stringstream lines(ignore);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] != '#') patterns.push_back(line);
  }
  // A path is excluded when a pattern matches it or one of its parent directories
  // (docker's rules, without `!` exceptions, which this file does not use).
  auto excluded = [&](const std::string& path) {
    for (const auto& pattern : patterns) {
      EXPECT_NE(pattern[0], '!') << "exceptions are not modelled here: " << pattern;
      std::string p = path;
      while (!p.empty()) {
        const std::string glob = pattern.rfind("**/", 0) == 0 ? pattern.substr(3) : pattern;
        const std::string name = pattern.rfind("**/", 0) == 0 ? std::filesystem::path(p).filename().string() : p;
        if (::fnmatch(glob.c_str(), name.c_str(), FNM_PATHNAME) == 0) return true;
        const size_t slash = p.rfind('/');
        p = slash == std::string::npos ? "" : p.substr(0, slash);
      }
    }
    return false;
  };
  for (const std::string kept : {"CMakeLists.txt", "agent/main.cc", "agent/app/agent.cc", "packaging/container/tailtrack.yaml"}) {
    EXPECT_FALSE(excluded(kept)) << kept << " is needed by the build";
    EXPECT_TRUE(std::filesystem::exists(SourcePath(kept))) << kept;
  }
  for (const std::string dropped : {"build/tailtrack", "build-asan/CMakeCache.txt", ".git/HEAD",
                                    "packaging/kubernetes/check/node_modules/yaml/package.json"}) {
    EXPECT_TRUE(excluded(dropped)) << dropped << " would be sent to the image build";
  }
}

TEST_F(ContainerImage, TheImagesConfigurationValidatesWithAKeyAndSaysWhatIsMissingWithout) {
  const std::string config = SourcePath("packaging/container/tailtrack.yaml");
  const ToolResult ok = RunTool({TAILTRACK_BINARY, "validate", "-c", config}, {"TAILTRACK_WRITE_KEY=stand-in-key"});
  EXPECT_EQ(ok.status, 0) << ok.Describe();
  EXPECT_EQ(ok.out, "ok\n");
  const ToolResult missing = RunTool({"/usr/bin/env", "-u", "TAILTRACK_WRITE_KEY", TAILTRACK_BINARY, "validate", "-c", config});
  EXPECT_EQ(missing.status, 78) << missing.Describe();
  EXPECT_NE(missing.err.find("set TAILTRACK_WRITE_KEY, or mount a configuration that uses write_key_file"), std::string::npos)
      << missing.err;
}

}  // namespace
}  // namespace tailtrack::testing
