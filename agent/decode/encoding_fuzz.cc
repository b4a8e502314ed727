// libFuzzer: the decoders of legacy encodings on arbitrary bytes: UTF-16 in
// either byte order (Utf16ToUtf8) and the Latin-1 and Windows-1252 line
// transcoders.
//
// Whatever the bytes, the output is valid UTF-8. Where glibc's iconv decodes
// the whole input (well-formed UTF-16), ours must say exactly the same; ASCII
// passes through a transcoder untouched, and Latin-1 converts back to its bytes.
#include <iconv.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "decode/encoding.h"

namespace {

using namespace tailtrack;

// `in` converted by iconv, or false when iconv refuses any of it.
bool Iconv(iconv_t cd, std::string_view in, std::string* out) {
  iconv(cd, nullptr, nullptr, nullptr, nullptr);  // a fresh state
  out->assign(in.size() * 4 + 8, '\0');
  char* inp = const_cast<char*>(in.data());
  char* outp = out->data();
  size_t inleft = in.size(), outleft = out->size();
  if (iconv(cd, &inp, &inleft, &outp, &outleft) == static_cast<size_t>(-1) || inleft != 0) return false;
  out->resize(out->size() - outleft);
  return true;
}

bool ValidUtf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static iconv_t from_le = iconv_open("UTF-8", "UTF-16LE");
  static iconv_t from_be = iconv_open("UTF-8", "UTF-16BE");
  static iconv_t to_latin1 = iconv_open("ISO-8859-1", "UTF-8");
  static auto latin1 = LineTranscoder::For(Encoding::kLatin1);
  static auto cp1252 = LineTranscoder::For(Encoding::kWindows1252);
  if (from_le == reinterpret_cast<iconv_t>(-1) || from_be == reinterpret_cast<iconv_t>(-1) ||
      to_latin1 == reinterpret_cast<iconv_t>(-1) || !latin1 || !cp1252) {
    std::abort();
  }

  std::string ours, theirs;
  for (const bool big_endian : {false, true}) {
    Utf16ToUtf8(input, big_endian, &ours);
    if (!ValidUtf8(ours)) std::abort();
    if (size % 2 == 0 && Iconv(big_endian ? from_be : from_le, input, &theirs) && ours != theirs) std::abort();
  }

  const bool ascii = std::all_of(input.begin(), input.end(), [](char c) { return (c & 0x80) == 0; });
  for (auto* transcoder : {latin1.get(), cp1252.get()}) {
    const std::string_view out = transcoder->ToUtf8(input);
    if (!ValidUtf8(out)) std::abort();
    if (ascii && out != input) std::abort();
    if (transcoder == latin1.get() && (!Iconv(to_latin1, out, &theirs) || theirs != input)) std::abort();
  }

  const std::string_view text = WithoutByteOrderMark(input, 0);
  if (input.starts_with("\xEF\xBB\xBF") ? text != input.substr(3) : text != input) std::abort();
  return 0;
}
