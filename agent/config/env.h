// ${VAR} substitution in configuration strings. No YAML here.
#pragma once

#include <string>
#include <string_view>

#include "config/loader.h"

namespace tailtrack {

// Replaces, in one pass (substituted text is not scanned again):
//   ${NAME}            the variable; an error when it is unset
//   ${NAME:-default}   the variable, or `default` when it is unset or empty
//   ${NAME:?message}   the variable; an error saying `message` when it is unset or empty
//   $$                 a literal $
// Any other `$` is kept as it is (so regex anchors like `end$` need no escaping).
// NAME is [A-Za-z_][A-Za-z0-9_]*; a default or message cannot contain `}` or `${`.
// On failure returns false and puts a one-line message in `*error`; when
// `secret` is set the message never quotes any part of `text`.
bool SubstituteEnv(std::string_view text, const EnvLookup& env, bool secret, std::string* out,
                   std::string* error);

}  // namespace tailtrack
