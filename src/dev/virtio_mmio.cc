#include "dev/virtio_mmio.h"

#include <string>

#include "base/bytes.h"
#include "base/log.h"

namespace tandem::dev {

namespace {
constexpr uint32_t kKnownStatusBits = kVirtioStatusAcknowledge | kVirtioStatusDriver |
                                      kVirtioStatusDriverOk | kVirtioStatusFeaturesOk |
                                      kVirtioStatusNeedsReset | kVirtioStatusFailed;
constexpr uint32_t kLive = kVirtioStatusDriverOk | kVirtioStatusFeaturesOk;

uint32_t lo(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t hi(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
uint64_t with_lo(uint64_t v, uint32_t x) { return (v & ~uint64_t{0xffffffff}) | x; }
uint64_t with_hi(uint64_t v, uint32_t x) { return (v & 0xffffffff) | (uint64_t{x} << 32); }
}  // namespace

VirtioMmio::VirtioMmio(mem::GuestMemory& mem, VirtioDevice& device, IrqLine irq)
    : mem_(mem), dev_(device), irq_(irq) {
  queues_.reserve(dev_.queue_count());
  for (unsigned q = 0; q < dev_.queue_count(); q++) queues_.emplace_back(mem_);
  budget_.resize(queues_.size());
  dev_.attach(this);
}

uint64_t VirtioMmio::offered_features() const {
  return dev_.device_features() | feature_bit(kVirtioFVersion1) | feature_bit(kVirtioFIndirectDesc) |
         feature_bit(kVirtioFEventIdx);
}

bool VirtioMmio::queue_live(unsigned q) const {
  return (status_ & kLive) == kLive && !(status_ & (kVirtioStatusNeedsReset | kVirtioStatusFailed)) &&
         q < queues_.size() && queues_[q].config().ready;
}

void VirtioMmio::update_irq(bool force) {
  bool level = interrupt_status_ != 0;
  if (!force && level == irq_level_) return;
  irq_level_ = level;
  irq_.set(level);
}

void VirtioMmio::publish_used(unsigned q) {
  Result<bool> notify = queues_[q].should_notify();
  if (!notify.ok()) return fail(notify.error());
  if (*notify) {
    interrupt_status_ |= kVirtioIntUsedBuffer;
    update_irq();
  }
}

Result<bool> VirtioMmio::may_take(unsigned q) {
  const Budget& b = budget_[q];
  if (b.requests > 0 && b.bytes > 0) return true;
  Result<bool> waiting = queues_[q].has_available_or_arm();
  if (!waiting.ok()) return waiting.error();
  if (*waiting) queues_[q].config().deferred = true;
  return false;
}

void VirtioMmio::charge(unsigned q, const DescChain& chain, uint64_t data_bytes) {
  Budget& b = budget_[q];
  uint64_t cost = data_bytes + kVirtqDescSize * chain.descriptors;
  b.requests--;
  b.bytes = cost >= b.bytes ? 0 : b.bytes - cost;
}

bool VirtioMmio::new_slice() {
  for (Budget& b : budget_) b = Budget{};
  bool any = false;
  for (unsigned q = 0; q < queues_.size(); q++) {
    VirtQueue::State& c = queues_[q].config();
    if (!c.deferred) continue;
    any = true;
    c.deferred = false;
    if (!queue_live(q)) continue;  // reset, stopped or failed since: nothing is owed
    Status st = dev_.queue_notify(q);
    if (!st.ok()) fail(st.error());
  }
  return any;
}

bool VirtioMmio::has_deferred() const {
  for (const VirtQueue& q : queues_)
    if (q.config().deferred) return true;
  return false;
}

void VirtioMmio::fail(const Error& why) {
  if (status_ & kVirtioStatusNeedsReset) return;
  TANDEM_LOG(LogLevel::kWarn,
             std::string(dev_.name()) + ": " + why.message() + "; device needs reset");
  status_ |= kVirtioStatusNeedsReset;
  if (status_ & kVirtioStatusDriverOk) {
    interrupt_status_ |= kVirtioIntConfigChange;
    update_irq();
  }
}

void VirtioMmio::config_changed() {
  config_generation_++;
  if (status_ & kVirtioStatusDriverOk) {
    interrupt_status_ |= kVirtioIntConfigChange;
    update_irq();
  }
}

void VirtioMmio::reset() {
  status_ = 0;
  device_features_sel_ = driver_features_sel_ = 0;
  driver_features_ = 0;
  queue_sel_ = 0;
  interrupt_status_ = 0;
  for (VirtQueue& q : queues_) q.reset();
  dev_.reset();
  update_irq();
}

void VirtioMmio::apply_ring_features() {
  for (VirtQueue& q : queues_)
    q.set_features(has_feature(kVirtioFIndirectDesc), has_feature(kVirtioFEventIdx));
}

// 3.1.1 device initialization, from the device's side.
void VirtioMmio::write_status(uint32_t value) {
  if (value == 0) return reset();
  // Only the bits of 2.1 are held (a driver must not set others, and a
  // register that held them would save a state no restore accepts);
  // DEVICE_NEEDS_RESET is the device's to set.
  uint32_t next = (value & kKnownStatusBits & ~kVirtioStatusNeedsReset) | (status_ & kVirtioStatusNeedsReset);
  if ((next & kVirtioStatusFeaturesOk) && !(status_ & kVirtioStatusFeaturesOk)) {
    // 2.2.2: accept FEATURES_OK only for a subset of what was offered that
    // includes VERSION_1 (4.2.2: the modern interface requires it).
    if ((driver_features_ & ~offered_features()) || !has_feature(kVirtioFVersion1))
      next &= ~kVirtioStatusFeaturesOk;
    else
      apply_ring_features();
  }
  bool starting = (next & kVirtioStatusDriverOk) && !(status_ & kVirtioStatusDriverOk);
  status_ = next;
  if (!starting) return;
  // Buffers made available before DRIVER_OK were not processed; do it now.
  for (unsigned q = 0; q < queues_.size(); q++) {
    if (!queue_live(q) || queues_[q].config().deferred) continue;
    Status st = dev_.queue_notify(q);
    if (!st.ok()) return fail(st.error());
  }
}

void VirtioMmio::write_queue_reg(uint64_t offset, uint32_t value) {
  VirtQueue* q = selected();
  if (!q) return;
  VirtQueue::State& c = q->config();
  if (offset == kVirtioMmioQueueReady) {
    if (!(value & 1)) {
      c.ready = 0;
      c.deferred = false;  // 4.2.2.1: the device must not touch a queue that is not ready
      return;
    }
    Status st = q->check_layout(dev_.queue_max_size(), "queue " + std::to_string(queue_sel_));
    if (!st.ok()) return fail(st.error());
    c.ready = 1;
    return;
  }
  if (c.ready) return;  // 4.2.2.2: the driver must not change a ready queue
  switch (offset) {
    case kVirtioMmioQueueNum:
      // 4.2.2.2: the driver MUST write at most QueueNumMax. The register
      // keeps its value; the queue could never become ready anyway.
      if (value > dev_.queue_max_size())
        return fail(Error("queue " + std::to_string(queue_sel_) + ": QueueNum " + std::to_string(value) +
                          " exceeds QueueNumMax " + std::to_string(dev_.queue_max_size())));
      c.num = value;
      break;
    case kVirtioMmioQueueDescLow: c.desc = with_lo(c.desc, value); break;
    case kVirtioMmioQueueDescHigh: c.desc = with_hi(c.desc, value); break;
    case kVirtioMmioQueueDriverLow: c.driver = with_lo(c.driver, value); break;
    case kVirtioMmioQueueDriverHigh: c.driver = with_hi(c.driver, value); break;
    case kVirtioMmioQueueDeviceLow: c.device = with_lo(c.device, value); break;
    case kVirtioMmioQueueDeviceHigh: c.device = with_hi(c.device, value); break;
    default: break;
  }
}

bool VirtioMmio::load(uint64_t offset, unsigned size, uint64_t* value) {
  *value = 0;
  if (offset >= kVirtioMmioConfig) {
    uint64_t off = offset - kVirtioMmioConfig;
    if (off + size <= dev_.config_size()) {
      uint8_t buf[8] = {};
      dev_.read_config(static_cast<uint32_t>(off), buf, size);
      *value = load_sized(buf, size);
    }
    return true;
  }
  // Like QEMU, a register access of the wrong width reads as zero.
  if (size != 4 || offset % 4) return true;
  const VirtQueue* q = selected();
  switch (offset) {
    case kVirtioMmioMagicValue: *value = kVirtioMmioMagic; break;
    case kVirtioMmioVersion: *value = kVirtioMmioVersion2; break;
    case kVirtioMmioDeviceId: *value = dev_.device_id(); break;
    case kVirtioMmioVendorId: *value = kVirtioVendorTandem; break;
    case kVirtioMmioDeviceFeatures:
      if (device_features_sel_ == 0) *value = lo(offered_features());
      if (device_features_sel_ == 1) *value = hi(offered_features());
      break;
    case kVirtioMmioQueueNumMax: *value = q ? dev_.queue_max_size() : 0; break;
    case kVirtioMmioQueueNum: *value = q ? q->config().num : 0; break;
    case kVirtioMmioQueueReady: *value = q ? q->config().ready : 0; break;
    case kVirtioMmioInterruptStatus: *value = interrupt_status_; break;
    case kVirtioMmioStatus: *value = status_; break;
    // No shared memory regions: every region reads as length -1 (4.2.2).
    case kVirtioMmioShmLenLow:
    case kVirtioMmioShmLenHigh:
    case kVirtioMmioShmBaseLow:
    case kVirtioMmioShmBaseHigh: *value = 0xffffffff; break;
    case kVirtioMmioConfigGeneration: *value = config_generation_; break;
    default: break;
  }
  return true;
}

bool VirtioMmio::store(uint64_t offset, unsigned size, uint64_t value) {
  if (offset >= kVirtioMmioConfig) {
    uint64_t off = offset - kVirtioMmioConfig;
    if (off + size <= dev_.config_size()) {
      uint8_t buf[8];
      store_sized(buf, size, value);
      dev_.write_config(static_cast<uint32_t>(off), buf, size);
    }
    return true;
  }
  if (size != 4 || offset % 4) return true;  // ignored, as in QEMU
  uint32_t v = static_cast<uint32_t>(value);
  switch (offset) {
    case kVirtioMmioDeviceFeaturesSel: device_features_sel_ = v; break;
    case kVirtioMmioDriverFeatures:
      if (status_ & kVirtioStatusFeaturesOk) break;  // frozen once accepted
      if (driver_features_sel_ == 0) driver_features_ = with_lo(driver_features_, v);
      if (driver_features_sel_ == 1) driver_features_ = with_hi(driver_features_, v);
      break;
    case kVirtioMmioDriverFeaturesSel: driver_features_sel_ = v; break;
    case kVirtioMmioQueueSel: queue_sel_ = v; break;
    case kVirtioMmioQueueNum:
    case kVirtioMmioQueueReady:
    case kVirtioMmioQueueDescLow:
    case kVirtioMmioQueueDescHigh:
    case kVirtioMmioQueueDriverLow:
    case kVirtioMmioQueueDriverHigh:
    case kVirtioMmioQueueDeviceLow:
    case kVirtioMmioQueueDeviceHigh: write_queue_reg(offset, v); break;
    case kVirtioMmioQueueNotify:
      // A deferred queue resumes at the next slice boundary (new_slice()).
      if (queue_live(v) && !queues_[v].config().deferred) {
        Status st = dev_.queue_notify(v);
        if (!st.ok()) fail(st.error());
      }
      break;
    case kVirtioMmioInterruptAck:
      interrupt_status_ &= ~v;
      update_irq();
      break;
    case kVirtioMmioStatus: write_status(v); break;
    default: break;
  }
  return true;
}

VirtioMmio::State VirtioMmio::save() const {
  State s;
  s.device_id = dev_.device_id();
  s.status = status_;
  s.device_features_sel = device_features_sel_;
  s.driver_features_sel = driver_features_sel_;
  s.driver_features = driver_features_;
  s.queue_sel = queue_sel_;
  s.interrupt_status = interrupt_status_;
  s.config_generation = config_generation_;
  for (const VirtQueue& q : queues_) s.queues.push_back(q.config());
  return s;
}

Status VirtioMmio::check(const State& s) const {
  std::string what = std::string(dev_.name()) + " state: ";
  if (s.device_id != dev_.device_id())
    return Error(what + "device_id " + std::to_string(s.device_id) + " does not match " +
                 std::to_string(dev_.device_id()));
  if (s.status & ~kKnownStatusBits) return Error(what + "status has unknown bits");
  // Before FEATURES_OK the driver may write any bits (2.2.2: the device
  // then refuses FEATURES_OK); once it is set they are a subset.
  if ((s.status & kVirtioStatusFeaturesOk) && (s.driver_features & ~offered_features()))
    return Error(what + "driver_features has bits the device does not offer although FEATURES_OK is set");
  if ((s.status & kVirtioStatusFeaturesOk) && !(s.driver_features & feature_bit(kVirtioFVersion1)))
    return Error(what + "driver_features lacks VERSION_1 although FEATURES_OK is set");
  if (s.interrupt_status & ~(kVirtioIntUsedBuffer | kVirtioIntConfigChange))
    return Error(what + "interrupt_status has unknown bits");
  if (s.queues.size() != queues_.size())
    return Error(what + "queues has " + std::to_string(s.queues.size()) + " entries, expected " +
                 std::to_string(queues_.size()));
  for (size_t i = 0; i < s.queues.size(); i++) {
    const VirtQueue::State& qs = s.queues[i];
    std::string name = what + "queues[" + std::to_string(i) + "]";
    if (qs.ready > 1) return Error(name + ".ready is not 0 or 1");
    if (qs.deferred && !qs.ready) return Error(name + " is deferred but not ready");
    if (qs.num > dev_.queue_max_size())
      return Error(name + ".num " + std::to_string(qs.num) + " exceeds the maximum " +
                   std::to_string(dev_.queue_max_size()));
    if (qs.ready) {
      VirtQueue probe(mem_);
      probe.config() = qs;
      TANDEM_TRY(probe.check_layout(dev_.queue_max_size(), name));
    }
  }
  return Ok();
}

Status VirtioMmio::restore(const State& s) {
  TANDEM_TRY(check(s));
  status_ = s.status;
  device_features_sel_ = s.device_features_sel;
  driver_features_sel_ = s.driver_features_sel;
  driver_features_ = s.driver_features;
  queue_sel_ = s.queue_sel;
  interrupt_status_ = s.interrupt_status;
  config_generation_ = s.config_generation;
  for (size_t i = 0; i < queues_.size(); i++) {
    queues_[i].reset();
    queues_[i].config() = s.queues[i];
    queues_[i].forget_signalled();
    budget_[i] = Budget{};
  }
  if (status_ & kVirtioStatusFeaturesOk) apply_ring_features();
  update_irq(true);
  return Ok();
}

}  // namespace tandem::dev
