#include "cli/ft_control.h"

#include "cli/replication_control.h"

namespace tandem::cli {

Status FtControl::start(const std::string& spec) {
  if (primary_ && primary_->active()) return Error("already protected by the secondary at " + primary_->status().peer);
  if (secondary_ && !secondary_->live())
    return Error("this VM is a secondary: it can be protected once it goes live");
  auto o = ft::parse_ft_spec(spec);
  if (!o.ok()) return o.error();
  // The mappings a failover left must outlive the protection that ends.
  if (primary_) world_ = primary_->take_world();
  else if (secondary_ && world_.empty()) world_ = secondary_->hand_over();
  primary_.reset();
  TANDEM_TRY(open_gates_for_protection(m_, arbiter_));
  auto p = ft::LockstepPrimary::start(m_, *o, arbiter_, &world_);
  if (arbiter_) m_.hold_output(true);  // LockstepPrimary releases what it does not compare
  if (!p.ok()) return p.error();
  primary_ = std::move(p).value();
  return Ok();
}

ft::FtStatus FtControl::status() const {
  ft::FtStatus s;
  if (primary_) {
    s = primary_->status();
  } else if (secondary_) {
    s = secondary_->status();
  } else {
    s.role = "none";
    s.state = "unprotected";
  }
  if (arbiter_) s.arbiter = arbiter_->status();
  return s;
}

}  // namespace tandem::cli
