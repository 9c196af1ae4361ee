// Quasi-lockstep fault tolerance as the CLI and the monitor drive it:
// `run --ft`, the monitor's `ft` and `query-ft`, and a secondary's VM
// (which, once live, can be protected again with `ft`).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "board/machine.h"
#include "ft/ft_status.h"
#include "ft/lockstep_primary.h"
#include "ft/lockstep_secondary.h"
#include "replication/arbiter.h"

namespace tandem::cli {

class FtControl {
 public:
  // On the vCPU thread, as is every call. `arbiter`: the VM's (owning its
  // pair, outliving this), or null.
  FtControl(board::Machine& m, replication::Arbiter* arbiter) : m_(m), arbiter_(arbiter) {}
  // This VM is `s`'s: reported as its secondary until it goes live.
  void set_secondary(ft::LockstepSecondary* s) { secondary_ = s; }
  // Protects the VM with a secondary ("peer=HOST:PORT[,...]", as --ft).
  Status start(const std::string& spec);
  ft::FtStatus status() const;

 private:
  board::Machine& m_;
  replication::Arbiter* arbiter_;
  ft::LockstepSecondary* secondary_ = nullptr;
  std::unique_ptr<ft::LockstepPrimary> primary_;
  std::vector<ft::FlowMaps> world_;  // between protections
};

}  // namespace tandem::cli
