// Field lists of the devices' State structs. Adding a field to a State
// means adding it to its list here and bumping the section's version (with
// a branch on io.read_version() for older files);
// tests/unit/state/component_state_test.cc fails until then.
#include "state/dev_state.h"

#include "state/field_io.h"

namespace tandem::state {

namespace {

template <typename Io, typename S>
void clint_fields(Io& io, S& s) {
  io.version(kClintStateVersion);
  io("msip", s.msip);
  io("mtimecmp", s.mtimecmp);
  io("mtime_offset", s.mtime_offset);
}

template <typename Io, typename S>
void plic_fields(Io& io, S& s) {
  io.version(kPlicStateVersion);
  io("priority", s.priority);
  io("level", s.level);
  io("claimed", s.claimed);
  // Per context: a count-prefixed word array (4 + 4 * kPlicWords bytes).
  size_t n = io.count("enable", s.enable.size(), 4 + 4 * dev::kPlicWords);
  if constexpr (Io::kReading) s.enable.resize(n);
  for (size_t i = 0; i < n; i++) io("enable", s.enable[i]);
  io("threshold", s.threshold);
}

template <typename Io, typename S>
void uart_fields(Io& io, S& s) {
  io.version(kUartStateVersion);
  io("ier", s.ier);
  io("fcr", s.fcr);
  io("lcr", s.lcr);
  io("mcr", s.mcr);
  io("lsr_errors", s.lsr_errors);
  io("msr_delta", s.msr_delta);
  io("scr", s.scr);
  io("dll", s.dll);
  io("dlm", s.dlm);
  io("thr_interrupt", s.thr_interrupt);
  io("rx_fifo", s.rx_fifo);
}

template <typename Io, typename S>
void rtc_fields(Io& io, S& s) {
  io.version(kRtcStateVersion);
  io("time_offset", s.time_offset);
  io("time_high", s.time_high);
  io("alarm", s.alarm);
  io("alarm_status", s.alarm_status);
  io("irq_enabled", s.irq_enabled);
  io("irq_pending", s.irq_pending);
}

template <typename Io, typename S>
void finisher_fields(Io& io, S&) {
  io.version(kFinisherStateVersion);
}

// struct VirtQueue::State: 4 + 4 + 8 + 8 + 8 + 2 + 2 bytes (+ 1 from
// version 2).
inline constexpr size_t kQueueBytes = 36;

template <typename Io, typename S>
void queue_fields(Io& io, S& q, uint32_t version) {
  io("queue.num", q.num);
  io("queue.ready", q.ready);
  io("queue.desc", q.desc);
  io("queue.driver", q.driver);
  io("queue.device", q.device);
  io("queue.last_avail_idx", q.last_avail_idx);
  io("queue.used_idx", q.used_idx);
  // Version 1 had no per-slice work budget: nothing was ever deferred.
  if (version >= 2) io("queue.deferred", q.deferred);
}

template <typename Io>
uint32_t payload_version(const Io& io, uint32_t current) {
  if constexpr (Io::kReading) {
    return io.read_version();
  } else {
    return current;
  }
}

template <typename Io, typename S>
void virtio_mmio_fields(Io& io, S& s) {
  io.version(kVirtioMmioStateVersion);
  io("device_id", s.device_id);
  io("status", s.status);
  io("device_features_sel", s.device_features_sel);
  io("driver_features_sel", s.driver_features_sel);
  io("driver_features", s.driver_features);
  io("queue_sel", s.queue_sel);
  io("interrupt_status", s.interrupt_status);
  io("config_generation", s.config_generation);
  size_t n = io.count("queues", s.queues.size(), kQueueBytes);
  if constexpr (Io::kReading) s.queues.resize(n);
  uint32_t version = payload_version(io, kVirtioMmioStateVersion);
  for (size_t i = 0; i < n; i++) queue_fields(io, s.queues[i], version);
}

template <typename Io, typename S>
void virtio_blk_fields(Io& io, S& s) {
  io.version(kVirtioBlkStateVersion);
  io("capacity", s.capacity);
  io("read_only", s.read_only);
}

template <typename Io, typename S>
void virtio_net_fields(Io& io, S& s) {
  io.version(kVirtioNetStateVersion);
  io("mac", s.mac);
  io("status", s.status);
}

template <typename Io, typename S>
void virtio_rng_fields(Io& io, S&) {
  io.version(kVirtioRngStateVersion);
}

// Decodes into a fresh value and hands it out only when all of it was
// read: a failed decode leaves *out untouched.
template <typename State, typename Fields>
Status decode_into(Decoder& d, std::string_view scope, State* out, Fields fields) {
  Decoder::Scope named(d, scope);
  FieldReader io(d);
  State s{};
  fields(io, s);
  TANDEM_TRY(d.status());
  *out = std::move(s);
  return Ok();
}

template <typename Io>
void frames_fields(Io& io, std::string_view name, auto& frames) {
  size_t n = io.count(name, frames.size(), 4);
  if constexpr (Io::kReading) frames.resize(n);
  for (size_t i = 0; i < n; i++) io(name, frames[i]);
}

template <typename Io, typename S>
void nic_fields(Io& io, S& s) {
  io.version(kNicStateVersion);
  frames_fields(io, "rx_frames", s.rx_frames);
  auto& b = s.backend;
  uint8_t kind = static_cast<uint8_t>(b.kind);
  io("kind", kind);
  if constexpr (Io::kReading) b.kind = static_cast<net::BackendState::Kind>(kind);
  frames_fields(io, "frames", b.frames);
  io("tcp_offset", b.tcp.offset);
  io("tcp_high", b.tcp.high);
  io("tcp_seen", b.tcp.seen);
  io("arp", b.arp);
  io("slirp_version", b.slirp_version);
  io("slirp", b.slirp);
  io("timer_ids", b.timer_ids);
  io("timer_left_ms", b.timer_left_ms);
}

}  // namespace

#define TANDEM_STATE_CODEC(Type, scope, fields_fn)                     \
  void encode(Encoder& e, const Type& s) {                            \
    FieldWriter io(e);                                                 \
    fields_fn(io, s);                                                  \
  }                                                                    \
  Status decode(Decoder& d, Type* s) {                                 \
    return decode_into(d, scope, s, [](FieldReader& io, Type& v) { fields_fn(io, v); }); \
  }                                                                    \
  size_t listed_fields(const Type&) {                                  \
    FieldCounter io;                                                   \
    const Type blank{};                                                \
    fields_fn(io, blank);                                              \
    return io.n;                                                       \
  }

TANDEM_STATE_CODEC(dev::Clint::State, "clint", clint_fields)
TANDEM_STATE_CODEC(dev::Plic::State, "plic", plic_fields)
TANDEM_STATE_CODEC(dev::Uart16550::State, "uart", uart_fields)
TANDEM_STATE_CODEC(dev::GoldfishRtc::State, "rtc", rtc_fields)
TANDEM_STATE_CODEC(dev::TestFinisher::State, "finisher", finisher_fields)
TANDEM_STATE_CODEC(dev::VirtioMmio::State, "virtio-mmio", virtio_mmio_fields)
TANDEM_STATE_CODEC(dev::VirtioBlk::State, "virtio-blk", virtio_blk_fields)
TANDEM_STATE_CODEC(dev::VirtioNet::State, "virtio-net", virtio_net_fields)
TANDEM_STATE_CODEC(dev::VirtioRng::State, "virtio-rng", virtio_rng_fields)

#undef TANDEM_STATE_CODEC

void encode(Encoder& e, const net::NicState& s) {
  FieldWriter io(e);
  nic_fields(io, s);
}

Status decode(Decoder& d, net::NicState* s) {
  net::NicState v;
  TANDEM_TRY(decode_into(d, "nic", &v, [](FieldReader& io, net::NicState& n) { nic_fields(io, n); }));
  auto kind = v.backend.kind;
  if (kind != net::BackendState::Kind::kUser && kind != net::BackendState::Kind::kTap)
    return Error("nic.kind: " + std::to_string(static_cast<unsigned>(kind)) +
                 " is neither user (0) nor tap (1)");
  *s = std::move(v);
  return Ok();
}

size_t listed_fields(const dev::VirtQueue::State&) {
  FieldCounter io;
  const dev::VirtQueue::State blank{};
  queue_fields(io, blank, kVirtioMmioStateVersion);
  return io.n;
}

}  // namespace tandem::state
