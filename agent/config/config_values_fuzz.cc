// libFuzzer: the small text parsers of the configuration, on arbitrary bytes:
// durations and sizes (config/units) and ${VAR} substitution (config/env).
//
// Units: a value that parses formats back to a spelling that parses to the
// same value; a refusal says why, in one line. Env: a text without "$" comes
// back unchanged; a refusal is one line, and for a secret it does not quote
// a malformed reference.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/env.h"
#include "config/units.h"

namespace {

using namespace tailtrack;

bool OneLine(const std::string& s) { return !s.empty() && s.find_first_of("\r\n") == std::string::npos; }

void CheckUnits(std::string_view text) {
  std::string why;
  if (const auto d = ParseDuration(text, &why)) {
    if (d->count() < 0) std::abort();
    std::string again_why;
    const auto again = ParseDuration(FormatDuration(*d), &again_why);
    if (!again || *again != *d) std::abort();
  } else if (!OneLine(why)) {
    std::abort();
  }
  why.clear();
  if (const auto s = ParseSize(text, &why)) {
    std::string again_why;
    const auto again = ParseSize(FormatSize(*s), &again_why);
    if (!again || *again != *s) std::abort();
  } else if (!OneLine(why)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const bool secret = in.ConsumeBool();
  const std::string value = in.ConsumeRandomLengthString(32);  // what every set variable holds
  const std::string text = in.ConsumeRemainingBytesAsString();
  CheckUnits(text);

  // Variables whose name starts with a vowel are unset; "E..." ones are empty.
  const EnvLookup env = [&](const std::string& name) -> std::optional<std::string> {
    if (name.empty() || std::string_view("AIOUaiou").find(name[0]) != std::string_view::npos) return std::nullopt;
    if (name[0] == 'E' || name[0] == 'e') return std::string();
    return value;
  };
  std::string out, error;
  if (!SubstituteEnv(text, env, secret, &out, &error)) {
    if (!OneLine(error)) std::abort();
    // A secret's malformed reference is not quoted.
    if (secret && error.starts_with("invalid variable reference") && error.find('"') != std::string::npos) {
      std::abort();
    }
    return 0;
  }
  if (text.find('$') == std::string::npos && out != text) std::abort();
  return 0;
}
