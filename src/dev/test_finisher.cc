#include "dev/test_finisher.h"

namespace tandem::dev {

bool TestFinisher::load(uint64_t, unsigned, uint64_t* value) {
  *value = 0;
  return true;
}

bool TestFinisher::store(uint64_t offset, unsigned size, uint64_t value) {
  // 16- and 32-bit writes act (OpenSBI's sifive_test driver uses writew;
  // QEMU's device accepts both); other offsets and sizes are ignored.
  if (offset != 0 || (size != 2 && size != 4) || !handler_) return true;
  uint32_t v = static_cast<uint32_t>(value);
  switch (v & 0xffff) {
    case kFinisherPass: handler_({Action::kPass, 0}); break;
    case kFinisherFail: handler_({Action::kFail, v >> 16}); break;
    case kFinisherReset: handler_({Action::kReset, 0}); break;
    default: break;
  }
  return true;
}

}  // namespace tandem::dev
