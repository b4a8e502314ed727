#include "core/secret.h"

#include <openssl/crypto.h>

namespace tailtrack {

void CleanseString(std::string& s) {
  if (s.capacity() > 0) OPENSSL_cleanse(s.data(), s.capacity());
  s.clear();
}

}  // namespace tailtrack
