// libFuzzer: arbitrary bytes as what a client sends to the admin endpoint,
// through AdminRequestParser, whole and cut into reads of random sizes.
//
// The outcome is a GET or HEAD request for a path without query or fragment,
// or a refusal with 400, 405, 413 or 431 and a one-line reason; past
// kMaxRequestBytes it is decided; and how the bytes are cut into reads does
// not change it (within kMaxRequestBytes, which is counted per read).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "admin/request_parser.h"

namespace {

using namespace tailtrack;
using Outcome = AdminRequestParser::Outcome;

void Check(const AdminRequestParser& p, Outcome outcome, std::string_view sent, size_t fed) {
  switch (outcome) {
    case Outcome::kIncomplete:
      if (fed > AdminRequestParser::kMaxRequestBytes) std::abort();
      break;
    case Outcome::kRequest: {
      if (p.path().find_first_of("?# \r\n") != std::string_view::npos) std::abort();
      // http-parser skips empty lines before a request line, nothing else.
      const size_t start = sent.find_first_not_of("\r\n");
      if (start == std::string_view::npos) std::abort();
      const std::string_view line = sent.substr(start);
      if (!line.starts_with("GET ") && !line.starts_with("HEAD ")) std::abort();
      if (p.head() != line.starts_with("HEAD ")) std::abort();
      break;
    }
    case Outcome::kRefused:
      if (p.status() != 400 && p.status() != 405 && p.status() != 413 && p.status() != 431) std::abort();
      if (p.reason().empty() || p.reason().find_first_of("\r\n") != std::string::npos) std::abort();
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const uint8_t cut = in.ConsumeIntegral<uint8_t>();  // the largest read, 1..256 bytes
  const std::string sent = in.ConsumeRemainingBytesAsString();

  AdminRequestParser whole;
  const Outcome once = whole.Feed(sent.data(), sent.size());
  Check(whole, once, sent, sent.size());

  AdminRequestParser pieces;
  Outcome outcome = Outcome::kIncomplete;
  size_t fed = 0;
  for (size_t k = 0; fed < sent.size() && outcome == Outcome::kIncomplete; ++k) {
    const size_t n = std::min<size_t>(sent.size() - fed, 1 + (cut + k * 7) % (cut + 1u));
    outcome = pieces.Feed(sent.data() + fed, n);
    fed += n;
  }
  Check(pieces, outcome, sent, fed);
  if (sent.size() <= AdminRequestParser::kMaxRequestBytes) {
    if (outcome != once || pieces.status() != whole.status()) std::abort();
    if (outcome == Outcome::kRequest && pieces.path() != whole.path()) std::abort();
  }
  return 0;
}
