// Harness: the quasi-lockstep output comparator (ft/comparator.h) and the
// sequence map's wire form (ft/seq_map.h). The input is a list of records:
// an operation byte, a 16-bit big-endian length, that many bytes. Frames
// go to either guest's output or through to_secondary; the other
// operations take what may be released, resync, or decode a mapping and
// run frames through a SeqMap holding it.
#include <cstdio>

#include "ft/comparator.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem::ft;
  constexpr size_t kCap = 1 << 16;
  Comparator c(kCap);
  SeqMap map;
  Comparator::TimePoint now{};
  uint64_t primary_frames = 0, released = 0;
  for (size_t at = 0; at + 3 <= size;) {
    uint8_t op = data[at];
    size_t len = std::min<size_t>(size_t(data[at + 1]) << 8 | data[at + 2], size - at - 3);
    std::vector<uint8_t> rec(data + at + 3, data + at + 3 + len);
    at += 3 + len;
    now += std::chrono::microseconds(op);
    switch (op % 7) {
      case 0: c.primary(rec.data(), rec.size(), now); primary_frames++; break;
      case 1: c.secondary(rec.data(), rec.size(), now); break;
      case 2: c.to_secondary(rec.data(), rec.size()); break;
      case 3: released += c.take_releasable().size(); break;
      case 4: released += c.resynced().size(); break;
      case 5: {
        auto m = decode_flow_mapping(rec.data(), rec.size());
        if (m.ok()) {
          TANDEM_FUZZ_CHECK(encode(*m) == rec);
          map.set(*m);
        } else {
          TANDEM_FUZZ_CHECK(!m.error().message().empty());
        }
        break;
      }
      default:
        map.inbound(rec.data(), rec.size());
        map.outbound(rec.data(), rec.size());
        for (const FlowMapping& m : c.take_mapping_updates()) map.set(m);
        break;
    }
    ComparatorStats st = c.stats();
    TANDEM_FUZZ_CHECK(st.secondary_bytes <= kCap);
    TANDEM_FUZZ_CHECK(released + st.held_frames == primary_frames);  // nothing lost or made up
    if (auto d = c.divergence()) TANDEM_FUZZ_CHECK(d->description.rfind(d->flow + ": ", 0) == 0);
  }
  (void)c.oldest_unmatched(now);
  released += c.resynced().size();
  TANDEM_FUZZ_CHECK(released == primary_frames);
  return 0;
}
