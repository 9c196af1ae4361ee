// The last minutes of the charted figures, one sample a second, for the
// status page's plots (cli/status_server.h).
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/metrics.h"

namespace tandem::cli {

class StatusHistory {
 public:
  explicit StatusHistory(size_t capacity = 300) : capacity_(capacity) {}

  // Records the charted metrics of `s`, taken at `unix_s` (seconds since
  // 1970); the oldest sample goes once `capacity` are held.
  void add(double unix_s, const StatusSnapshot& s);
  size_t size() const { return samples_.size(); }

  // {"t": [unix seconds...], "charts": [{"title", "series": [{"key",
  // "label", "rate", "values": [...]}]}]}: values line up with t (null
  // where a series had no sample); a counter's are its rate per second
  // since the sample before (null for the first, or when it went down: a
  // restart).
  nlohmann::json to_json() const;

 private:
  struct Series {
    std::string chart, label;
    bool rate = false;
  };
  struct Sample {
    double t;
    std::map<std::string, double> values;  // by sample_key()
  };
  static constexpr size_t kMaxSeries = 256;
  void forget_unused();

  size_t capacity_;
  std::deque<Sample> samples_;
  // Every series seen, in order of first appearance (charts likewise).
  std::vector<std::string> order_;
  std::map<std::string, Series> series_;
};

// The legend of a charted metric: its labels other than role ("quantile=0.99",
// "cause=mismatch"), or without labels its name past "tandem_SUBSYSTEM_"
// ("checkpoints_total").
std::string series_label(const Metric& m);

}  // namespace tandem::cli
