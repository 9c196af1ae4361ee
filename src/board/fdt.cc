#include "board/fdt.h"

#include <libfdt.h>

#include <cstdio>
#include <string>

#include "base/clock.h"
#include "board/memory_map.h"

namespace tandem::board {

namespace {

// Phandles are ours to choose; fixed numbers keep the blob reproducible.
constexpr uint32_t kPhandlePlic = 1;
constexpr uint32_t kPhandleTest = 2;
// Hart i's cpu node and its interrupt controller.
constexpr uint32_t cpu_phandle(unsigned i) { return 3 + 2 * i; }
constexpr uint32_t intc_phandle(unsigned i) { return 4 + 2 * i; }

// RISC-V interrupt numbers in mip (privileged spec 3.1.9).
constexpr uint32_t kIrqMSoft = 3, kIrqMTimer = 7, kIrqSExt = 9, kIrqMExt = 11;

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& buf) : buf_(buf) {}
  int err = 0;
  void* fdt() { return buf_.data(); }
  void check(int r) {
    if (r < 0 && err == 0) err = r;
  }
  void begin(const std::string& name) { check(fdt_begin_node(fdt(), name.c_str())); }
  void end() { check(fdt_end_node(fdt())); }
  void prop_str(const char* name, const std::string& v) { check(fdt_property_string(fdt(), name, v.c_str())); }
  void prop_u32(const char* name, uint32_t v) { check(fdt_property_u32(fdt(), name, v)); }
  void prop_empty(const char* name) { check(fdt_property(fdt(), name, nullptr, 0)); }
  void prop_cells(const char* name, std::initializer_list<uint32_t> cells) {
    std::vector<fdt32_t> be;
    for (uint32_t c : cells) be.push_back(cpu_to_fdt32(c));
    check(fdt_property(fdt(), name, be.data(), static_cast<int>(be.size() * sizeof(fdt32_t))));
  }
  // interrupts-extended naming two of every hart's interrupts (CLINT, PLIC).
  void per_hart_irqs(const char* name, unsigned harts, uint32_t first, uint32_t second) {
    std::vector<fdt32_t> be;
    for (unsigned i = 0; i < harts; i++)
      for (uint32_t irq : {first, second}) {
        be.push_back(cpu_to_fdt32(intc_phandle(i)));
        be.push_back(cpu_to_fdt32(irq));
      }
    check(fdt_property(fdt(), name, be.data(), static_cast<int>(be.size() * sizeof(fdt32_t))));
  }
  // A string list ("a\0b\0").
  void prop_strs(const char* name, std::initializer_list<const char*> strs) {
    std::string all;
    for (const char* s : strs) {
      all += s;
      all.push_back('\0');
    }
    check(fdt_property(fdt(), name, all.data(), static_cast<int>(all.size())));
  }
  void reg(uint64_t base, uint64_t size) {
    prop_cells("reg", {hi(base), lo(base), hi(size), lo(size)});
  }
  static uint32_t hi(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
  static uint32_t lo(uint64_t v) { return static_cast<uint32_t>(v); }

 private:
  std::vector<uint8_t>& buf_;
};

std::string node(const char* name, uint64_t addr) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s@%llx", name, static_cast<unsigned long long>(addr));
  return buf;
}

}  // namespace

Result<std::vector<uint8_t>> build_fdt(const FdtConfig& c) {
  std::vector<uint8_t> buf(64 * 1024);
  Writer w(buf);
  w.check(fdt_create(w.fdt(), static_cast<int>(buf.size())));
  w.check(fdt_finish_reservemap(w.fdt()));
  w.begin("");
  w.prop_u32("#address-cells", 2);
  w.prop_u32("#size-cells", 2);
  w.prop_str("compatible", "riscv-virtio");
  w.prop_str("model", "tandem,virt");

  w.begin("chosen");
  w.prop_str("stdout-path", node("/soc/serial", kUartBase));
  if (!c.bootargs.empty()) w.prop_str("bootargs", c.bootargs);
  if (c.initrd_end > c.initrd_start) {
    w.prop_cells("linux,initrd-start", {Writer::hi(c.initrd_start), Writer::lo(c.initrd_start)});
    w.prop_cells("linux,initrd-end", {Writer::hi(c.initrd_end), Writer::lo(c.initrd_end)});
  }
  w.end();

  w.begin(node("memory", c.ram_base));
  w.prop_str("device_type", "memory");
  w.reg(c.ram_base, c.ram_size);
  w.end();

  w.begin("cpus");
  w.prop_u32("#address-cells", 1);
  w.prop_u32("#size-cells", 0);
  w.prop_u32("timebase-frequency", static_cast<uint32_t>(kTimebaseHz));
  // Laid out as QEMU 7.2's virt board does it (-smp N).
  for (unsigned i = 0; i < c.harts; i++) {
    w.begin(node("cpu", i));
    w.prop_u32("phandle", cpu_phandle(i));
    w.prop_str("device_type", "cpu");
    w.prop_cells("reg", {i});
    w.prop_str("status", "okay");
    w.prop_str("compatible", "riscv");
    w.prop_str("riscv,isa", c.isa);
    w.prop_str("mmu-type", c.mmu_type);
    w.begin("interrupt-controller");
    w.prop_u32("#interrupt-cells", 1);
    w.prop_empty("interrupt-controller");
    w.prop_str("compatible", "riscv,cpu-intc");
    w.prop_u32("phandle", intc_phandle(i));
    w.end();
    w.end();
  }
  w.begin("cpu-map");
  w.begin("cluster0");
  for (unsigned i = 0; i < c.harts; i++) {
    w.begin("core" + std::to_string(i));
    w.prop_u32("cpu", cpu_phandle(i));
    w.end();
  }
  w.end();
  w.end();
  w.end();  // cpus

  w.begin("soc");
  w.prop_u32("#address-cells", 2);
  w.prop_u32("#size-cells", 2);
  w.prop_str("compatible", "simple-bus");
  w.prop_empty("ranges");

  w.begin(node("clint", kClintBase));
  w.per_hart_irqs("interrupts-extended", c.harts, kIrqMSoft, kIrqMTimer);
  w.reg(kClintBase, kClintSize);
  w.prop_strs("compatible", {"sifive,clint0", "riscv,clint0"});
  w.end();

  w.begin(node("plic", kPlicBase));
  w.prop_u32("phandle", kPhandlePlic);
  w.prop_u32("riscv,ndev", kPlicSources - 1);
  w.reg(kPlicBase, kPlicSize);
  // Context 2i is hart i's M mode, context 2i + 1 its S mode.
  w.per_hart_irqs("interrupts-extended", c.harts, kIrqMExt, kIrqSExt);
  w.prop_empty("interrupt-controller");
  w.prop_strs("compatible", {"sifive,plic-1.0.0", "riscv,plic0"});
  w.prop_u32("#address-cells", 0);
  w.prop_u32("#interrupt-cells", 1);
  w.end();

  w.begin(node("serial", kUartBase));
  w.prop_u32("interrupts", kUartIrq);
  w.prop_u32("interrupt-parent", kPhandlePlic);
  w.prop_u32("clock-frequency", 3686400);
  w.reg(kUartBase, kUartSize);
  w.prop_str("compatible", "ns16550a");
  w.end();

  w.begin(node("test", kTestBase));
  w.prop_u32("phandle", kPhandleTest);
  w.reg(kTestBase, kTestSize);
  w.prop_strs("compatible", {"sifive,test1", "sifive,test0", "syscon"});
  w.end();

  if (c.rtc) {
    w.begin(node("rtc", kRtcBase));
    w.prop_u32("interrupts", kRtcIrq);
    w.prop_u32("interrupt-parent", kPhandlePlic);
    w.reg(kRtcBase, kRtcSize);
    w.prop_str("compatible", "google,goldfish-rtc");
    w.end();
  }

  for (unsigned slot : c.virtio_slots) {
    uint64_t base = kVirtioBase + slot * kVirtioStride;
    w.begin(node("virtio_mmio", base));
    w.prop_u32("interrupts", kVirtioIrqBase + slot);
    w.prop_u32("interrupt-parent", kPhandlePlic);
    w.reg(base, kVirtioStride);
    w.prop_str("compatible", "virtio,mmio");
    w.end();
  }
  w.end();  // soc

  // Linux powers off and reboots through the test device (syscon).
  w.begin("poweroff");
  w.prop_u32("value", 0x5555);
  w.prop_u32("offset", 0);
  w.prop_u32("regmap", kPhandleTest);
  w.prop_str("compatible", "syscon-poweroff");
  w.end();
  w.begin("reboot");
  w.prop_u32("value", 0x7777);
  w.prop_u32("offset", 0);
  w.prop_u32("regmap", kPhandleTest);
  w.prop_str("compatible", "syscon-reboot");
  w.end();

  w.end();  // root
  w.check(fdt_finish(w.fdt()));
  if (w.err) return Error(std::string("build device tree: ") + fdt_strerror(w.err));
  buf.resize(fdt_totalsize(buf.data()));
  return buf;
}

}  // namespace tandem::board
