// Serializers of the CPU's state sections (docs/snapshot-format.md,
// "Component sections"). Each section starts with its own u32 version.
#pragma once

#include "base/result.h"
#include "cpu/hart.h"
#include "state/codec.h"

namespace tandem::state {

inline constexpr uint32_t kHartStateVersion = 1;

void encode(Encoder& e, const cpu::HartState& s);
Status decode(Decoder& d, cpu::HartState* s);

}  // namespace tandem::state
