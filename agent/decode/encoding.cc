#include "decode/encoding.h"

#include <iconv.h>

namespace tailtrack {

namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

const char* IconvName(Encoding encoding) {
  switch (encoding) {
    case Encoding::kLatin1: return "ISO-8859-1";
    case Encoding::kWindows1252: return "WINDOWS-1252";
    default: break;
  }
  return nullptr;
}
void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | cp >> 6));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | cp >> 12));
    out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | cp >> 18));
    out->push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}
}  // namespace

void Utf16ToUtf8(std::string_view in, bool big_endian, std::string* out) {
  out->clear();
  auto unit = [&](size_t at) -> uint32_t {
    const auto b0 = static_cast<unsigned char>(in[at]), b1 = static_cast<unsigned char>(in[at + 1]);
    return big_endian ? (b0 << 8 | b1) : (b1 << 8 | b0);
  };
  size_t i = 0;
  for (; i + 1 < in.size(); i += 2) {
    const uint32_t u = unit(i);
    if (u >= 0xD800 && u <= 0xDBFF && i + 3 < in.size()) {
      const uint32_t low = unit(i + 2);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        AppendUtf8(0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00), out);
        i += 2;
        continue;
      }
    }
    if (u >= 0xD800 && u <= 0xDFFF) {
      out->append(kReplacement);
    } else {
      AppendUtf8(u, out);
    }
  }
  if (i < in.size()) out->append(kReplacement);  // half a code unit
}

std::unique_ptr<LineTranscoder> LineTranscoder::For(Encoding encoding) {
  if (IconvName(encoding) == nullptr) return nullptr;
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
