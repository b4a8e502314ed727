#include "admin/status_page.h"

namespace tailtrack {

std::string_view StatusPageHtml() {
  // status_page.html, made a string literal at configure time (CMakeLists.txt),
  // so that the page is edited (and can be opened) as the HTML file it is.
  static constexpr std::string_view kPage =
#include "status_page_html.inc"
      ;
  return kPage;
}

}  // namespace tailtrack
