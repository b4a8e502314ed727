// The command line itself: versions, help and usage errors, on the real binary.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <string>

#include "test_util.h"

namespace tailtrack::testing {
namespace {

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(Cli, VersionPrintsTheNameAndVersion) {
  Child c({TAILTRACK_BINARY, "--version"});
  EXPECT_EQ(c.Wait(), 0);
  EXPECT_EQ(c.out(), std::string("tailtrack ") + TAILTRACK_VERSION + "\n");
}

TEST(Cli, HelpListsTheCommands) {
  Child c({TAILTRACK_BINARY, "--help"});
  EXPECT_EQ(c.Wait(), 0);
  const std::string out = c.out();
  for (const char* command : {"run", "validate", "test"}) EXPECT_NE(out.find(command), std::string::npos) << out;
}

TEST(Cli, NoCommandIsAUsageErrorOfOneLineAndExit2) {
  Child c({TAILTRACK_BINARY});
  EXPECT_EQ(c.Wait(), 2);
  EXPECT_EQ(c.err(), "tailtrack: A subcommand is required (see tailtrack --help)\n");
}

TEST(Cli, AnUnknownCommandIsNamed) {
  Child c({TAILTRACK_BINARY, "stat"});
  EXPECT_EQ(c.Wait(), 2);
  EXPECT_EQ(c.err(), "tailtrack: unknown command \"stat\" (see tailtrack --help)\n");
}

TEST(Cli, AMissingConfigOptionIsAUsageError) {
  Child c({TAILTRACK_BINARY, "validate"});
  EXPECT_EQ(c.Wait(), 2);
  EXPECT_EQ(Lines(c.err()), 1) << c.err();
  EXPECT_NE(c.err().find("--config is required"), std::string::npos) << c.err();
}

TEST(Cli, AConfigFileThatDoesNotExistIsAConfigErrorExit78) {
  TempDir dir;
  Child c({TAILTRACK_BINARY, "run", "-c", dir / "missing.yaml"});
  EXPECT_EQ(c.Wait(), 78);
  EXPECT_EQ(c.err(), dir / "missing.yaml" + ":1:1: cannot read configuration: No such file or directory\n");
}

}  // namespace
}  // namespace tailtrack::testing

namespace tailtrack::testing {
namespace {

// `tailtrack test` on a sample of tests/data/logs/edge-cases/ read with
// `encoding`, each line's whole text as properties.msg.
struct EncodedRun {
  TempDir dir;
  Child child;
  EncodedRun(const std::string& encoding, const std::string& sample)
      : child({TAILTRACK_BINARY, "test", "-c", WriteConfig(encoding), "--source", "legacy",
               std::string(TAILTRACK_SOURCE_DIR) + "/tests/data/logs/edge-cases/" + sample}) {}
  std::string WriteConfig(const std::string& encoding) {
    const std::string config = dir / "enc.yaml";
    WriteFile(config,
              "collector: {url: \"http://127.0.0.1:1\", write_key: k}\n"
              "sources:\n"
              "  - {name: legacy, type: file, paths: [/nonexistent.log], encoding: " + encoding + "}\n"
              "rules:\n"
              "  - name: line\n"
              "    regex: '^(?P<msg>.*)$'\n"
              "    event: {type: track, event: Line, anonymousId: a, properties: {msg: \"{{ msg }}\"}}\n");
    return config;
  }
};

TEST(CliEncoding, AWindows1252LogMapsToUtf8Text) {
  EncodedRun run("windows-1252", "fluent-bit_tail_generic_enc_win1252.log");
  Child& c = run.child;
  EXPECT_EQ(c.Wait(), 0) << c.err();
  EXPECT_NE(c.out().find("\"msg\":\"Cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e\""), std::string::npos) << c.out();
  EXPECT_NE(c.out().find("\"msg\":\"Pi\xC3\xB1" "ata\""), std::string::npos) << c.out();
}

TEST(CliEncoding, AUtf16LogIsFramedInCodeUnitsAndMapsToUtf8Text) {
  EncodedRun run("utf-16", "vector_utf-16le.log");
  Child& c = run.child;
  EXPECT_EQ(c.Wait(), 0) << c.err();
  // The first line without its byte order mark, every line whole.
  EXPECT_NE(c.out().find("\"msg\":\"hello i am a file\""), std::string::npos) << c.out();
  EXPECT_NE(c.out().find("\"msg\":\"i become little-endian\""), std::string::npos) << c.out();
  const std::string out = c.out();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 5) << out;
}

}  // namespace
}  // namespace tailtrack::testing

namespace tailtrack::testing {
namespace {

TEST(CliStopSummary, LinesCutForMaxLineBytesAreCountedWhenTheAgentStops) {
  TempDir dir;
  WriteFile(dir / "app.log", "short id=1\n" + std::string(3000, 'x') + " id=2\n");
  const std::string config = dir / "c.yaml";
  WriteFile(config, "collector: {url: \"http://127.0.0.1:1\", write_key: k}\n"
                    "sources:\n"
                    "  - {name: app, type: file, paths: [\"" + (dir / "app.log") + "\"], max_line_bytes: 1KiB}\n"
                    "rules:\n"
                    "  - {name: r, regex: 'id=(?P<id>\\d+)', event: {type: track, event: E, userId: \"{{ id }}\"}}\n");
  Child agent({TAILTRACK_BINARY, "run", "--dry-run", "-c", config});
  ASSERT_TRUE(Eventually([&] { return agent.err().find("2 lines read") != std::string::npos ||
                                      agent.out().find("\"userId\":\"1\"") != std::string::npos; }));
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(), 0) << agent.err();
  EXPECT_NE(agent.err().find("source app: 1 lines truncated and 0 skipped for max_line_bytes"), std::string::npos)
      << agent.err();
}

}  // namespace
}  // namespace tailtrack::testing
