#include "dev/virtio_rng.h"

#include <algorithm>

#include "dev/virtio_mmio.h"

namespace tandem::dev {

namespace {
// Bytes handed out per request at most: Linux asks for 64 at a time, and
// a bound keeps one huge buffer from draining the host's pool.
constexpr size_t kMaxPerRequest = 64 * 1024;
}  // namespace

VirtioRng::VirtioRng(EntropySource* source) : source_(source), buf_(kMaxPerRequest) {}

// 5.4.6: the device writes random bytes into each buffer and reports how
// many it wrote.
Status VirtioRng::queue_notify(unsigned q) {
  mem::GuestMemory& mem = transport_->memory();
  return transport_->serve(q, chain_, [&](const DescChain& c) -> Result<VirtioCompletion> {
    size_t want = static_cast<size_t>(std::min<uint64_t>(c.writable_len, kMaxPerRequest));
    size_t n = source_ ? std::min(source_->fill(buf_.data(), want), want) : 0;
    TANDEM_TRY(write_chain(mem, c, 0, buf_.data(), n));
    return VirtioCompletion{static_cast<uint32_t>(n), n};
  });
}

}  // namespace tandem::dev
