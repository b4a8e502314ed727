// Events compared as JSON values, for `tailtrack test` and the golden tests.
#pragma once

#include <string>
#include <string_view>

namespace tailtrack::json {

// A canonical text of the event `json`: keys sorted, numbers in their shortest
// form (42.50 and 42.5 are one), without what tailtrack adds on its own
// (messageId, context.library, and a context left empty by that), and without
// `timestamp` unless `keep_timestamp`. Two events are equal as values when
// their canonical texts are equal. False (and a message in `out`) when `json`
// is not a JSON object.
bool CanonicalEvent(std::string_view json, bool keep_timestamp, std::string* out);

}  // namespace tailtrack::json
