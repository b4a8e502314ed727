// libFuzzer: arbitrary bytes through the JSON string writer and the UTF-8
// repair. The string must parse back (simdjson) as valid UTF-8 JSON, and valid
// UTF-8 input must come back unchanged.
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "event/json_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tailtrack;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string out = "{\"k\":";
  json::AppendString(out, input);
  out.push_back('}');
  if (!simdjson::validate_utf8(out.data(), out.size())) std::abort();
  static simdjson::dom::parser parser;
  auto doc = parser.parse(out.data(), out.size(), true);
  if (doc.error()) std::abort();
  std::string_view back;
  if (doc.value_unsafe()["k"].get(back) != simdjson::SUCCESS) std::abort();

  std::string repaired;
  json::RepairUtf8(input, repaired);
  if (!simdjson::validate_utf8(repaired.data(), repaired.size())) std::abort();
  if (back != repaired) std::abort();  // what the writer wrote is the repaired text, escapes undone
  if (simdjson::validate_utf8(input.data(), input.size()) && repaired != input) std::abort();
  return 0;
}
