#include "board/fdt.h"

#include <gtest/gtest.h>
#include <libfdt.h>

#include <string>

#include "board/memory_map.h"

namespace tandem::board {
namespace {

std::string prop_str(const void* fdt, const char* path, const char* name) {
  int off = fdt_path_offset(fdt, path);
  if (off < 0) return "<no node " + std::string(path) + ">";
  int len = 0;
  const char* p = static_cast<const char*>(fdt_getprop(fdt, off, name, &len));
  return p ? std::string(p) : "<no prop>";
}

TEST(Fdt, DescribesTheBoardAndOnlyAttachedVirtio) {
  FdtConfig c;
  c.ram_base = kRamBase;
  c.ram_size = 256ull << 20;
  c.bootargs = "console=ttyS0";
  c.initrd_start = 0x88200000;
  c.initrd_end = 0x88300000;
  c.virtio_slots = {0, 2};
  auto blob = build_fdt(c);
  ASSERT_TRUE(blob.ok()) << blob.error().message();
  const void* fdt = blob->data();
  ASSERT_EQ(fdt_check_header(fdt), 0);
  EXPECT_EQ(prop_str(fdt, "/chosen", "bootargs"), "console=ttyS0");
  EXPECT_EQ(prop_str(fdt, "/chosen", "stdout-path"), "/soc/serial@10000000");
  EXPECT_EQ(prop_str(fdt, "/soc/serial@10000000", "compatible"), "ns16550a");
  EXPECT_EQ(prop_str(fdt, "/cpus/cpu@0", "riscv,isa"), "rv64imafdc_zicsr_zifencei_zihintpause");
  EXPECT_EQ(prop_str(fdt, "/poweroff", "compatible"), "syscon-poweroff");
  EXPECT_GE(fdt_path_offset(fdt, "/soc/virtio_mmio@10001000"), 0);
  EXPECT_LT(fdt_path_offset(fdt, "/soc/virtio_mmio@10002000"), 0) << "slot 1 is not attached";
  EXPECT_GE(fdt_path_offset(fdt, "/soc/virtio_mmio@10003000"), 0);

  int mem = fdt_path_offset(fdt, "/memory@80000000");
  ASSERT_GE(mem, 0);
  int len = 0;
  auto* reg = static_cast<const fdt32_t*>(fdt_getprop(fdt, mem, "reg", &len));
  ASSERT_EQ(len, 16);
  EXPECT_EQ(fdt32_to_cpu(reg[1]), 0x80000000u);
  EXPECT_EQ(fdt32_to_cpu(reg[3]), 256u << 20);

  int plic = fdt_path_offset(fdt, "/soc/plic@c000000");
  ASSERT_GE(plic, 0);
  int virtio = fdt_path_offset(fdt, "/soc/virtio_mmio@10003000");
  auto* irq = static_cast<const fdt32_t*>(fdt_getprop(fdt, virtio, "interrupts", &len));
  ASSERT_EQ(len, 4);
  EXPECT_EQ(fdt32_to_cpu(*irq), 3u);
  auto* parent = static_cast<const fdt32_t*>(fdt_getprop(fdt, virtio, "interrupt-parent", &len));
  EXPECT_EQ(fdt_node_offset_by_phandle(fdt, fdt32_to_cpu(*parent)), plic);
}

// -smp 3, laid out as QEMU's virt board: a cpu node and interrupt
// controller per hart, the CLINT's MSIP/MTIP and the PLIC's MEIP/SEIP
// (contexts 2i, 2i + 1) of every hart in hart order, a cpu-map core each.
TEST(Fdt, OneCpuNodePerHart) {
  FdtConfig c;
  c.ram_base = kRamBase;
  c.ram_size = 64ull << 20;
  c.harts = 3;
  auto blob = build_fdt(c);
  ASSERT_TRUE(blob.ok()) << blob.error().message();
  const void* fdt = blob->data();
  int len = 0;
  auto intc_of = [&](unsigned hart) {
    const std::string cpu = "/cpus/cpu@" + std::to_string(hart);
    auto* reg = static_cast<const fdt32_t*>(fdt_getprop(fdt, fdt_path_offset(fdt, cpu.c_str()), "reg", &len));
    EXPECT_TRUE(reg && fdt32_to_cpu(*reg) == hart) << cpu;
    return fdt_get_phandle(fdt, fdt_path_offset(fdt, (cpu + "/interrupt-controller").c_str()));
  };
  EXPECT_LT(fdt_path_offset(fdt, "/cpus/cpu@3"), 0);
  for (const auto& [node, irqs] : {std::pair<const char*, std::pair<uint32_t, uint32_t>>{"/soc/clint@2000000", {3, 7}},
                                   {"/soc/plic@c000000", {11, 9}}}) {
    auto* cells = static_cast<const fdt32_t*>(
        fdt_getprop(fdt, fdt_path_offset(fdt, node), "interrupts-extended", &len));
    ASSERT_EQ(len, 3 * 4 * 4) << node;
    for (unsigned h = 0; h < 3; h++) {
      EXPECT_EQ(fdt32_to_cpu(cells[4 * h]), intc_of(h)) << node << " hart " << h;
      EXPECT_EQ(fdt32_to_cpu(cells[4 * h + 1]), irqs.first) << node;
      EXPECT_EQ(fdt32_to_cpu(cells[4 * h + 2]), intc_of(h)) << node;
      EXPECT_EQ(fdt32_to_cpu(cells[4 * h + 3]), irqs.second) << node;
    }
  }
  auto* core2 = static_cast<const fdt32_t*>(
      fdt_getprop(fdt, fdt_path_offset(fdt, "/cpus/cpu-map/cluster0/core2"), "cpu", &len));
  ASSERT_NE(core2, nullptr);
  EXPECT_EQ(fdt_node_offset_by_phandle(fdt, fdt32_to_cpu(*core2)), fdt_path_offset(fdt, "/cpus/cpu@2"));
}

TEST(Fdt, NoInitrdNoInitrdProperties) {
  FdtConfig c;
  c.ram_base = kRamBase;
  c.ram_size = 64ull << 20;
  auto blob = build_fdt(c);
  ASSERT_TRUE(blob.ok());
  int chosen = fdt_path_offset(blob->data(), "/chosen");
  EXPECT_EQ(fdt_getprop(blob->data(), chosen, "linux,initrd-start", nullptr), nullptr);
  EXPECT_EQ(fdt_getprop(blob->data(), chosen, "bootargs", nullptr), nullptr);
}

}  // namespace
}  // namespace tandem::board
