// Figures a status source reports (the VM, replication, fault tolerance),
// in one shape for the status page, /status.json and /metrics
// (cli/status_server.h). A source converts its own status struct into a
// StatusSection; nothing else needs to know about it. For example:
//
//   StatusSection out{"fault tolerance", {{"role", s.role}, {"state", s.state}}, {}};
//   out.metrics.push_back(counter("tandem_ft_resyncs_total", "Resyncs, by cause.", n,
//                                 {{"role", s.role}, {"cause", "mismatch"}}, "resyncs / s"));
//   add_state_set(out.metrics, "tandem_ft_state", "...", {"syncing", "protected"}, s.state,
//                 {{"role", s.role}});
//
// and is published with StatusPublisher::add (cli/status_publisher.h).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tandem::cli {

enum class MetricType { kCounter, kGauge };

// One sample of Prometheus' text exposition format 0.0.4: a counter's
// name ends in _total, units are in the name (_seconds, _bytes).
struct Metric {
  std::string name;
  MetricType type = MetricType::kGauge;
  std::string help;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  // Not empty: the page plots this sample in the chart of that title, a
  // counter as its rate per second.
  std::string chart;
};

// What one source shows: its figures for people (role, state, peer, ...;
// in this order in the page's table) and its metrics.
struct StatusSection {
  std::string title;  // "vm", "replication", "fault tolerance"
  std::vector<std::pair<std::string, std::string>> figures;
  std::vector<Metric> metrics;
};
using StatusSnapshot = std::vector<StatusSection>;

// Whether `name` is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, with
// `label`, a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __).
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);
// A label value as the format quotes it: \ " and newline escaped.
std::string escape_label_value(std::string_view v);
// "name{a="x",b="y"}": a sample's identity (the page's series key).
std::string sample_key(const Metric& m);
// A sample's value: integers exactly, NaN and +Inf/-Inf by name.
std::string format_metric_value(double v);

// The exposition: each family (metrics of one name) grouped, with one
// # HELP and one # TYPE line (the first sample's), in order of first
// appearance. A metric or label name that is not valid is dropped with
// its sample (names come from code: a test checks them).
std::string format_prometheus(const std::vector<Metric>& metrics);

// Helpers for converters: a counter or gauge with labels.
Metric counter(std::string name, std::string help, double value,
               std::vector<std::pair<std::string, std::string>> labels = {}, std::string chart = {});
Metric gauge(std::string name, std::string help, double value,
             std::vector<std::pair<std::string, std::string>> labels = {}, std::string chart = {});
// A state as a labelled gauge: NAME{LABELS...,state="S"} 1 for `current`
// and 0 for each other of `states` (Prometheus' state set).
void add_state_set(std::vector<Metric>& out, const std::string& name, const std::string& help,
                   const std::vector<std::string>& states, const std::string& current,
                   const std::vector<std::pair<std::string, std::string>>& labels);

}  // namespace tandem::cli
