// gzip (RFC 1952) of a request body, for `compression: gzip`.
#pragma once

#include <string>
#include <string_view>

namespace tailtrack {

// Replaces *out with the gzip of `in`. Level 1: on JSON it still shrinks the
// body several times, at a fraction of the CPU of the default level.
// Returns false only if zlib fails (out of memory).
bool Gzip(std::string_view in, std::string* out);

}  // namespace tailtrack
