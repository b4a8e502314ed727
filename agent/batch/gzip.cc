#include "batch/gzip.h"

#include <libdeflate.h>

#include <memory>

namespace tailtrack {
namespace {

struct FreeCompressor {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

}  // namespace

bool Gzip(std::string_view in, std::string* out) {
  // libdeflate compresses a whole buffer at once: at level 1 it took about half of zlib level 1's
  // CPU on batch bodies and made them 10 % smaller (docs/performance.md, "gzip"). One compressor
  // per thread, made at the first gzip, so that an agent without compression never holds one.
  thread_local std::unique_ptr<libdeflate_compressor, FreeCompressor> compressor(libdeflate_alloc_compressor(1));
  if (!compressor) return false;
  out->resize(libdeflate_gzip_compress_bound(compressor.get(), in.size()));
  const size_t n = libdeflate_gzip_compress(compressor.get(), in.data(), in.size(), out->data(), out->size());
  out->resize(n);
  return n != 0;
}

}  // namespace tailtrack
