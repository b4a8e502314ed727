// Secrets in memory (the write key): zeroed before their memory is given back.
#pragma once

#include <string>
#include <string_view>

namespace tailtrack {

// Zeroes the whole buffer of `s` (its capacity, not only its size) with
// OPENSSL_cleanse, which the compiler may not optimise away, and empties it.
void CleanseString(std::string& s);

// A std::string whose buffer is zeroed (CleanseString) whenever its value is
// given up: when it is replaced (a reload's new key), moved from, or
// destroyed (at exit). Copies are SecretStrings too. What is copied out of it
// as a plain string or char array (curl's header list, curl's own request
// buffers) is the copier's to clean, and cannot always be (see
// docs/security.md).
class SecretString : public std::string {
 public:
  SecretString() = default;
  SecretString(const std::string& s) : std::string(s) {}  // NOLINT: used where a std::string is
  SecretString(const char* s) : std::string(s) {}         // NOLINT
  SecretString(const SecretString& o) : std::string(o) {}
  // Copied, then the source wiped: a moved short string would leave its
  // bytes in the source's inline buffer.
  SecretString(SecretString&& o) : std::string(o) { o.Wipe(); }
  ~SecretString() { Wipe(); }

  SecretString& operator=(const SecretString& o) {
    if (this != &o) Replace(o);
    return *this;
  }
  SecretString& operator=(SecretString&& o) {
    if (this != &o) {
      Replace(o);
      o.Wipe();
    }
    return *this;
  }
  SecretString& operator=(const std::string& s) {
    Replace(s);
    return *this;
  }
  SecretString& operator=(const char* s) { return *this = std::string_view(s); }
  SecretString& operator=(std::string_view s) {
    Wipe();
    assign(s);
    return *this;
  }

  void Wipe() { CleanseString(*this); }

 private:
  void Replace(const std::string& s) {
    if (static_cast<const std::string*>(this) == &s) return;
    Wipe();
    assign(s);
  }
};

}  // namespace tailtrack
