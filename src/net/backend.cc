#include "net/backend.h"

#include "net/backend_spec.h"
#include "net/slirp_backend.h"
#include "net/tap_backend.h"

namespace tandem::net {

Result<std::unique_ptr<Backend>> make_backend(std::string_view spec,
                                              std::function<int64_t()> clock_ns) {
  auto parsed = parse_backend_spec(spec);
  if (!parsed) return parsed.error();
  switch (parsed->kind) {
    case BackendSpec::Kind::kUser: {
      auto b = SlirpBackend::create(parsed->user, std::move(clock_ns));
      if (!b) return b.error();
      return std::unique_ptr<Backend>(std::move(b).value());
    }
    case BackendSpec::Kind::kTap: {
      auto b = TapBackend::open(parsed->tap.ifname);
      if (!b) return b.error();
      return std::unique_ptr<Backend>(std::move(b).value());
    }
  }
  return Error("unknown network backend kind");
}

}  // namespace tandem::net
