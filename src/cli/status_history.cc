#include "cli/status_history.h"

namespace tandem::cli {

using nlohmann::json;

std::string series_label(const Metric& m) {
  std::string s;
  for (const auto& [k, v] : m.labels) {
    if (k == "role") continue;
    if (!s.empty()) s += ' ';
    s += k + "=" + v;
  }
  if (!s.empty()) return s;
  // tandem_SUBSYSTEM_rest: the chart's title says the subsystem.
  if (m.name.rfind("tandem_", 0) != 0) return m.name;
  const size_t cut = m.name.find('_', 7);
  return cut == std::string::npos ? m.name.substr(7) : m.name.substr(cut + 1);
}

void StatusHistory::add(double unix_s, const StatusSnapshot& s) {
  Sample sample{unix_s, {}};
  for (const StatusSection& sec : s)
    for (const Metric& m : sec.metrics) {
      if (m.chart.empty()) continue;
      std::string key = sample_key(m);
      if (!series_.count(key)) {
        series_[key] = {m.chart, series_label(m), m.type == MetricType::kCounter};
        order_.push_back(key);
      }
      sample.values[key] = m.value;
    }
  samples_.push_back(std::move(sample));
  while (samples_.size() > capacity_) samples_.pop_front();
  if (series_.size() > kMaxSeries) forget_unused();
}

// Series whose labels change (a new peer) would otherwise pile up.
void StatusHistory::forget_unused() {
  std::vector<std::string> kept;
  for (const std::string& key : order_) {
    bool used = false;
    for (const Sample& s : samples_) used = used || s.values.count(key);
    if (used) kept.push_back(key);
    else series_.erase(key);
  }
  order_ = std::move(kept);
}

json StatusHistory::to_json() const {
  json t = json::array();
  for (const Sample& s : samples_) t.push_back(s.t);
  json charts = json::array();
  std::map<std::string, size_t> chart_index;
  for (const std::string& key : order_) {
    const Series& se = series_.at(key);
    json values = json::array();
    bool any = false;
    for (size_t i = 0; i < samples_.size(); i++) {
      auto it = samples_[i].values.find(key);
      if (it == samples_[i].values.end()) {
        values.push_back(nullptr);
        continue;
      }
      any = true;
      if (!se.rate) {
        values.push_back(it->second);
        continue;
      }
      auto prev = i ? samples_[i - 1].values.find(key) : it;
      const double dt = i ? samples_[i].t - samples_[i - 1].t : 0;
      if (!i || prev == samples_[i - 1].values.end() || dt <= 0 || it->second < prev->second)
        values.push_back(nullptr);
      else
        values.push_back((it->second - prev->second) / dt);
    }
    if (!any) continue;  // older than the window
    auto [ci, added] = chart_index.emplace(se.chart, charts.size());
    if (added) charts.push_back({{"title", se.chart}, {"series", json::array()}});
    charts[ci->second]["series"].push_back({{"key", key}, {"label", se.label}, {"rate", se.rate}, {"values", values}});
  }
  return {{"t", t}, {"charts", charts}};
}

}  // namespace tandem::cli
