#include "checkpoint/fingerprint.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

namespace tailtrack {
namespace {

uint64_t FromDigest(const unsigned char* md, size_t input_size) {
  if (input_size == 0) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(md[i]) << (8 * i);
  return v == 0 ? 1 : v;
}

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// Fetched once: OpenSSL 3 looks EVP_sha256() up in its provider tables at
// every digest init, which costs more than hashing 1 KiB, and the file
// source checks a fingerprint after every read.
const EVP_MD* Sha256() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

}  // namespace

uint64_t Fingerprint(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, Sha256(), nullptr);
  return FromDigest(md, bytes.size());
}

bool FingerprintFile(int fd, uint32_t len, uint64_t* fingerprint, uint32_t* got) {
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), Sha256(), nullptr) != 1) {
    errno = ENOMEM;
    return false;
  }
  char buf[16 * 1024];
  uint32_t total = 0;
  while (total < len) {
    const size_t want = std::min<size_t>(sizeof(buf), len - total);
    const ssize_t n = ::pread(fd, buf, want, total);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(n));
    total += static_cast<uint32_t>(n);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &md_len);
  *fingerprint = FromDigest(md, total);
  *got = total;
  return true;
}

bool FileBeginsWith(int fd, uint32_t len, uint64_t fingerprint) {
  uint64_t got_fingerprint = 0;
  uint32_t got = 0;
  return FingerprintFile(fd, len, &got_fingerprint, &got) && got == len && got_fingerprint == fingerprint;
}

}  // namespace tailtrack
