// A tiny RISC-V assembler for the CPU unit tests: instruction encoders
// (unprivileged spec chapter 24 formats) and an emitter with labels.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tandem::cpu::test {

namespace enc {
inline uint32_t r(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op) {
  return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}
inline uint32_t i(int32_t imm, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op) {
  return (static_cast<uint32_t>(imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}
inline uint32_t s(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t op) {
  uint32_t u = static_cast<uint32_t>(imm);
  return (((u >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((u & 0x1f) << 7) | op;
}
inline uint32_t b(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3) {
  uint32_t u = static_cast<uint32_t>(imm);
  return (((u >> 12) & 1) << 31) | (((u >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) |
         (((u >> 1) & 0xf) << 8) | (((u >> 11) & 1) << 7) | 0x63;
}
inline uint32_t u(uint32_t imm20, uint32_t rd, uint32_t op) { return (imm20 << 12) | (rd << 7) | op; }
inline uint32_t j(int32_t imm, uint32_t rd) {
  uint32_t u = static_cast<uint32_t>(imm);
  return (((u >> 20) & 1) << 31) | (((u >> 1) & 0x3ff) << 21) | (((u >> 11) & 1) << 20) |
         (((u >> 12) & 0xff) << 12) | (rd << 7) | 0x6f;
}
}  // namespace enc

// CSR numbers used by the tests.
enum : uint32_t {
  kCsrFflags = 0x001, kCsrFrm = 0x002, kCsrFcsr = 0x003,
  kCsrSstatus = 0x100, kCsrSie = 0x104, kCsrStvec = 0x105, kCsrSscratch = 0x140, kCsrSepc = 0x141,
  kCsrScause = 0x142, kCsrStval = 0x143, kCsrSip = 0x144, kCsrStimecmp = 0x14d, kCsrSatp = 0x180,
  kCsrMstatus = 0x300, kCsrMisa = 0x301, kCsrMedeleg = 0x302, kCsrMideleg = 0x303, kCsrMie = 0x304,
  kCsrMtvec = 0x305, kCsrMcounteren = 0x306, kCsrMenvcfg = 0x30a, kCsrMscratch = 0x340,
  kCsrMepc = 0x341, kCsrMcause = 0x342, kCsrMtval = 0x343, kCsrMip = 0x344,
  kCsrPmpcfg0 = 0x3a0, kCsrPmpaddr0 = 0x3b0, kCsrMcycle = 0xb00, kCsrMinstret = 0xb02,
  kCsrCycle = 0xc00, kCsrTime = 0xc01, kCsrInstret = 0xc02, kCsrMhartid = 0xf14,
};

class Asm {
 public:
  explicit Asm(uint64_t base) : base_(base) {}
  uint64_t base() const { return base_; }
  uint64_t here() const { return base_ + bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

  void w32(uint32_t v) {
    for (int k = 0; k < 4; ++k) bytes_.push_back(static_cast<uint8_t>(v >> (8 * k)));
  }
  void w16(uint16_t v) {
    bytes_.push_back(static_cast<uint8_t>(v));
    bytes_.push_back(static_cast<uint8_t>(v >> 8));
  }
  void w64(uint64_t v) {
    w32(static_cast<uint32_t>(v));
    w32(static_cast<uint32_t>(v >> 32));
  }
  void align(unsigned n) {
    while (bytes_.size() % n) bytes_.push_back(0);
  }

  // Labels: bind() a name; branches/jumps to names are patched at finish().
  void bind(const std::string& name) { labels_[name] = here(); }
  uint64_t label(const std::string& name) const { return labels_.at(name); }
  void finish() {
    for (auto& [at, fix] : fixups_) {
      int32_t off = static_cast<int32_t>(labels_.at(fix.second) - at);
      uint32_t word = fix.first == 'b' ? patch_b(read32(at), off) : patch_j(read32(at), off);
      write32(at, word);
    }
    fixups_.clear();
  }

  // RV64I
  void lui(unsigned rd, uint32_t imm20) { w32(enc::u(imm20 & 0xfffff, rd, 0x37)); }
  void auipc(unsigned rd, uint32_t imm20) { w32(enc::u(imm20 & 0xfffff, rd, 0x17)); }
  void jal(unsigned rd, int32_t off) { w32(enc::j(off, rd)); }
  void jal(unsigned rd, const std::string& l) { fixups_.push_back({here(), {'j', l}}); w32(enc::j(0, rd)); }
  void jalr(unsigned rd, unsigned rs1, int32_t imm) { w32(enc::i(imm, rs1, 0, rd, 0x67)); }
  void br(unsigned f3, unsigned rs1, unsigned rs2, int32_t off) { w32(enc::b(off, rs2, rs1, f3)); }
  void br(unsigned f3, unsigned rs1, unsigned rs2, const std::string& l) {
    fixups_.push_back({here(), {'b', l}});
    w32(enc::b(0, rs2, rs1, f3));
  }
  void beq(unsigned a, unsigned b, const std::string& l) { br(0, a, b, l); }
  void bne(unsigned a, unsigned b, const std::string& l) { br(1, a, b, l); }
  void blt(unsigned a, unsigned b, const std::string& l) { br(4, a, b, l); }
  void bltu(unsigned a, unsigned b, const std::string& l) { br(6, a, b, l); }
  void load(unsigned f3, unsigned rd, unsigned rs1, int32_t imm) { w32(enc::i(imm, rs1, f3, rd, 0x03)); }
  void lb(unsigned rd, unsigned rs1, int32_t imm) { load(0, rd, rs1, imm); }
  void lh(unsigned rd, unsigned rs1, int32_t imm) { load(1, rd, rs1, imm); }
  void lw(unsigned rd, unsigned rs1, int32_t imm) { load(2, rd, rs1, imm); }
  void ld(unsigned rd, unsigned rs1, int32_t imm) { load(3, rd, rs1, imm); }
  void lbu(unsigned rd, unsigned rs1, int32_t imm) { load(4, rd, rs1, imm); }
  void lhu(unsigned rd, unsigned rs1, int32_t imm) { load(5, rd, rs1, imm); }
  void lwu(unsigned rd, unsigned rs1, int32_t imm) { load(6, rd, rs1, imm); }
  void store(unsigned f3, unsigned rs2, unsigned rs1, int32_t imm) { w32(enc::s(imm, rs2, rs1, f3, 0x23)); }
  void sb(unsigned rs2, unsigned rs1, int32_t imm) { store(0, rs2, rs1, imm); }
  void sh(unsigned rs2, unsigned rs1, int32_t imm) { store(1, rs2, rs1, imm); }
  void sw(unsigned rs2, unsigned rs1, int32_t imm) { store(2, rs2, rs1, imm); }
  void sd(unsigned rs2, unsigned rs1, int32_t imm) { store(3, rs2, rs1, imm); }
  void opi(unsigned f3, unsigned rd, unsigned rs1, int32_t imm) { w32(enc::i(imm, rs1, f3, rd, 0x13)); }
  void addi(unsigned rd, unsigned rs1, int32_t imm) { opi(0, rd, rs1, imm); }
  void slli(unsigned rd, unsigned rs1, unsigned sh) { opi(1, rd, rs1, static_cast<int32_t>(sh)); }
  void srli(unsigned rd, unsigned rs1, unsigned sh) { opi(5, rd, rs1, static_cast<int32_t>(sh)); }
  void srai(unsigned rd, unsigned rs1, unsigned sh) { opi(5, rd, rs1, static_cast<int32_t>(0x400 | sh)); }
  void andi(unsigned rd, unsigned rs1, int32_t imm) { opi(7, rd, rs1, imm); }
  void xori(unsigned rd, unsigned rs1, int32_t imm) { opi(4, rd, rs1, imm); }
  void addiw(unsigned rd, unsigned rs1, int32_t imm) { w32(enc::i(imm, rs1, 0, rd, 0x1b)); }
  void op(uint32_t f7, unsigned f3, unsigned rd, unsigned rs1, unsigned rs2) { w32(enc::r(f7, rs2, rs1, f3, rd, 0x33)); }
  void op32(uint32_t f7, unsigned f3, unsigned rd, unsigned rs1, unsigned rs2) { w32(enc::r(f7, rs2, rs1, f3, rd, 0x3b)); }
  void add(unsigned rd, unsigned a, unsigned b) { op(0, 0, rd, a, b); }
  void sub(unsigned rd, unsigned a, unsigned b) { op(0x20, 0, rd, a, b); }
  void mv(unsigned rd, unsigned rs) { addi(rd, rs, 0); }
  void nop() { addi(0, 0, 0); }
  // Loads any 64-bit constant (the usual lui/addi/slli expansion).
  void li(unsigned rd, int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) {
      int64_t lo = static_cast<int64_t>(static_cast<uint64_t>(v) << 52) >> 52;
      int64_t hi = (v - lo) >> 12;
      if (hi) {
        lui(rd, static_cast<uint32_t>(hi));
        addiw(rd, rd, static_cast<int32_t>(lo));
      } else {
        addi(rd, 0, static_cast<int32_t>(lo));
      }
      return;
    }
    int64_t lo = static_cast<int64_t>(static_cast<uint64_t>(v) << 52) >> 52;
    int64_t hi = static_cast<int64_t>(static_cast<uint64_t>(v) - static_cast<uint64_t>(lo)) >> 12;
    unsigned shift = 12;
    while (hi != 0 && (hi & 1) == 0) {
      hi >>= 1;
      shift++;
    }
    li(rd, hi);
    slli(rd, rd, shift);
    if (lo) addi(rd, rd, static_cast<int32_t>(lo));
  }
  // A extension: funct5, width 2 (w) or 3 (d).
  void amo(unsigned f5, unsigned f3, unsigned rd, unsigned rs1, unsigned rs2) {
    w32(enc::r(f5 << 2, rs2, rs1, f3, rd, 0x2f));
  }
  // System
  void csr(unsigned f3, unsigned rd, uint32_t csr, unsigned rs1) { w32(enc::i(static_cast<int32_t>(csr), rs1, f3, rd, 0x73)); }
  void csrw(uint32_t c, unsigned rs1) { csr(1, 0, c, rs1); }
  void csrr(unsigned rd, uint32_t c) { csr(2, rd, c, 0); }
  void csrs(uint32_t c, unsigned rs1) { csr(2, 0, c, rs1); }
  void csrc(uint32_t c, unsigned rs1) { csr(3, 0, c, rs1); }
  void ecall() { w32(0x00000073); }
  void ebreak() { w32(0x00100073); }
  void mret() { w32(0x30200073); }
  void sret() { w32(0x10200073); }
  void wfi() { w32(0x10500073); }
  void fence_i() { w32(0x0000100f); }
  void sfence_vma(unsigned rs1 = 0, unsigned rs2 = 0) { w32(enc::r(0x09, rs2, rs1, 0, 0, 0x73)); }

 private:
  uint32_t read32(uint64_t at) const {
    size_t o = at - base_;
    return bytes_[o] | (bytes_[o + 1] << 8) | (bytes_[o + 2] << 16) | (static_cast<uint32_t>(bytes_[o + 3]) << 24);
  }
  void write32(uint64_t at, uint32_t v) {
    size_t o = at - base_;
    for (int k = 0; k < 4; ++k) bytes_[o + k] = static_cast<uint8_t>(v >> (8 * k));
  }
  static uint32_t patch_b(uint32_t w, int32_t off) {
    return enc::b(off, (w >> 20) & 31, (w >> 15) & 31, (w >> 12) & 7);
  }
  static uint32_t patch_j(uint32_t w, int32_t off) { return enc::j(off, (w >> 7) & 31); }

  uint64_t base_;
  std::vector<uint8_t> bytes_;
  std::map<std::string, uint64_t> labels_;
  std::vector<std::pair<uint64_t, std::pair<char, std::string>>> fixups_;
};

}  // namespace tandem::cpu::test
