// Serializers of the device state sections (docs/snapshot-format.md,
// "Component sections"). Each section starts with its own u32 version, so
// one device's layout can change without touching the others.
#pragma once

#include "base/result.h"
#include "dev/clint.h"
#include "dev/goldfish_rtc.h"
#include "dev/plic.h"
#include "dev/test_finisher.h"
#include "dev/uart16550.h"
#include "dev/virtio_blk.h"
#include "dev/virtio_mmio.h"
#include "dev/virtio_net.h"
#include "dev/virtio_rng.h"
#include "net/backend.h"
#include "state/codec.h"

namespace tandem::state {

inline constexpr uint32_t kClintStateVersion = 1;
inline constexpr uint32_t kPlicStateVersion = 1;
inline constexpr uint32_t kUartStateVersion = 1;
inline constexpr uint32_t kRtcStateVersion = 1;
inline constexpr uint32_t kFinisherStateVersion = 1;
inline constexpr uint32_t kVirtioMmioStateVersion = 2;  // 2: VirtQueue::State::deferred
inline constexpr uint32_t kVirtioBlkStateVersion = 1;
inline constexpr uint32_t kVirtioNetStateVersion = 1;
inline constexpr uint32_t kVirtioRngStateVersion = 1;
inline constexpr uint32_t kNicStateVersion = 1;

void encode(Encoder& e, const dev::Clint::State& s);
Status decode(Decoder& d, dev::Clint::State* s);

void encode(Encoder& e, const dev::Plic::State& s);
Status decode(Decoder& d, dev::Plic::State* s);

void encode(Encoder& e, const dev::Uart16550::State& s);
Status decode(Decoder& d, dev::Uart16550::State* s);

void encode(Encoder& e, const dev::GoldfishRtc::State& s);
Status decode(Decoder& d, dev::GoldfishRtc::State* s);

void encode(Encoder& e, const dev::TestFinisher::State& s);
Status decode(Decoder& d, dev::TestFinisher::State* s);

// The transport, with its queues.
void encode(Encoder& e, const dev::VirtioMmio::State& s);
Status decode(Decoder& d, dev::VirtioMmio::State* s);

void encode(Encoder& e, const dev::VirtioBlk::State& s);
Status decode(Decoder& d, dev::VirtioBlk::State* s);

void encode(Encoder& e, const dev::VirtioNet::State& s);
Status decode(Decoder& d, dev::VirtioNet::State* s);

void encode(Encoder& e, const dev::VirtioRng::State& s);
Status decode(Decoder& d, dev::VirtioRng::State* s);

// The host side of a NIC: held frames and the network backend's state.
void encode(Encoder& e, const net::NicState& s);
Status decode(Decoder& d, net::NicState* s);

// How many members of each State its field list covers (for the test that
// compares this with the struct's member count, so that a member added to
// a State cannot be left out of its section).
size_t listed_fields(const dev::Clint::State&);
size_t listed_fields(const dev::Plic::State&);
size_t listed_fields(const dev::Uart16550::State&);
size_t listed_fields(const dev::GoldfishRtc::State&);
size_t listed_fields(const dev::TestFinisher::State&);
size_t listed_fields(const dev::VirtioMmio::State&);
size_t listed_fields(const dev::VirtQueue::State&);
size_t listed_fields(const dev::VirtioBlk::State&);
size_t listed_fields(const dev::VirtioNet::State&);
size_t listed_fields(const dev::VirtioRng::State&);

}  // namespace tandem::state
