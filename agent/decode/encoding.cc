#include "decode/encoding.h"

#include <iconv.h>

namespace tailtrack {

namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

const char* IconvName(Encoding encoding) {
  switch (encoding) {
    case Encoding::kLatin1: return "ISO-8859-1";
    case Encoding::kWindows1252: return "WINDOWS-1252";
    case Encoding::kUtf8: break;
  }
  return nullptr;
}
}  // namespace

std::unique_ptr<LineTranscoder> LineTranscoder::For(Encoding encoding) {
  if (encoding == Encoding::kUtf8) return nullptr;
  return std::unique_ptr<LineTranscoder>(new LineTranscoder(encoding));
}

LineTranscoder::LineTranscoder(Encoding encoding) {
  iconv_t cd = iconv_open("UTF-8", IconvName(encoding));
  for (int b = 0; b < 256; ++b) {
    char in[1] = {static_cast<char>(b)};
    char out[8];
    char* inp = in;
    char* outp = out;
    size_t inleft = 1, outleft = sizeof out;
    if (cd != reinterpret_cast<iconv_t>(-1) && iconv(cd, &inp, &inleft, &outp, &outleft) != static_cast<size_t>(-1) &&
        inleft == 0) {
      utf8_[b].assign(out, outp);
    } else if (b < 0x80) {
      utf8_[b].assign(1, static_cast<char>(b));  // iconv missing: ASCII still is ASCII
    } else {
      utf8_[b] = kReplacement;
    }
    if (cd != reinterpret_cast<iconv_t>(-1)) iconv(cd, nullptr, nullptr, nullptr, nullptr);
  }
  if (cd != reinterpret_cast<iconv_t>(-1)) iconv_close(cd);
}

std::string_view LineTranscoder::ToUtf8(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && static_cast<unsigned char>(line[i]) < 0x80) ++i;
  if (i == line.size()) return line;  // ASCII: the same bytes
  out_.assign(line.substr(0, i));
  for (; i < line.size(); ++i) out_ += utf8_[static_cast<unsigned char>(line[i])];
  return out_;
}

}  // namespace tailtrack
