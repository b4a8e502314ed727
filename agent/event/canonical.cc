#include "event/canonical.h"

#include <simdjson.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "event/json_writer.h"

namespace tailtrack::json {
namespace {

void Canonical(simdjson::dom::element e, int depth, bool in_context, bool keep_timestamp, std::string& out) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::OBJECT: {
      std::vector<std::pair<std::string_view, std::string>> fields;
      for (auto f : simdjson::dom::object(e)) {
        if (depth == 0 && f.key == "messageId") continue;
        if (depth == 0 && f.key == "timestamp" && !keep_timestamp) continue;
        if (in_context && f.key == "library") continue;
        std::string value;
        Canonical(f.value, depth + 1, depth == 0 && f.key == "context", keep_timestamp, value);
        if (depth == 0 && f.key == "context" && value == "{}") continue;
        fields.emplace_back(f.key, std::move(value));
      }
      std::sort(fields.begin(), fields.end());
      out.push_back('{');
      for (size_t i = 0; i < fields.size(); ++i) {
        if (i) out.push_back(',');
        AppendString(out, fields[i].first);
        out.push_back(':');
        out.append(fields[i].second);
      }
      out.push_back('}');
      return;
    }
    case element_type::ARRAY: {
      out.push_back('[');
      bool first = true;
      for (auto item : simdjson::dom::array(e)) {
        if (!first) out.push_back(',');
        first = false;
        Canonical(item, depth + 1, false, keep_timestamp, out);
      }
      out.push_back(']');
      return;
    }
    case element_type::INT64: {
      const int64_t i = e.get_int64().value_unsafe();
      if (i > -(int64_t{1} << 53) && i < (int64_t{1} << 53)) {
        AppendDouble(out, static_cast<double>(i));
      } else {
        AppendInt(out, i);
      }
      return;
    }
    case element_type::UINT64: AppendUint(out, e.get_uint64().value_unsafe()); return;
    case element_type::DOUBLE: AppendDouble(out, e.get_double().value_unsafe()); return;
    default: AppendElement(out, e); return;
  }
}

}  // namespace

bool CanonicalEvent(std::string_view json, bool keep_timestamp, std::string* out) {
  out->clear();
  simdjson::dom::parser parser;
  auto r = parser.parse(json.data(), json.size(), true);
  if (r.error()) {
    *out = std::string("not JSON: ") + simdjson::error_message(r.error());
    return false;
  }
  if (!r.value_unsafe().is_object()) {
    *out = "not a JSON object";
    return false;
  }
  Canonical(r.value_unsafe(), 0, false, keep_timestamp, *out);
  return true;
}

}  // namespace tailtrack::json
