#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "cli/metrics.h"
#include "cli/replication_metrics.h"
#include "cli/status_history.h"

namespace tandem::cli {
namespace {

// Checks text against the exposition format 0.0.4 as Prometheus reads it:
// each family's # HELP and # TYPE once, before its samples, which form one
// group; names and label names well formed; label values quoted with only
// \\ \" \n escapes; values numbers. Returns what was wrong, or "".
std::string check_exposition(const std::string& text, std::map<std::string, std::string>* types = nullptr) {
  static const std::regex name_re("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex label_re("[a-zA-Z_][a-zA-Z0-9_]*");
  std::set<std::string> help, type, done;
  std::string current;
  std::istringstream in(text);
  std::string line;
  if (!text.empty() && text.back() != '\n') return "no newline at the end";
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) {
      std::istringstream w(line.substr(2));
      std::string kind, name, rest;
      w >> kind >> name;
      std::getline(w, rest);
      if (!std::regex_match(name, name_re)) return "bad name in: " + line;
      if (kind == "HELP" && !help.insert(name).second) return "second HELP for " + name;
      if (kind == "TYPE") {
        if (!type.insert(name).second) return "second TYPE for " + name;
        if (rest != " counter" && rest != " gauge") return "bad type in: " + line;
        if (types) (*types)[name] = rest.substr(1);
      }
      if (name != current) {
        if (done.count(name)) return "family " + name + " is split";
        if (!current.empty()) done.insert(current);
        current = name;
      }
      continue;
    }
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') i++;
    std::string name = line.substr(0, i);
    if (!std::regex_match(name, name_re)) return "bad sample name in: " + line;
    if (name != current) return "sample of " + name + " outside its family's group";
    if (!help.count(name) || !type.count(name)) return "no HELP or TYPE before " + name;
    if (i < line.size() && line[i] == '{') {
      i++;
      while (line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) return "label without value in: " + line;
        if (!std::regex_match(line.substr(i, eq - i), label_re)) return "bad label name in: " + line;
        i = eq + 1;
        if (line[i] != '"') return "unquoted label value in: " + line;
        for (i++; i < line.size() && line[i] != '"'; i++)
          if (line[i] == '\\') {
            if (i + 1 >= line.size() || std::string("\\\"n").find(line[i + 1]) == std::string::npos)
              return "bad escape in: " + line;
            i++;
          }
        if (i >= line.size()) return "unterminated label value in: " + line;
        i++;
        if (line[i] == ',') i++;
        else if (line[i] != '}') return "labels not separated in: " + line;
      }
      i++;
    }
    if (i >= line.size() || line[i] != ' ') return "no value in: " + line;
    std::string value = line.substr(i + 1);
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    if (value.empty() || (*end && value != "NaN" && value != "+Inf" && value != "-Inf"))
      return "bad value in: " + line;
  }
  return "";
}

TEST(Metrics, NamesAndLabelNames) {
  EXPECT_TRUE(valid_metric_name("tandem_ft_resyncs_total"));
  EXPECT_TRUE(valid_metric_name("a:b_c9"));
  EXPECT_FALSE(valid_metric_name("9lives"));
  EXPECT_FALSE(valid_metric_name("stun-seconds"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_TRUE(valid_label_name("cause"));
  EXPECT_FALSE(valid_label_name("a:b"));
  EXPECT_FALSE(valid_label_name("__reserved"));
}

TEST(Metrics, GroupsFamiliesWithOneHelpAndType) {
  std::vector<Metric> m = {
      counter("tandem_ft_resyncs_total", "Resyncs.", 3, {{"cause", "mismatch"}}),
      gauge("tandem_x_bytes", "X.", 10),
      counter("tandem_ft_resyncs_total", "Resyncs (again).", 1, {{"cause", "timeout"}}),
  };
  std::string text = format_prometheus(m);
  EXPECT_EQ(text,
            "# HELP tandem_ft_resyncs_total Resyncs.\n"
            "# TYPE tandem_ft_resyncs_total counter\n"
            "tandem_ft_resyncs_total{cause=\"mismatch\"} 3\n"
            "tandem_ft_resyncs_total{cause=\"timeout\"} 1\n"
            "# HELP tandem_x_bytes X.\n"
            "# TYPE tandem_x_bytes gauge\n"
            "tandem_x_bytes 10\n");
  EXPECT_EQ(check_exposition(text), "");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  std::vector<Metric> m = {gauge("tandem_a", "line\none \\ \"q\"", 1,
                                 {{"reason", "said \"no\"\nat C:\\x"}, {"peer", "10.0.0.1:7000"}})};
  std::string text = format_prometheus(m);
  EXPECT_NE(text.find("# HELP tandem_a line\\none \\\\ \"q\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tandem_a{reason=\"said \\\"no\\\"\\nat C:\\\\x\",peer=\"10.0.0.1:7000\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(check_exposition(text), "");
}

TEST(Metrics, DropsSamplesWithBadNames) {
  std::vector<Metric> m = {gauge("bad-name", "x", 1), gauge("tandem_ok", "x", 2, {{"bad-label", "v"}}),
                           gauge("tandem_ok", "x", 3)};
  EXPECT_EQ(format_prometheus(m), "# HELP tandem_ok x\n# TYPE tandem_ok gauge\ntandem_ok 3\n");
}

TEST(Metrics, Values) {
  EXPECT_EQ(format_metric_value(0), "0");
  EXPECT_EQ(format_metric_value(123456789012), "123456789012");
  EXPECT_EQ(format_metric_value(0.25), "0.25");
  EXPECT_EQ(format_metric_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_metric_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_metric_value(std::nan("")), "NaN");
}

TEST(Metrics, StateSetMarksTheCurrentState) {
  std::vector<Metric> m;
  add_state_set(m, "tandem_s", "S.", {"a", "b"}, "b", {{"role", "primary"}});
  add_state_set(m, "tandem_t", "T.", {"a"}, "new", {});
  EXPECT_EQ(format_prometheus(m),
            "# HELP tandem_s S.\n# TYPE tandem_s gauge\n"
            "tandem_s{role=\"primary\",state=\"a\"} 0\ntandem_s{role=\"primary\",state=\"b\"} 1\n"
            "# HELP tandem_t T.\n# TYPE tandem_t gauge\ntandem_t{state=\"a\"} 0\ntandem_t{state=\"new\"} 1\n");
}

replication::ReplicationStatus primary_status() {
  replication::ReplicationStatus s;
  s.role = "primary";
  s.state = "protected";
  s.peer = "127.0.0.1:7000";
  s.reason = "a \"quoted\"\nreason";
  s.checkpoints = 120;
  s.committed = 118;
  s.stun_p50_ms = 0.5;
  s.stun_p99_ms = 2;
  s.output_held_bytes = 4096;
  s.bytes_sent = 1 << 20;
  replication::ArbiterStatus a;
  a.url = "http://127.0.0.1:2379";
  a.pair = "web";
  a.state = "owner";
  a.renewals = 7;
  s.arbiter = a;
  return s;
}

// The rules on every metric checkpointing reports, both sides.
TEST(Metrics, ReplicationFollowsTheFormatRules) {
  replication::ReplicationStatus backup;
  backup.role = "backup";
  backup.state = "standby";
  for (const auto& s : {primary_status(), backup}) {
    StatusSection sec = replication_section(s);
    ASSERT_FALSE(sec.metrics.empty());
    std::map<std::string, std::string> types;
    EXPECT_EQ(check_exposition(format_prometheus(sec.metrics), &types), "") << s.role;
    for (const Metric& m : sec.metrics) {
      EXPECT_TRUE(valid_metric_name(m.name)) << m.name;
      EXPECT_EQ(m.name.rfind("tandem_", 0), 0u) << m.name;
      const bool total = m.name.size() > 6 && m.name.substr(m.name.size() - 6) == "_total";
      EXPECT_EQ(total, m.type == MetricType::kCounter) << m.name << ": counters, and only they, end in _total";
      bool has_role = false;
      for (const auto& [k, v] : m.labels) has_role |= k == "role" && v == s.role;
      EXPECT_TRUE(has_role) << m.name;
    }
  }
}

TEST(Metrics, ReplicationFiguresAndValues) {
  StatusSection sec = replication_section(primary_status());
  std::string text = format_prometheus(sec.metrics);
  EXPECT_NE(text.find("tandem_replication_checkpoints_total{role=\"primary\"} 120\n"), std::string::npos);
  EXPECT_NE(text.find("tandem_replication_stun_seconds{role=\"primary\",quantile=\"0.99\"} 0.002\n"),
            std::string::npos);
  EXPECT_NE(text.find("tandem_replication_state{role=\"primary\",state=\"protected\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("tandem_replication_state{role=\"primary\",state=\"syncing\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("tandem_arbiter_state{role=\"primary\",state=\"owner\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("tandem_replication_output_held_bytes{role=\"primary\"} 4096\n"), std::string::npos);
  std::map<std::string, std::string> f(sec.figures.begin(), sec.figures.end());
  EXPECT_EQ(f["role"], "primary");
  EXPECT_EQ(f["state"], "protected");
  EXPECT_EQ(f["peer"], "127.0.0.1:7000");
  EXPECT_EQ(f["epoch"], "0");
  EXPECT_EQ(f["reason"], "a \"quoted\"\nreason");

  replication::ReplicationStatus none;
  none.role = "none";
  none.state = "unprotected";
  StatusSection n = replication_section(none);
  EXPECT_EQ(format_prometheus(n.metrics), "# HELP tandem_replication_state " + n.metrics[0].help +
                                              "\n# TYPE tandem_replication_state gauge\n"
                                              "tandem_replication_state{role=\"none\",state=\"unprotected\"} 1\n");
}

TEST(StatusHistory, CountersAsRatesGaugesAsTheyAre) {
  StatusHistory h(3);
  auto snap = [](double checkpoints, double held) {
    return StatusSnapshot{{"replication",
                           {},
                           {counter("tandem_replication_checkpoints_total", "c", checkpoints, {{"role", "primary"}},
                                    "checkpoints / s"),
                            gauge("tandem_replication_output_held_bytes", "h", held, {{"role", "primary"}},
                                  "held output (bytes)"),
                            gauge("tandem_not_charted", "n", 1)}}};
  };
  h.add(100, snap(0, 10));
  h.add(101, snap(50, 20));
  h.add(103, snap(150, 30));
  h.add(104, snap(5, 40));  // a restart: the counter went down; the first sample leaves the window
  nlohmann::json j = h.to_json();
  EXPECT_EQ(j["t"], nlohmann::json({101, 103, 104}));
  ASSERT_EQ(j["charts"].size(), 2u);
  EXPECT_EQ(j["charts"][0]["title"], "checkpoints / s");
  const auto& rate = j["charts"][0]["series"][0];
  EXPECT_EQ(rate["label"], "checkpoints_total");
  EXPECT_TRUE(rate["rate"]);
  EXPECT_EQ(rate["values"], nlohmann::json({nullptr, 50.0, nullptr}));
  EXPECT_EQ(j["charts"][1]["series"][0]["values"], nlohmann::json({20.0, 30.0, 40.0}));
}

TEST(StatusHistory, LabelsNameTheSeries) {
  Metric m = gauge("tandem_replication_stun_seconds", "s", 1, {{"role", "primary"}, {"quantile", "0.99"}});
  EXPECT_EQ(series_label(m), "quantile=0.99");
  EXPECT_EQ(series_label(gauge("tandem_vm_uptime_seconds", "u", 1)), "uptime_seconds");
  EXPECT_EQ(series_label(gauge("other", "o", 1)), "other");
}

}  // namespace
}  // namespace tandem::cli
