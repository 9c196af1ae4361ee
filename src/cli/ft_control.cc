#include "cli/ft_control.h"

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
  auto p = ft::LockstepPrimary::start(m_, *o, arbiter_, &world_);
  if (!p.ok()) return p.error();
  primary_ = std::move(p).value();
  return Ok();
}

ft::FtStatus FtControl::status() const {
  if (primary_) return primary_->status();
  if (secondary_) return secondary_->status();
  ft::FtStatus s;
  s.role = "none";
  s.state = "unprotected";
  return s;
}

}  // namespace tandem::cli
