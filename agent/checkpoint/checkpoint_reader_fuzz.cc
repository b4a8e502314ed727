// libFuzzer: arbitrary bytes into the checkpoint file parser. It must never
// crash nor allocate for entries the bytes cannot hold; what it accepts must
// encode back to exactly the same bytes (the format has one encoding), and a
// refusal must come with a one-line reason.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tailtrack;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<CheckpointEntry> entries;
  std::string error;
  if (!ParseCheckpoints(input, &entries, &error)) {
    if (error.empty() || error.find('\n') != std::string::npos || !entries.empty()) std::abort();
    return 0;
  }
  if (EncodeCheckpoints(entries) != input) std::abort();
  return 0;
}
