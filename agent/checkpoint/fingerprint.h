// A file's identity beyond its device and inode: a hash of its first bytes,
// so that a new file that got a deleted file's inode is not taken for it.
#pragma once

#include <cstdint>
#include <string_view>

namespace tailtrack {

// A 64-bit hash of `bytes` (the first fingerprint_bytes of a file): the first
// 8 bytes of their SHA-256, little-endian. 0 for empty input and never 0
// otherwise, so 0 can mean "no fingerprint". Stable across runs, builds and
// machines, as it must be for a value stored in the checkpoint file.
//
// Why SHA-256: libcrypto is already linked (templates' sha256), it is a
// fixed, documented function (std::hash is neither), and two files whose
// first bytes differ only slightly (log lines that share a timestamp prefix)
// must not collide. The cost does not matter: it is computed over at most
// fingerprint_bytes when a file is opened or looks rotated, not per line.
uint64_t Fingerprint(std::string_view bytes);

// Reads up to `len` bytes at offset 0 of `fd` with pread (the read position
// is not moved) and fingerprints them, as Fingerprint would the same bytes;
// *got is how many were read, less than `len` for a shorter file. False on a
// read error (errno set). Memory used is fixed, whatever `len`.
bool FingerprintFile(int fd, uint32_t len, uint64_t* fingerprint, uint32_t* got);

// Whether the file open at `fd` has at least `len` bytes and its first `len`
// hash to `fingerprint`. False on a read error.
bool FileBeginsWith(int fd, uint32_t len, uint64_t fingerprint);

}  // namespace tailtrack
