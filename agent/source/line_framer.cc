#include "source/line_framer.h"

namespace tailtrack {

std::string_view Utf8Prefix(std::string_view s, size_t limit) {
  if (s.size() <= limit) return s;
  size_t end = limit;
  // Back up over continuation bytes (10xxxxxx) to the start of the character
  // that straddles the limit, and cut before it.
  size_t back = 0;
  while (end > 0 && back < 4 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) {
    --end;
    ++back;
  }
  return s.substr(0, end);
}

}  // namespace tailtrack
