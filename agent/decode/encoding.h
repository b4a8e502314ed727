// Files written in a legacy single-byte encoding (`encoding: latin1` or
// `windows-1252` on a source): each line is transcoded to UTF-8 before the
// envelope decoder and the rules, so that "José" written as 4 bytes in
// Latin-1 arrives as "José".
//
// Lines are framed on the file's own bytes ('\n' is the same byte in these
// encodings), so offsets, checkpoints and messageIds stay byte offsets in the
// file. The byte -> UTF-8 table is built once with glibc's iconv; a byte the
// encoding leaves undefined (0x81 in windows-1252, say) becomes U+FFFD.
// UTF-16 is framed by the file source in its own code units (its newline is
// two bytes) and each line decoded with Utf16ToUtf8 there.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"

namespace tailtrack {

// `in` (UTF-16, the given byte order) as UTF-8 in *out. A lone surrogate or
// an odd last byte becomes U+FFFD.
void Utf16ToUtf8(std::string_view in, bool big_endian, std::string* out);

// The first line of a file (`offset` 0) without a UTF-8 byte order mark
// (Windows tools write one; a UTF-16 file's becomes one once decoded): it is
// not part of the text. Any other line as it is.
inline std::string_view WithoutByteOrderMark(std::string_view line, uint64_t offset) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (offset == 0 && line.starts_with(kBom)) line.remove_prefix(kBom.size());
  return line;
}

class LineTranscoder {
 public:
  // Null for Encoding::kUtf8 (nothing to do) and UTF-16 (the file source decodes it).
  static std::unique_ptr<LineTranscoder> For(Encoding encoding);

  // The line in UTF-8: a view of `line` itself when it is ASCII, else of a
  // buffer owned here, valid until the next call.
  std::string_view ToUtf8(std::string_view line);

 private:
  explicit LineTranscoder(Encoding encoding);

  std::array<std::string, 256> utf8_;  // each byte's UTF-8
  std::string out_;
};

}  // namespace tailtrack
