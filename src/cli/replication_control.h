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
#include "replication/arbiter.h"
#include "replication/primary.h"
#include "replication/stats.h"

namespace tandem::cli {

class ReplicationControl {
 public:
  // Installs the slice hook that runs the primary's epochs; on the vCPU
  // thread, outside slice hooks (as is the destructor). With `arbiter`
  // (the VM's, owning its pair, outliving this), all output is held and
  // leaves only as the arbiter allows, protected or not.
  explicit ReplicationControl(board::Machine& m, replication::Arbiter* arbiter = nullptr);
  ~ReplicationControl();
  ReplicationControl(const ReplicationControl&) = delete;
  ReplicationControl& operator=(const ReplicationControl&) = delete;

  // Protects the VM with a backup ("to=HOST:PORT[,epoch=MS][,heartbeat=MS]").
  Status start(const std::string& spec);
  // This VM is a backup's that took over: reported until replicate.
  void set_took_over(const replication::ReplicationStatus& s) { took_over_ = s; }
  // On the vCPU thread: the primary's figures, the backup's that took
  // over, or role "none" (state "unprotected"); with the arbiter as it is
  // now.
  replication::ReplicationStatus status() const;
  nlohmann::json status_json() const;

 private:
  // The slice hook and the arbiter's wake-up: the primary's tick, and
  // unprotected output's release (or drop, once fenced) under an arbiter.
  void tick();
  bool tick_due() const;  // the hook's `due`
  board::Machine& m_;
  replication::Arbiter* arbiter_;
  int hook_;
  std::unique_ptr<replication::Primary> primary_;
  std::optional<replication::ReplicationStatus> took_over_;
  uint64_t released_holds_ = 0;  // Machine::output_holds() when tick() last let output go
};

// Before a new protection (replication or fault tolerance) under
// `arbiter` (may be null): refused, naming why, unless the arbiter lets
// this VM be protected; then releases what the gates hold and leaves them
// open (the caller holds them again once the protection started).
Status open_gates_for_protection(board::Machine& m, replication::Arbiter* arbiter);

nlohmann::json to_json(const replication::ReplicationStatus& s);
nlohmann::json to_json(const replication::ArbiterStatus& a);

}  // namespace tandem::cli
