// The admin endpoint's GET /: one self-contained HTML page (inline CSS and
// JS, no external assets) that polls ./status every second and shows the
// agent's state, live rates and a chart of events per second.
#pragma once

#include <string_view>

namespace tailtrack {

// The page, UTF-8; static storage, valid for the life of the process.
std::string_view StatusPageHtml();

}  // namespace tailtrack
