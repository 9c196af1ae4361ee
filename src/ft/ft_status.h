// Figures of a quasi-lockstep pair as one side sees them (query-ft,
// `tandem ft status`, the status page).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "replication/stats.h"

namespace tandem::ft {

struct FtStatus {
  std::string role;   // "primary", "secondary"
  // primary: "syncing" (the initial copy), "protected" (outputs compared),
  // "resyncing", "unprotected" (the secondary is lost); secondary:
  // "standby" (waiting for a primary), "syncing", "running" (a warm
  // standby), "resyncing", "live" (took over).
  std::string state;
  std::string peer;
  std::string reason;  // why protection ended or the secondary went live
  uint64_t sync_epoch = 0;
  // Resyncs by cause: "mismatch", "timeout" (output unmatched too long),
  // "periodic", and the failures that cost none.
  std::map<std::string, uint64_t> resyncs;
  uint64_t matched_frames = 0, matched_bytes = 0;  // primary output released as matched
  uint64_t released_frames = 0;  // by resyncs (matched or not)
  uint64_t held_frames = 0, held_bytes = 0;        // held now
  uint64_t input_frames = 0;     // mirrored to (received by) the secondary
  uint64_t entropy_bytes = 0;
  uint64_t entropy_underruns = 0;  // secondary: bytes its guest asked for before the primary's came
  uint64_t resent_frames = 0;      // secondary: its guest's frames sent to the world at failover
  uint64_t last_resync_bytes = 0;  // pages and state sent by the last resync
  uint64_t last_resync_pages = 0;
  double last_resync_ms = 0;      // from the stop to the secondary's ack
  double last_resync_ago_s = -1;  // -1: none yet
  std::string first_divergence;   // the flow and what differed (or stayed unmatched), last resync for either
  uint64_t bytes_sent = 0;        // to the peer
  double last_heartbeat_ms_ago = 0;
  std::optional<replication::ArbiterStatus> arbiter;  // with --arbiter
};

}  // namespace tandem::ft
