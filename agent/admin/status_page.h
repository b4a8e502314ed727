// The page served at GET / by the admin endpoint: one self-contained HTML
// document (no external assets) that reads /status and shows it.
#pragma once

#include <string_view>

namespace tailtrack {

std::string_view StatusPageHtml();

}  // namespace tailtrack
