#include "config/env.h"

#include "core/error.h"

namespace tailtrack {
namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// The error quotes what the user wrote: one line all the same. (Found by
// config_values_fuzz.)
bool Refuse(std::string* error) {
  *error = OneLine(*error);
  return false;
}

}  // namespace

bool SubstituteEnv(std::string_view text, const EnvLookup& env, bool secret, std::string* out,
                   std::string* error) {
  out->clear();
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '$' || i + 1 >= text.size() || (text[i + 1] != '$' && text[i + 1] != '{')) {
      out->push_back(c);
      ++i;
      continue;
    }
    if (text[i + 1] == '$') {
      out->push_back('$');
      i += 2;
      continue;
    }
    // "${" ... "}"
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      *error = "unterminated \"${\" (write $$ for a literal $)";
      return Refuse(error);
    }
    const std::string_view ref = text.substr(i, close + 1 - i);
    const std::string_view body = text.substr(i + 2, close - i - 2);
    size_t n = 0;
    while (n < body.size() && IsNameChar(body[n])) ++n;
    const std::string_view name = body.substr(0, n);
    const std::string_view rest = body.substr(n);
    const bool valid_name = !name.empty() && IsNameStart(name[0]);
    const bool valid_rest = rest.empty() || rest.starts_with(":-") || rest.starts_with(":?");
    if (!valid_name || !valid_rest || rest.find("${") != std::string_view::npos) {
      *error = secret ? std::string("invalid variable reference")
                      : "invalid variable reference \"" + std::string(ref) + "\"";
      *error += " (expected ${NAME}, ${NAME:-default} or ${NAME:?message}; substitution is not nested)";
      return Refuse(error);
    }
    const std::string name_str(name);
    const std::optional<std::string> value = env ? env(name_str) : std::nullopt;
    if (rest.starts_with(":-")) {
      *out += (value && !value->empty()) ? *value : std::string(rest.substr(2));
    } else if (rest.starts_with(":?")) {
      if (!value || value->empty()) {
        const std::string_view message = rest.substr(2);
        *error = "environment variable " + name_str + " is " + (value ? "empty" : "not set");
        if (!message.empty()) *error += ": " + std::string(message);
        return Refuse(error);
      }
      *out += *value;
    } else {
      if (!value) {
        *error = "environment variable " + name_str + " is not set (write ${" + name_str +
                 ":-default} to give a default)";
        return Refuse(error);
      }
      *out += *value;
    }
    i = close + 1;
  }
  return true;
}

}  // namespace tailtrack
