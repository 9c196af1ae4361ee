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
  VirtQueue& vq = transport_->queue(q);
  mem::GuestMemory& mem = transport_->memory();
  for (;;) {
    Result<bool> got = vq.pop(chain_);
    if (!got.ok()) return got.error();
    if (!*got) break;
    size_t want = static_cast<size_t>(std::min<uint64_t>(chain_.writable_len, kMaxPerRequest));
    size_t n = source_ ? std::min(source_->fill(buf_.data(), want), want) : 0;
    TANDEM_TRY(write_chain(mem, chain_, 0, buf_.data(), n));
    TANDEM_TRY(vq.push(chain_.head, static_cast<uint32_t>(n)));
  }
  transport_->publish_used(q);
  return Ok();
}

}  // namespace tandem::dev
