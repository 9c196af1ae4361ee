// Property: every state a guest can put a device into saves and restores.
// Each device's registers are driven by seeded random loads and stores
// (every width, at its registers and anywhere in its window, with values
// that matter: zero, all ones, single bits, RAM addresses), mixed with
// what the host does to it (input, IRQ lines, time, run-loop slices). At
// checkpoints the state goes through its serializer into a fresh instance,
// whose restore must accept it; the fresh one must save the same bytes and
// answer the same reads (issue 15, item 2: a guest could once make its own
// snapshots unrestorable).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/irq.h"
#include "base/log.h"
#include "state/dev_state.h"

namespace tandem::state {
namespace {

constexpr int kOps = 20000;       // random accesses and host events per seed
constexpr int kCheckEvery = 50;   // a round trip after this many
constexpr uint64_t kSeeds[] = {1, 2, 3, 4, 5};

// Remembers the level of each line a device drives.
class LevelIrq : public IrqSink {
 public:
  void set_irq(unsigned line, bool level) override { levels[line] = level; }
  bool level(unsigned line) const {
    auto it = levels.find(line);
    return it != levels.end() && it->second;
  }
  std::map<unsigned, bool> levels;
};

class TestClock : public Clock {
 public:
  uint64_t now() const override { return t; }
  uint64_t t = 1000;
};

template <typename T>
std::vector<uint8_t> encoded(const T& s) {
  Encoder e;
  encode(e, s);
  return e.take();
}

template <typename T>
Result<T> decoded(const std::vector<uint8_t>& bytes) {
  T s{};
  Decoder d(bytes);
  Status st = decode(d, &s);
  if (!st.ok()) return st.error();
  TANDEM_TRY(d.finish());
  return s;
}

// Interesting values for a register write.
uint64_t pick_value(std::mt19937_64& rnd, uint64_t ram_base, uint64_t ram_size) {
  switch (rnd() % 10) {
    case 0: return 0;
    case 1: return ~uint64_t{0};
    case 2: return 0xffffffffu;
    case 3: return uint64_t{1} << (rnd() % 64);
    case 4: return rnd() % 16;
    case 5: return 1u << (rnd() % 10);  // queue sizes and the like
    case 6: return ram_size ? (ram_base + rnd() % ram_size) & ~uint64_t{0xf} : rnd();
    case 7: return rnd() & 0xff;
    default: return rnd();
  }
}

// One device under test: its window, the offsets worth aiming at, how to
// build a fresh one, and what the host may do to it.
struct Harness {
  virtual ~Harness() = default;
  virtual mem::MmioDevice& mmio() = 0;
  virtual uint64_t window() const = 0;
  virtual std::vector<uint64_t> registers() const = 0;
  virtual void host_event(std::mt19937_64&) {}
  virtual std::vector<uint8_t> save() const = 0;
  // Restores encoded state into this (fresh) instance.
  virtual Status restore(const std::vector<uint8_t>& bytes) = 0;
  // Makes this fresh instance see the host as `other` does (time).
  virtual void share_host(const Harness&) {}
  LevelIrq irq;  // the device's interrupt lines
  uint64_t ram_base = 0, ram_size = 0;
};

// Runs kOps random operations on a harness made by `make`, with a round
// trip into another made by `make` every kCheckEvery; `observe` sees the
// original at each round trip.
void check_property(const std::function<std::unique_ptr<Harness>()>& make, uint64_t seed,
                    const std::function<void(Harness&)>& observe = {}) {
  std::unique_ptr<Harness> a = make();
  std::mt19937_64 rnd(seed);
  std::vector<uint64_t> regs = a->registers();
  std::deque<std::string> recent;  // the last operations, for a failure
  auto note = [&](std::string s) {
    recent.push_back(std::move(s));
    if (recent.size() > 24) recent.pop_front();
  };
  auto history = [&] {
    std::string out = "seed " + std::to_string(seed) + ", last operations:\n";
    for (const std::string& s : recent) out += "  " + s + "\n";
    return out;
  };
  for (int i = 1; i <= kOps; i++) {
    unsigned kind = rnd() % 16;
    if (kind < 2) {
      note("host event");
      a->host_event(rnd);
    } else {
      static constexpr unsigned kWidths[] = {1, 2, 4, 8};
      unsigned size = kWidths[rnd() % 4];
      uint64_t offset = rnd() % 4 ? regs[rnd() % regs.size()] + (rnd() % 8 == 0 ? rnd() % 8 : 0)
                                  : rnd() % a->window();
      if (offset + size > a->window()) offset = a->window() - size;
      std::ostringstream s;
      s << std::hex;
      if (kind < 6) {
        uint64_t v;
        a->mmio().load(offset, size, &v);
        s << "load  " << size << " @0x" << offset;
      } else {
        uint64_t v = pick_value(rnd, a->ram_base, a->ram_size);
        a->mmio().store(offset, size, v);
        s << "store " << size << " @0x" << offset << " = 0x" << v;
      }
      note(s.str());
    }
    if (i % kCheckEvery) continue;

    if (observe) observe(*a);
    std::vector<uint8_t> bytes = a->save();
    std::unique_ptr<Harness> b = make();
    b->share_host(*a);
    Status st = b->restore(bytes);
    ASSERT_TRUE(st.ok()) << "after " << i << " operations: " << st.error().message() << "\n" << history();
    ASSERT_EQ(b->save(), bytes) << "restored state saves differently after " << i << " operations\n"
                                << history();
    // Restore rebuilds the interrupt lines' levels.
    for (const auto& [line, level] : a->irq.levels)
      ASSERT_EQ(b->irq.level(line), level) << "irq line " << line << " after " << i << " operations\n" << history();
    for (const auto& [line, level] : b->irq.levels)
      ASSERT_EQ(a->irq.level(line), level) << "irq line " << line << " after " << i << " operations\n" << history();
    // Both answer every register alike (reads may change state: the same
    // on both), and stay equal.
    for (uint64_t off : regs)
      for (unsigned size : {4u, 1u}) {
        if (off + size > a->window()) continue;
        uint64_t va = 0, vb = 0;
        bool oka = a->mmio().load(off, size, &va);
        bool okb = b->mmio().load(off, size, &vb);
        ASSERT_EQ(oka, okb);
        ASSERT_EQ(va, vb) << "read of " << size << " at 0x" << std::hex << off << " after " << std::dec << i
                          << " operations\n"
                          << history();
      }
    ASSERT_EQ(a->save(), b->save()) << "after the reads, " << i << " operations\n" << history();
  }
}

// --- CLINT ---

struct ClintHarness : Harness {
  TestClock clock;
  dev::Clint clint{clock, 1};
  ClintHarness() { clint.connect(0, IrqLine(&irq, 3), IrqLine(&irq, 7)); }
  mem::MmioDevice& mmio() override { return clint; }
  uint64_t window() const override { return dev::kClintSize; }
  std::vector<uint64_t> registers() const override {
    return {dev::kClintMsipBase, dev::kClintMsipBase + 4, dev::kClintMtimecmpBase, dev::kClintMtimecmpBase + 4,
            dev::kClintMtimecmpBase + 8, dev::kClintMtime, dev::kClintMtime + 4};
  }
  void host_event(std::mt19937_64& rnd) override {
    clock.t += rnd() % 100000;
    clint.update();
  }
  std::vector<uint8_t> save() const override { return encoded(clint.save()); }
  Status restore(const std::vector<uint8_t>& bytes) override {
    auto s = decoded<dev::Clint::State>(bytes);
    if (!s.ok()) return s.error();
    return clint.restore(*s);
  }
  void share_host(const Harness& other) override { clock.t = static_cast<const ClintHarness&>(other).clock.t; }
};

// --- PLIC ---

struct PlicHarness : Harness {
  dev::Plic plic{1};
  PlicHarness() {
    plic.connect(0, IrqLine(&irq, 11));
    plic.connect(1, IrqLine(&irq, 9));
  }
  mem::MmioDevice& mmio() override { return plic; }
  uint64_t window() const override { return dev::kPlicSize; }
  std::vector<uint64_t> registers() const override {
    std::vector<uint64_t> r;
    for (unsigned src : {0u, 1u, 2u, 10u, 31u, 32u, 95u, 96u}) r.push_back(dev::kPlicPriorityBase + 4 * src);
    for (unsigned w = 0; w < 4; w++) r.push_back(dev::kPlicPendingBase + 4 * w);
    for (unsigned ctx = 0; ctx < 3; ctx++) {
      for (unsigned w = 0; w < 4; w++) r.push_back(dev::kPlicEnableBase + dev::kPlicEnableStride * ctx + 4 * w);
      uint64_t base = dev::kPlicContextBase + dev::kPlicContextStride * ctx;
      r.push_back(base + dev::kPlicThreshold);
      r.push_back(base + dev::kPlicClaimComplete);
    }
    return r;
  }
  void host_event(std::mt19937_64& rnd) override {
    plic.set_irq(static_cast<unsigned>(rnd() % 100), rnd() % 2);
  }
  std::vector<uint8_t> save() const override { return encoded(plic.save()); }
  Status restore(const std::vector<uint8_t>& bytes) override {
    auto s = decoded<dev::Plic::State>(bytes);
    if (!s.ok()) return s.error();
    return plic.restore(*s);
  }
};

// --- UART 16550 ---

struct NullSink : dev::CharSink {
  void write(const uint8_t*, size_t) override {}
};

struct UartHarness : Harness {
  NullSink sink;
  dev::Uart16550 uart{&sink, IrqLine(&irq, 10)};
  mem::MmioDevice& mmio() override { return uart; }
  uint64_t window() const override { return dev::kUartSize; }
  std::vector<uint64_t> registers() const override { return {0, 1, 2, 3, 4, 5, 6, 7}; }
  void host_event(std::mt19937_64& rnd) override {
    for (unsigned n = rnd() % 20; n > 0; n--) uart.push_input(static_cast<uint8_t>(rnd()));
  }
  std::vector<uint8_t> save() const override { return encoded(uart.save()); }
  Status restore(const std::vector<uint8_t>& bytes) override {
    auto s = decoded<dev::Uart16550::State>(bytes);
    if (!s.ok()) return s.error();
    return uart.restore(*s);
  }
};

// --- goldfish RTC ---

struct RtcHarness : Harness {
  uint64_t now = 1'700'000'000'000'000'000ull;
  dev::GoldfishRtc rtc{[this] { return now; }, IrqLine(&irq, 11)};
  mem::MmioDevice& mmio() override { return rtc; }
  uint64_t window() const override { return dev::kRtcSize; }
  std::vector<uint64_t> registers() const override {
    return {dev::kRtcTimeLow,   dev::kRtcTimeHigh,  dev::kRtcAlarmLow,       dev::kRtcAlarmHigh,
            dev::kRtcIrqEnabled, dev::kRtcClearAlarm, dev::kRtcAlarmStatus, dev::kRtcClearInterrupt};
  }
  void host_event(std::mt19937_64& rnd) override {
    now += rnd() % 10'000'000'000ull;
    rtc.update();
  }
  std::vector<uint8_t> save() const override { return encoded(rtc.save()); }
  Status restore(const std::vector<uint8_t>& bytes) override {
    auto s = decoded<dev::GoldfishRtc::State>(bytes);
    if (!s.ok()) return s.error();
    return rtc.restore(*s);
  }
  void share_host(const Harness& other) override { now = static_cast<const RtcHarness&>(other).now; }
};

// --- test finisher ---

struct FinisherHarness : Harness {
  dev::TestFinisher finisher;
  FinisherHarness() {
    finisher.set_handler([](const dev::TestFinisher::Event&) {});
  }
  mem::MmioDevice& mmio() override { return finisher; }
  uint64_t window() const override { return dev::kFinisherSize; }
  std::vector<uint64_t> registers() const override { return {0, 2, 4}; }
  std::vector<uint8_t> save() const override { return encoded(finisher.save()); }
  Status restore(const std::vector<uint8_t>& bytes) override {
    auto s = decoded<dev::TestFinisher::State>(bytes);
    if (!s.ok()) return s.error();
    return finisher.restore(*s);
  }
};

// --- virtio-mmio with blk, net and rng ---

constexpr uint64_t kRamBase = 0x80000000;
constexpr uint64_t kRamSize = 256 * 1024;

// Guest RAM, its first half random bytes (rings and descriptors a random
// walk finds), its second half for the rings of a proper bring-up; and a
// small disk image, shared by the original and its fresh copies as
// on a real restore (memory and disk are restored apart from devices).
struct VirtioWorld {
  std::unique_ptr<mem::GuestMemory> ram;
  std::string image;
  VirtioWorld() {
    auto m = mem::GuestMemory::create(kRamBase, kRamSize);
    EXPECT_TRUE(m.ok());
    ram = std::move(m).value();
    std::mt19937_64 fill(7);
    std::vector<uint8_t> bytes(kRamSize / 2);
    for (auto& b : bytes) b = static_cast<uint8_t>(fill());
    EXPECT_TRUE(ram->write(kRamBase, bytes.data(), bytes.size()).ok());
    char tmpl[] = "/tmp/tandem-property-XXXXXX";
    int fd = mkstemp(tmpl);
    EXPECT_GE(fd, 0);
    image = tmpl;
    EXPECT_EQ(ftruncate(fd, 64 * 1024), 0);
    ::close(fd);
  }
  ~VirtioWorld() { ::unlink(image.c_str()); }
};

struct CountingSource : dev::EntropySource {
  size_t fill(uint8_t* buf, size_t len) override {
    for (size_t i = 0; i < len; i++) buf[i] = static_cast<uint8_t>(i);
    return len;
  }
};

struct NullPackets : dev::PacketSink {
  void send(const uint8_t*, size_t) override {}
};

// The transport's state and the device type's, in one blob.
template <typename Device>
std::vector<uint8_t> save_pair(const dev::VirtioMmio& t, const Device& d) {
  Encoder e;
  encode(e, t.save());
  encode(e, d.save());
  return e.take();
}

template <typename Device>
Status restore_pair(const std::vector<uint8_t>& bytes, dev::VirtioMmio& t, Device& d) {
  Decoder dec(bytes);
  dev::VirtioMmio::State ts;
  typename Device::State ds;
  TANDEM_TRY(decode(dec, &ts));
  TANDEM_TRY(decode(dec, &ds));
  TANDEM_TRY(dec.finish());
  TANDEM_TRY(d.restore(ds));
  return t.restore(ts);
}

struct VirtioHarness : Harness {
  std::unique_ptr<dev::VirtioMmio> transport;
  explicit VirtioHarness(VirtioWorld& w) {
    ram_base = kRamBase;
    ram_size = kRamSize;
    world = &w;
  }
  mem::MmioDevice& mmio() override { return *transport; }
  uint64_t window() const override { return dev::kVirtioMmioSize; }
  std::vector<uint64_t> registers() const override {
    std::vector<uint64_t> r;
    for (uint64_t off = 0; off < dev::kVirtioMmioConfig; off += 4) r.push_back(off);
    for (uint64_t off = dev::kVirtioMmioConfig; off < dev::kVirtioMmioConfig + 32; off++) r.push_back(off);
    // The registers that build up state, again, so that a walk reaches
    // FEATURES_OK, ready queues and DRIVER_OK often.
    for (int k = 0; k < 4; k++)
      for (uint64_t off : {dev::kVirtioMmioStatus, dev::kVirtioMmioDriverFeatures, dev::kVirtioMmioDriverFeaturesSel,
                           dev::kVirtioMmioQueueSel, dev::kVirtioMmioQueueNum, dev::kVirtioMmioQueueReady,
                           dev::kVirtioMmioQueueNotify, dev::kVirtioMmioQueueDescLow, dev::kVirtioMmioQueueDriverLow,
                           dev::kVirtioMmioQueueDeviceLow, dev::kVirtioMmioInterruptAck})
        r.push_back(off);
    return r;
  }
  void host_event(std::mt19937_64& rnd) override {
    if (rnd() % 3 == 0)
      driver(rnd);
    else
      transport->new_slice();
  }

  // What a real driver does (3.1.1), with random sizes and places, then a
  // few sane chains posted and notified: so that the walk also reaches
  // live queues with progress, not only garbage and DEVICE_NEEDS_RESET.
  void driver(std::mt19937_64& rnd) {
    dev::VirtioMmio& t = *transport;
    auto w = [&](uint64_t off, uint64_t v) { t.store(off, 4, v); };
    auto r = [&](uint64_t off) {
      uint64_t v = 0;
      t.load(off, 4, &v);
      return v;
    };
    if (rnd() % 2 || !(r(dev::kVirtioMmioStatus) & dev::kVirtioStatusDriverOk)) {
      w(dev::kVirtioMmioStatus, 0);
      w(dev::kVirtioMmioStatus, dev::kVirtioStatusAcknowledge | dev::kVirtioStatusDriver);
      for (uint32_t sel : {0u, 1u}) {
        w(dev::kVirtioMmioDeviceFeaturesSel, sel);
        uint64_t offered = r(dev::kVirtioMmioDeviceFeatures);
        w(dev::kVirtioMmioDriverFeaturesSel, sel);
        w(dev::kVirtioMmioDriverFeatures, offered & rnd());
      }
      w(dev::kVirtioMmioDriverFeaturesSel, 1);
      w(dev::kVirtioMmioDriverFeatures, 1);  // VERSION_1
      w(dev::kVirtioMmioStatus, 0xb);        // ... | FEATURES_OK
      for (uint32_t q = 0; q < 2; q++) {
        w(dev::kVirtioMmioQueueSel, q);
        uint64_t rings = kRamBase + kRamSize / 2 + 0x8000 * (rnd() % 4);
        std::vector<uint8_t> zero(0x6000, 0);
        (void)world->ram->write(rings, zero.data(), zero.size());
        w(dev::kVirtioMmioQueueNum, 1u << (rnd() % 5));
        w(dev::kVirtioMmioQueueDescLow, rings);
        w(dev::kVirtioMmioQueueDriverLow, rings + 0x2000);
        w(dev::kVirtioMmioQueueDeviceLow, rings + 0x4000);
        w(dev::kVirtioMmioQueueReady, 1);
      }
      w(dev::kVirtioMmioStatus, 0xf);  // ... | DRIVER_OK
    }
    // Post chains: 16..63 readable bytes, then 1..600 writable ones.
    uint32_t q = static_cast<uint32_t>(rnd() % 2);
    dev::VirtQueue::State c = t.queue(std::min<uint32_t>(q, t.save().queues.size() - 1)).config();
    if (!c.ready || c.num == 0) return;
    mem::GuestMemory& ram = *world->ram;
    uint16_t idx = 0;
    if (!ram.read(c.driver + 2, &idx, 2).ok()) return;
    for (unsigned n = 1 + rnd() % 4; n > 0; n--) {
      uint16_t head = static_cast<uint16_t>(rnd() % c.num);
      uint16_t second = static_cast<uint16_t>((head + 1) % c.num);
      uint8_t d[32] = {};
      store_le<uint64_t>(d, kRamBase + rnd() % 0x1000);
      store_le<uint32_t>(d + 8, static_cast<uint32_t>(16 + rnd() % 48));
      store_le<uint16_t>(d + 12, dev::kVirtqDescFNext);
      store_le<uint16_t>(d + 14, second);
      store_le<uint64_t>(d + 16, kRamBase + 0x2000 + rnd() % 0x1000);
      store_le<uint32_t>(d + 24, static_cast<uint32_t>(1 + rnd() % 600));
      store_le<uint16_t>(d + 28, dev::kVirtqDescFWrite);
      (void)ram.write(c.desc + 16 * head, d, 16);
      (void)ram.write(c.desc + 16 * second, d + 16, 16);
      (void)ram.write(c.driver + 4 + 2 * (idx % c.num), &head, 2);
      idx++;
    }
    (void)ram.write(c.driver + 2, &idx, 2);
    w(dev::kVirtioMmioQueueNotify, q);
  }
  VirtioWorld* world;
};

struct BlkHarness : VirtioHarness {
  std::unique_ptr<dev::VirtioBlk> blk;
  explicit BlkHarness(VirtioWorld& w) : VirtioHarness(w) {
    auto b = dev::VirtioBlk::open({w.image, false, "prop"});
    EXPECT_TRUE(b.ok());
    blk = std::move(b).value();
    transport = std::make_unique<dev::VirtioMmio>(*w.ram, *blk, IrqLine(&irq, 1));
  }
  std::vector<uint8_t> save() const override { return save_pair(*transport, *blk); }
  Status restore(const std::vector<uint8_t>& bytes) override { return restore_pair(bytes, *transport, *blk); }
};

struct NetHarness : VirtioHarness {
  NullPackets sink;
  dev::VirtioNet net{&sink};
  explicit NetHarness(VirtioWorld& w) : VirtioHarness(w) {
    transport = std::make_unique<dev::VirtioMmio>(*w.ram, net, IrqLine(&irq, 2));
  }
  void host_event(std::mt19937_64& rnd) override {
    switch (rnd() % 4) {
      case 0: driver(rnd); break;
      case 1: net.set_link_up(rnd() % 2); break;
      case 2: transport->new_slice(); break;
      default: {
        std::vector<uint8_t> frame(rnd() % 1600, 0x5a);
        net.deliver(frame.data(), frame.size());
      }
    }
  }
  std::vector<uint8_t> save() const override { return save_pair(*transport, net); }
  Status restore(const std::vector<uint8_t>& bytes) override { return restore_pair(bytes, *transport, net); }
};

struct RngHarness : VirtioHarness {
  CountingSource source;
  dev::VirtioRng rng{&source};
  explicit RngHarness(VirtioWorld& w) : VirtioHarness(w) {
    transport = std::make_unique<dev::VirtioMmio>(*w.ram, rng, IrqLine(&irq, 3));
  }
  std::vector<uint8_t> save() const override { return save_pair(*transport, rng); }
  Status restore(const std::vector<uint8_t>& bytes) override { return restore_pair(bytes, *transport, rng); }
};

// Random rings mostly make the device need a reset: expected, and loud.
class QuietLog {
 public:
  QuietLog() : saved_(log_level()) { set_log_level(LogLevel::kError); }
  ~QuietLog() { set_log_level(saved_); }

 private:
  LogLevel saved_;
};

template <typename H>
void check_simple() {
  for (uint64_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    check_property([] { return std::make_unique<H>(); }, seed);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// The states the walk reached (at round trips), so that a walk that never
// gets anywhere interesting fails instead of passing vacuously.
struct VirtioCoverage {
  int live = 0;         // DRIVER_OK with a ready queue
  int progressed = 0;   // a queue that has used buffers
  int needs_reset = 0;  // DEVICE_NEEDS_RESET
};

template <typename H>
void check_virtio() {
  QuietLog quiet;
  VirtioCoverage seen;
  for (uint64_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    VirtioWorld world;
    check_property([&world] { return std::make_unique<H>(world); }, seed, [&seen](Harness& h) {
      dev::VirtioMmio::State s = static_cast<VirtioHarness&>(h).transport->save();
      bool ready = false, used = false;
      for (const auto& q : s.queues) {
        ready |= q.ready != 0;
        used |= q.used_idx != 0;
      }
      seen.live += ready && (s.status & dev::kVirtioStatusDriverOk);
      seen.progressed += used;
      seen.needs_reset += (s.status & dev::kVirtioStatusNeedsReset) != 0;
    });
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(seen.live, 0);
  EXPECT_GT(seen.progressed, 0);
  EXPECT_GT(seen.needs_reset, 0);
  std::printf("[ coverage ] round trips with live queues %d, used buffers %d, needs reset %d\n", seen.live,
              seen.progressed, seen.needs_reset);
}

TEST(DeviceStateProperty, Clint) { check_simple<ClintHarness>(); }
TEST(DeviceStateProperty, Plic) { check_simple<PlicHarness>(); }
TEST(DeviceStateProperty, Uart) { check_simple<UartHarness>(); }
TEST(DeviceStateProperty, GoldfishRtc) { check_simple<RtcHarness>(); }
TEST(DeviceStateProperty, TestFinisher) { check_simple<FinisherHarness>(); }
TEST(DeviceStateProperty, VirtioMmioBlk) { check_virtio<BlkHarness>(); }
TEST(DeviceStateProperty, VirtioMmioNet) { check_virtio<NetHarness>(); }
TEST(DeviceStateProperty, VirtioMmioRng) { check_virtio<RngHarness>(); }

}  // namespace
}  // namespace tandem::state
