#include "spool/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace tailtrack::crc32c {
namespace {

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

// Both implementations, and the dispatcher, where the CPU allows.
std::vector<std::pair<const char*, ExtendFn>> Implementations() {
  std::vector<std::pair<const char*, ExtendFn>> fns = {{"portable", ExtendPortable}, {"dispatch", Extend}};
  if (HardwareAvailable()) fns.emplace_back("sse4.2", ExtendHardware);
  return fns;
}

uint32_t Of(ExtendFn fn, const std::string& s) { return fn(0, s.data(), s.size()); }

TEST(Crc32c, MatchesTheRfc3720TestVectors) {
  // RFC 3720, appendix B.4.
  std::string zeros(32, '\0'), ones(32, '\xff'), ascending(32, '\0'), descending(32, '\0');
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<char>(i);
    descending[i] = static_cast<char>(31 - i);
  }
  const unsigned char read_pdu[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
      0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  for (const auto& [name, fn] : Implementations()) {
    SCOPED_TRACE(name);
    EXPECT_EQ(Of(fn, zeros), 0x8a9136aau);
    EXPECT_EQ(Of(fn, ones), 0x62a8ab43u);
    EXPECT_EQ(Of(fn, ascending), 0x46dd794eu);
    EXPECT_EQ(Of(fn, descending), 0x113fdb5cu);
    EXPECT_EQ(fn(0, read_pdu, sizeof read_pdu), 0xd9963a56u);
    EXPECT_EQ(Of(fn, "123456789"), 0xe3069283u);
    EXPECT_EQ(Of(fn, ""), 0u);
  }
}

TEST(Crc32c, HardwareAndPortableAgreeOnEveryLengthAndAlignment) {
  if (!HardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  std::mt19937 rng(42);
  std::string data(4096 + 16, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t align = 0; align < 8; ++align) {
    for (size_t n = 0; n < 300; ++n) {
      ASSERT_EQ(ExtendHardware(0, data.data() + align, n), ExtendPortable(0, data.data() + align, n))
          << "align " << align << " length " << n;
    }
    ASSERT_EQ(ExtendHardware(7, data.data() + align, 4096), ExtendPortable(7, data.data() + align, 4096));
  }
}

TEST(Crc32c, ExtendingEqualsTheWhole) {
  const std::string a = "hello ", b = "world";
  EXPECT_EQ(Extend(Value(a.data(), a.size()), b.data(), b.size()), Value("hello world", 11));
}

TEST(Crc32c, MaskIsUndoneByUnmaskAndChangesTheValue) {
  const uint32_t crc = Value("foo", 3);
  EXPECT_NE(Mask(crc), crc);
  EXPECT_NE(Mask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Unmask(Mask(Mask(crc)))), crc);
}

}  // namespace
}  // namespace tailtrack::crc32c
