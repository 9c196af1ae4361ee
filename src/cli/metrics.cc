#include "cli/metrics.h"

#include <charconv>
#include <cmath>
#include <map>

namespace tandem::cli {

namespace {
bool name_char(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); i++)
    if (!name_char(name[i], i == 0, colon)) return false;
  return true;
}

// HELP text escapes \ and newline (not quotes).
std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

bool valid_sample(const Metric& m) {
  if (!valid_metric_name(m.name)) return false;
  for (const auto& [k, v] : m.labels)
    if (!valid_label_name(k)) return false;
  return true;
}
}  // namespace

bool valid_metric_name(std::string_view name) { return valid_name(name, true); }

bool valid_label_name(std::string_view name) { return valid_name(name, false) && name.substr(0, 2) != "__"; }

std::string escape_label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string sample_key(const Metric& m) {
  std::string s = m.name;
  if (m.labels.empty()) return s;
  s += '{';
  for (size_t i = 0; i < m.labels.size(); i++) {
    if (i) s += ',';
    s += m.labels[i].first + "=\"" + escape_label_value(m.labels[i].second) + '"';
  }
  return s + '}';
}

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Shortest form that reads back as the same double; whole numbers
  // below 2^53 come out as integers.
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string format_prometheus(const std::vector<Metric>& metrics) {
  // A family's samples must be one group, so samples are gathered by name
  // first, in order of the name's first appearance.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const Metric*>> families;
  for (const Metric& m : metrics) {
    if (!valid_sample(m)) continue;
    auto& f = families[m.name];
    if (f.empty()) order.push_back(m.name);
    f.push_back(&m);
  }
  std::string out;
  for (const std::string& name : order) {
    const auto& f = families[name];
    out += "# HELP " + name + " " + escape_help(f.front()->help) + "\n";
    out += "# TYPE " + name + (f.front()->type == MetricType::kCounter ? " counter\n" : " gauge\n");
    for (const Metric* m : f) out += sample_key(*m) + " " + format_metric_value(m->value) + "\n";
  }
  return out;
}

Metric counter(std::string name, std::string help, double value,
               std::vector<std::pair<std::string, std::string>> labels, std::string chart) {
  return {std::move(name), MetricType::kCounter, std::move(help), std::move(labels), value, std::move(chart)};
}

Metric gauge(std::string name, std::string help, double value, std::vector<std::pair<std::string, std::string>> labels,
             std::string chart) {
  return {std::move(name), MetricType::kGauge, std::move(help), std::move(labels), value, std::move(chart)};
}

void add_state_set(std::vector<Metric>& out, const std::string& name, const std::string& help,
                   const std::vector<std::string>& states, const std::string& current,
                   const std::vector<std::pair<std::string, std::string>>& labels) {
  bool known = false;
  auto add = [&](const std::string& s) {
    auto l = labels;
    l.emplace_back("state", s);
    out.push_back(gauge(name, help, s == current ? 1 : 0, std::move(l)));
    known |= s == current;
  };
  for (const std::string& s : states) add(s);
  if (!known && !current.empty()) add(current);  // a state the list missed is still shown
}

}  // namespace tandem::cli
