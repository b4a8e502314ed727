#include "config/config.h"

namespace tailtrack {

TemplateNode::TemplateNode() = default;
TemplateNode::TemplateNode(const TemplateNode&) = default;
TemplateNode::TemplateNode(TemplateNode&&) noexcept = default;
TemplateNode& TemplateNode::operator=(const TemplateNode&) = default;
TemplateNode& TemplateNode::operator=(TemplateNode&&) noexcept = default;
TemplateNode::~TemplateNode() = default;

std::optional<size_t> Config::FindSource(std::string_view name) const {
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].name == name) return i;
  }
  return std::nullopt;
}

}  // namespace tailtrack
