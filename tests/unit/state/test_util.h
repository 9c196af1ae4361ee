// Shared helpers of the state tests: sample component states with every
// field away from its default, a scratch directory, file bytes.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../temp_dir.h"
#include "state/snapshot.h"

namespace tandem::state::testing {

inline cpu::HartState sample_hart(uint64_t seed = 1) {
  cpu::HartState h{};
  for (int i = 0; i < 32; i++) {
    h.x[i] = i == 0 ? 0 : seed * 0x9e3779b97f4a7c15ull + i;
    h.f[i] = seed * 0xc2b2ae3d27d4eb4full + i;
  }
  h.pc = 0x80200000 + seed;
  h.priv = 1;
  h.hartid = 0;
  h.instret = 123456789 + seed;
  h.mstatus = (uint64_t{2} << 32) | (uint64_t{2} << 34) | 0x8;
  h.medeleg = 0xb109;
  h.mideleg = 0x222;
  h.mie = 0xaaa;
  h.mip = 0x20;
  h.mtvec = 0x80000100;
  h.mscratch = 0x1111;
  h.mepc = 0x2222;
  h.mcause = 9;
  h.mtval = 0x3333;
  h.mcounteren = 7;
  h.mcountinhibit = 4;
  h.menvcfg = uint64_t{1} << 63;
  h.stvec = 0xffffffff80001000;
  h.sscratch = 0x4444;
  h.sepc = 0x5555;
  h.scause = 13;
  h.stval = 0x6666;
  h.scounteren = 2;
  h.senvcfg = 1;
  h.satp = (uint64_t{8} << 60) | 0x80123;
  h.stimecmp = 0x77777777;
  h.fcsr = 0x41;
  for (int i = 0; i < 8; i++) h.pmpcfg[i] = 0x1f + i;
  for (int i = 0; i < 64; i++) h.pmpaddr[i] = 0x20000000 + i;
  h.reservation_addr = 0x80001000;
  h.reservation_value = 42;
  h.reservation_valid = 1;
  return h;
}

inline dev::Clint::State sample_clint() {
  dev::Clint::State s;
  s.msip = {1, 0};
  s.mtimecmp = {0x123456789, UINT64_MAX};
  s.mtime_offset = 0xfffffffffff00000;
  return s;
}

inline dev::Plic::State sample_plic() {
  dev::Plic::State s;
  for (unsigned i = 1; i < dev::kPlicSources; i++) s.priority[i] = i % 8;
  s.level = {0x2, 0x80000000, 0x1};
  s.claimed = {0x4, 0, 0};
  s.enable = {{0xfffffffe, 0x1, 0x0}, {0x0, 0xffff, 0x3}};
  s.threshold = {1, 7};
  return s;
}

inline dev::Uart16550::State sample_uart() {
  dev::Uart16550::State s;
  s.ier = 0x05;
  s.fcr = 0xc1;
  s.lcr = 0x03;
  s.mcr = 0x0b;
  s.lsr_errors = 0x02;
  s.msr_delta = 0x01;
  s.scr = 0x5a;
  s.dll = 0x01;
  s.dlm = 0x02;
  s.thr_interrupt = true;
  s.rx_fifo = {'h', 'e', 'l', 'l', 'o'};
  return s;
}

inline dev::GoldfishRtc::State sample_rtc() {
  dev::GoldfishRtc::State s;
  s.time_offset = 1700000000000000000ull;
  s.time_high = 0x17a;
  s.alarm = 1700000001000000000ull;
  s.alarm_status = 1;
  s.irq_enabled = 1;
  s.irq_pending = 1;
  return s;
}

inline dev::VirtioMmio::State sample_transport(uint32_t device_id, unsigned queues) {
  dev::VirtioMmio::State s;
  s.device_id = device_id;
  s.status = 0xf;
  s.device_features_sel = 1;
  s.driver_features_sel = 1;
  s.driver_features = (uint64_t{1} << 32) | 0x240;
  s.queue_sel = queues - 1;
  s.interrupt_status = 1;
  s.config_generation = 3;
  for (unsigned q = 0; q < queues; q++) {
    dev::VirtQueue::State vq;
    vq.num = 256;
    vq.ready = 1;
    vq.desc = 0x87000000 + 0x10000 * q;
    vq.driver = vq.desc + 0x1000;
    vq.device = vq.desc + 0x2000;
    vq.last_avail_idx = static_cast<uint16_t>(0xfff0 + q);
    vq.used_idx = static_cast<uint16_t>(0xffee + q);
    vq.deferred = true;
    s.queues.push_back(vq);
  }
  return s;
}

// Every component present, every field away from its default.
inline Snapshot sample_snapshot() {
  Snapshot s;
  s.config = {{"ram_size", "4194304"},
              {"kernel", "/boot/vmlinux"},
              {"drive0", "file=disk.img,readonly=on"},
              {"icount", "1"},
              {"append", ""}};
  s.harts = {sample_hart()};
  s.clint = sample_clint();
  s.plic = sample_plic();
  s.uart = sample_uart();
  s.rtc = sample_rtc();
  s.finisher = dev::TestFinisher::State{};
  s.virtio.push_back({0, sample_transport(dev::kVirtioIdBlock, 1), dev::VirtioBlk::State{8192, 1}});
  dev::VirtioNet::State net;
  net.mac = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
  net.status = 0;
  s.virtio.push_back({1, sample_transport(dev::kVirtioIdNet, 2), net});
  s.virtio.push_back({3, sample_transport(dev::kVirtioIdEntropy, 1), dev::VirtioRng::State{}});
  return s;
}

using TempDir = tandem::test::TempDir;

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// A new file each time: truncating a file in place makes ext4 flush it on
// close (auto_da_alloc), which turns byte-by-byte damage tests slow.
inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, size_t n) {
  ::unlink(path.c_str());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(n));
}
inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_bytes(path, bytes, bytes.size());
}

}  // namespace tandem::state::testing
