// Replication as the CLI and the monitor drive it: `run --replicate`,
// the monitor's `replicate` and `query-replication`, and a backup that
// took over (its VM can be protected again with `replicate`).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "board/machine.h"
#include "replication/primary.h"
#include "replication/stats.h"

namespace tandem::cli {

class ReplicationControl {
 public:
  // Installs the slice hook that runs the primary's epochs; on the vCPU
  // thread, outside slice hooks (as is the destructor).
  explicit ReplicationControl(board::Machine& m);
  ~ReplicationControl();
  ReplicationControl(const ReplicationControl&) = delete;
  ReplicationControl& operator=(const ReplicationControl&) = delete;

  // Protects the VM with a backup ("to=HOST:PORT[,epoch=MS][,heartbeat=MS]").
  Status start(const std::string& spec);
  // This VM is a backup's that took over: reported until replicate.
  void set_took_over(const replication::ReplicationStatus& s) { took_over_ = s; }
  nlohmann::json status_json() const;

 private:
  board::Machine& m_;
  int hook_;
  std::unique_ptr<replication::Primary> primary_;
  std::optional<replication::ReplicationStatus> took_over_;
};

nlohmann::json to_json(const replication::ReplicationStatus& s);

}  // namespace tandem::cli
