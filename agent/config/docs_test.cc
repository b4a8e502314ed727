// docs/configuration.md holds the reference generated from the schema table,
// verbatim, so that the documentation cannot drift from the code.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/loader.h"

namespace tailtrack {
namespace {

const std::string kDocs = std::string(TAILTRACK_SOURCE_DIR) + "/docs/configuration.md";
const std::string kBegin = "<!-- BEGIN GENERATED REFERENCE -->\n";
const std::string kEnd = "<!-- END GENERATED REFERENCE -->";

TEST(ConfigDocs, HoldTheReferenceGeneratedFromTheSchema) {
  std::ifstream in(kDocs);
  ASSERT_TRUE(in) << "cannot read " << kDocs;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string docs = ss.str();
  const size_t begin = docs.find(kBegin);
  const size_t end = docs.find(kEnd);
  ASSERT_NE(begin, std::string::npos) << kDocs << " has no " << kBegin;
  ASSERT_NE(end, std::string::npos) << kDocs << " has no " << kEnd;
  ASSERT_LT(begin, end);
  const size_t from = begin + kBegin.size();
  const std::string generated = ConfigReferenceMarkdown();

  if (std::getenv("TAILTRACK_REGENERATE_DOCS")) {
    docs.replace(from, end - from, generated);
    std::ofstream(kDocs) << docs;
    GTEST_SKIP() << "regenerated " << kDocs;
  }
  EXPECT_EQ(docs.substr(from, end - from), generated)
      << kDocs << " is out of date: run TAILTRACK_REGENERATE_DOCS=1 build/tailtrack_tests --gtest_filter=ConfigDocs.*";
}

TEST(ConfigDocs, ReferenceListsEverySection) {
  const std::string generated = ConfigReferenceMarkdown();
  for (const char* key : {"`state_dir`", "`collector.retry.initial_backoff`", "`collector.tls.insecure_skip_verify`",
                          "`spool.fsync`", "`dead_letter.max_bytes`", "`admin.listen`", "`on_long_line`",
                          "`timezone`", "`group`", "`continue`", "`field`", "`expect`"}) {
    EXPECT_NE(generated.find(key), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace tailtrack
