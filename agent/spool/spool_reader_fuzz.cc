// libFuzzer: arbitrary bytes as a segment file, through the reader and the
// batch decoder, as a replay after a crash or a bad disk would meet them.
// Nothing may crash, no record may pass kMaxRecordBytes, record offsets must
// increase, and every decoded batch must encode back to a payload that
// decodes to the same batch.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "spool/batch_record.h"
#include "spool/segment.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tailtrack;
  if (size == 0) return 0;
  // An odd first byte puts a good header in front, so that the fuzzer spends
  // its time on the framing rather than on finding the header's checksum.
  std::string file = (data[0] & 1) ? SegmentHeader() : std::string();
  file.append(reinterpret_cast<const char*>(data) + 1, size - 1);

  // The payload decoder on its own, on the raw bytes.
  int64_t created = 0;
  DecodeBatchRecord(std::string(file), &created);

  if (!CheckSegmentHeader(std::string_view(file).substr(0, kSegmentHeaderSize)).empty()) return 0;
  static const int fd = ::memfd_create("segment", 0);
  if (fd < 0) std::abort();
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, file.data(), file.size(), 0) != static_cast<ssize_t>(file.size())) {
    std::abort();
  }
  SegmentReader reader(fd, kSegmentHeaderSize, [](uint64_t, std::string_view) {});
  std::string record;
  uint64_t offset = 0, last = 0;
  bool first = true;
  while (reader.Read(&record, &offset)) {
    if (record.size() > kMaxRecordBytes || offset >= file.size()) std::abort();
    if (!first && offset <= last) std::abort();
    first = false;
    last = offset;
    auto batch = DecodeBatchRecord(std::move(record), &created);
    if (!batch) continue;
    std::string again;
    EncodeBatchRecord(*batch, created, &again);
    int64_t created_again = 0;
    auto back = DecodeBatchRecord(std::move(again), &created_again);
    if (!back || back->body() != batch->body() || back->ends() != batch->ends() ||
        back->sources() != batch->sources() || back->origins.size() != batch->origins.size() ||
        created_again != created) {
      std::abort();
    }
  }
  return 0;
}
