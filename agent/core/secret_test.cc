#include "core/secret.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

namespace tailtrack {
namespace {

bool AllZero(const char* p, size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == '\0'; });
}

// What can be checked without reading freed memory: the buffer that still
// belongs to the string after Wipe() or a replacement, and a short key's
// inline buffer, which lies inside storage the test owns.

TEST(SecretString, WipeZeroesTheWholeBufferAndEmptiesIt) {
  SecretString key(std::string(100, 'k'));
  const char* buffer = key.data();
  const size_t capacity = key.capacity();
  key.Wipe();
  EXPECT_TRUE(key.empty());
  ASSERT_EQ(key.data(), buffer);  // clear() keeps the buffer: it is still ours to read
  EXPECT_TRUE(AllZero(buffer, capacity));
}

TEST(SecretString, AReplacedKeyIsZeroedBeforeTheNewOneIsWritten) {
  SecretString key(std::string(64, 'o'));
  const char* buffer = key.data();
  const size_t capacity = key.capacity();
  key = std::string("wk_new_key_1234567890");  // shorter: written into the same buffer
  ASSERT_EQ(key.data(), buffer);
  EXPECT_EQ(key, "wk_new_key_1234567890");
  EXPECT_TRUE(AllZero(buffer + key.size(), capacity - key.size())) << "the old key's tail is still there";
}

TEST(SecretString, AShortKeyLeavesNothingInItsStorageWhenDestroyed) {
  alignas(SecretString) unsigned char storage[sizeof(SecretString)];
  auto* key = new (storage) SecretString("wk_short");  // fits the inline buffer
  ASSERT_GE(reinterpret_cast<const unsigned char*>(key->data()), storage);
  ASSERT_LT(reinterpret_cast<const unsigned char*>(key->data()), storage + sizeof(storage));
  key->~SecretString();
  const std::string bytes(reinterpret_cast<const char*>(storage), sizeof(storage));
  EXPECT_EQ(bytes.find("wk_short"), std::string::npos);
}

TEST(SecretString, AMovedFromKeyIsWipedAndTheCopyIsASecretToo) {
  SecretString from("wk_moved_key");
  const char* buffer = from.data();
  const size_t capacity = from.capacity();
  SecretString to(std::move(from));
  EXPECT_EQ(to, "wk_moved_key");
  EXPECT_TRUE(from.empty());  // NOLINT: checking the moved-from state is the point
  EXPECT_TRUE(AllZero(buffer, capacity));
}

TEST(SecretString, ComparesAndConvertsAsAString) {
  SecretString a("x"), b("x");
  EXPECT_EQ(a, b);
  const std::string& plain = a;
  EXPECT_EQ(plain, "x");
}

TEST(CleanseString, ZeroesAPlainStringsBuffer) {
  std::string s(50, 's');
  const char* buffer = s.data();
  const size_t capacity = s.capacity();
  CleanseString(s);
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(AllZero(buffer, capacity));
}

}  // namespace
}  // namespace tailtrack
