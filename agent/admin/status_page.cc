#include "admin/status_page.h"

namespace tailtrack {

// A placeholder until the real page lands: it links to the JSON.
std::string_view StatusPageHtml() {
  return R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tailtrack</title></head>
<body><h1>tailtrack</h1><p><a href="/status">/status</a> &middot; <a href="/metrics">/metrics</a></p></body></html>
)";
}

}  // namespace tailtrack
