#include "cli/ft_metrics.h"

#include <cstdio>

#include "cli/replication_metrics.h"

namespace tandem::cli {

namespace {
const std::vector<std::string> kPrimaryStates = {"syncing", "protected", "resyncing", "unprotected"};
const std::vector<std::string> kSecondaryStates = {"standby", "running", "resyncing", "live", "stopped"};
// Every cause a primary counts, so that each series exists from the start.
const std::vector<std::string> kCauses = {"mismatch", "timeout", "periodic"};
}  // namespace

StatusSection ft_section(const ft::FtStatus& s) {
  StatusSection out;
  out.title = "fault tolerance";
  out.figures = {{"role", s.role}, {"state", s.state}};
  if (s.role == "none") return out;
  using Labels = std::vector<std::pair<std::string, std::string>>;
  const Labels role = {{"role", s.role}};
  out.figures.emplace_back("peer", s.peer);
  if (!s.reason.empty()) out.figures.emplace_back("reason", s.reason);
  out.figures.emplace_back("sync epoch", std::to_string(s.sync_epoch));
  std::string causes;
  for (const auto& [cause, n] : s.resyncs) causes += (causes.empty() ? "" : ", ") + std::to_string(n) + " " + cause;
  out.figures.emplace_back("resyncs", causes.empty() ? "none" : causes);
  if (!s.first_divergence.empty()) out.figures.emplace_back("last divergence", s.first_divergence);
  auto& m = out.metrics;
  add_state_set(m, "tandem_ft_state", "The side's fault-tolerance state (1 for the current one).",
                s.role == "primary" ? kPrimaryStates : kSecondaryStates, s.state, role);
  m.push_back(gauge("tandem_ft_sync_epoch", "The sync epoch the guest runs in (1 + resyncs since the start).",
                    static_cast<double>(s.sync_epoch), role));
  if (s.role == "primary") {
    for (const std::string& cause : kCauses) {
      auto it = s.resyncs.find(cause);
      m.push_back(counter("tandem_ft_resyncs_total", "Resyncs of the secondary, by cause.",
                          it == s.resyncs.end() ? 0.0 : static_cast<double>(it->second),
                          {{"role", s.role}, {"cause", cause}}, "resyncs/s by cause"));
    }
    m.push_back(counter("tandem_ft_matched_frames_total", "Primary frames released because the secondary's matched.",
                        static_cast<double>(s.matched_frames), role, "matched frames/s"));
    m.push_back(counter("tandem_ft_matched_bytes_total", "Bytes of those frames.", static_cast<double>(s.matched_bytes),
                        role));
    m.push_back(counter("tandem_ft_resync_released_frames_total",
                        "Primary frames released by a resync's acknowledgement (or the end of protection).",
                        static_cast<double>(s.released_frames), role));
    m.push_back(gauge("tandem_ft_held_frames", "Primary output frames held now.", static_cast<double>(s.held_frames),
                      role));
    m.push_back(gauge("tandem_ft_held_bytes", "Bytes of primary output held now.", static_cast<double>(s.held_bytes),
                      role, "held output (bytes)"));
    m.push_back(counter("tandem_ft_sent_bytes_total", "Bytes sent to the secondary.", static_cast<double>(s.bytes_sent),
                        role));
    m.push_back(gauge("tandem_ft_last_resync_seconds", "The last resync, from the stop to the secondary's ack.",
                      s.last_resync_ms / 1000, role));
    m.push_back(gauge("tandem_ft_last_resync_bytes", "Bytes the last resync sent.",
                      static_cast<double>(s.last_resync_bytes), role));
  } else {
    auto it = s.resyncs.find("loaded");
    m.push_back(counter("tandem_ft_resyncs_total", "Resyncs loaded into the running VM.",
                        it == s.resyncs.end() ? 0.0 : static_cast<double>(it->second),
                        {{"role", s.role}, {"cause", "loaded"}}, "resyncs/s by cause"));
    m.push_back(counter("tandem_ft_entropy_underrun_bytes_total",
                        "virtio-rng bytes the guest asked for before the primary's came (taken from the host).",
                        static_cast<double>(s.entropy_underruns), role));
  }
  m.push_back(counter("tandem_ft_input_frames_total", "Frames mirrored to the secondary's guest.",
                      static_cast<double>(s.input_frames), role));
  m.push_back(counter("tandem_ft_entropy_bytes_total", "virtio-rng bytes mirrored to the secondary's guest.",
                      static_cast<double>(s.entropy_bytes), role));
  if (s.arbiter) add_arbiter(out, *s.arbiter, role);
  return out;
}

}  // namespace tandem::cli
