#include "spool/dead_letter.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/stat.h>

#include <filesystem>

#include "test_util.h"

namespace tailtrack {
namespace {

using testing::ReadFile;
using testing::TempDir;

TEST(DeadLetter, WritesOneJsonObjectALineAndCreatesItsDirectory) {
  TempDir dir;
  const std::string path = dir / "state/dead-letter.jsonl";
  DeadLetter dl(path, 1 << 20);
  ASSERT_TRUE(dl.Write("collector answered 400: \"bad\"\n", "shop", R"({"type":"track"})"));
  ASSERT_TRUE(dl.Write("no \xff userId", "shop", R"({"type":"page"})"));
  struct stat st;
  ASSERT_EQ(stat((dir / "state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const std::string text = ReadFile(path);
  simdjson::dom::parser parser;
  simdjson::dom::document_stream docs = parser.parse_many(text);
  int n = 0;
  for (auto doc : docs) {
    simdjson::dom::element e = doc.value();
    EXPECT_EQ(std::string_view(e["source"]), "shop");
    const std::string_view reason = e["reason"];
    EXPECT_EQ(reason, n == 0 ? "collector answered 400: \"bad\"\n" : "no \xEF\xBF\xBD userId");
    ++n;
  }
  EXPECT_EQ(n, 2);
}

TEST(DeadLetter, RotatesToDotOneWhenFull) {
  TempDir dir;
  const std::string path = dir / "dl.jsonl";
  DeadLetter dl(path, 300);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(dl.Write("reason", "s", R"({"i":)" + std::to_string(i) + "}"));
  EXPECT_LE(std::filesystem::file_size(path), 300u);
  EXPECT_TRUE(std::filesystem::exists(path + ".1"));
  EXPECT_NE(ReadFile(path).find(R"({"i":9})"), std::string::npos);
}

TEST(DeadLetterPath, DefaultsToTheStateDir) {
  Config c;
  c.state_dir = "/var/lib/tailtrack";
  EXPECT_EQ(DeadLetterPath(c), "/var/lib/tailtrack/dead-letter.jsonl");
  c.dead_letter.path = "/tmp/x.jsonl";
  EXPECT_EQ(DeadLetterPath(c), "/tmp/x.jsonl");
}

}  // namespace
}  // namespace tailtrack
