#include "cpu/decode.h"

namespace tandem::cpu {

namespace {

inline uint32_t bits(uint32_t v, unsigned hi, unsigned lo) { return (v >> lo) & ((1u << (hi - lo + 1)) - 1); }
inline uint32_t bit(uint32_t v, unsigned b) { return (v >> b) & 1; }
inline int64_t sext(uint64_t v, unsigned width) {
  return static_cast<int64_t>(v << (64 - width)) >> (64 - width);
}
inline uint8_t xd(uint32_t r) { return r == 0 ? kSinkReg : static_cast<uint8_t>(r); }

void set(Insn* in, Op op, unsigned rd, unsigned rs1, unsigned rs2, int64_t imm) {
  in->op = op;
  in->rd = xd(rd);
  in->rs1 = static_cast<uint8_t>(rs1);
  in->rs2 = static_cast<uint8_t>(rs2);
  in->imm = imm;
}

// Unprivileged spec chapter 24 (RV32/64G instruction listings) plus the
// Zba/Zbb/Zbs encodings of the bit-manipulation spec 1.0.
void decode32(uint32_t r, Insn* in) {
  const unsigned rd = bits(r, 11, 7), rs1 = bits(r, 19, 15), rs2 = bits(r, 24, 20);
  const unsigned f3 = bits(r, 14, 12), f7 = bits(r, 31, 25);
  const int64_t imm_i = sext(r >> 20, 12);
  const int64_t imm_s = sext((bits(r, 31, 25) << 5) | bits(r, 11, 7), 12);
  const int64_t imm_b = sext((bit(r, 31) << 12) | (bit(r, 7) << 11) | (bits(r, 30, 25) << 5) |
                                 (bits(r, 11, 8) << 1), 13);
  const int64_t imm_u = static_cast<int32_t>(r & 0xfffff000u);
  const int64_t imm_j = sext((bit(r, 31) << 20) | (bits(r, 19, 12) << 12) | (bit(r, 20) << 11) |
                                 (bits(r, 30, 21) << 1), 21);
  in->op = Op::ILLEGAL;
  switch (r & 0x7f) {
    case 0x37: set(in, Op::LUI, rd, 0, 0, imm_u); return;
    case 0x17: set(in, Op::AUIPC, rd, 0, 0, imm_u); return;
    case 0x6f: set(in, Op::JAL, rd, 0, 0, imm_j); return;
    case 0x67:
      if (f3 == 0) set(in, Op::JALR, rd, rs1, 0, imm_i);
      return;
    case 0x63: {
      static constexpr Op kBr[8] = {Op::BEQ, Op::BNE, Op::ILLEGAL, Op::ILLEGAL,
                                    Op::BLT, Op::BGE, Op::BLTU, Op::BGEU};
      if (kBr[f3] != Op::ILLEGAL) set(in, kBr[f3], 0, rs1, rs2, imm_b);
      return;
    }
    case 0x03: {
      static constexpr Op kLd[8] = {Op::LB, Op::LH, Op::LW, Op::LD, Op::LBU, Op::LHU, Op::LWU, Op::ILLEGAL};
      if (kLd[f3] != Op::ILLEGAL) set(in, kLd[f3], rd, rs1, 0, imm_i);
      return;
    }
    case 0x23: {
      static constexpr Op kSt[4] = {Op::SB, Op::SH, Op::SW, Op::SD};
      if (f3 < 4) set(in, kSt[f3], 0, rs1, rs2, imm_s);
      return;
    }
    case 0x13: {
      const unsigned f6 = bits(r, 31, 26);
      const int64_t sh = bits(r, 25, 20);
      const unsigned imm12 = bits(r, 31, 20);
      switch (f3) {
        case 0: set(in, Op::ADDI, rd, rs1, 0, imm_i); return;
        case 2: set(in, Op::SLTI, rd, rs1, 0, imm_i); return;
        case 3: set(in, Op::SLTIU, rd, rs1, 0, imm_i); return;
        case 4: set(in, Op::XORI, rd, rs1, 0, imm_i); return;
        case 6: set(in, Op::ORI, rd, rs1, 0, imm_i); return;
        case 7: set(in, Op::ANDI, rd, rs1, 0, imm_i); return;
        case 1:
          if (f6 == 0x00) set(in, Op::SLLI, rd, rs1, 0, sh);
          else if (f6 == 0x12) set(in, Op::BCLRI, rd, rs1, 0, sh);
          else if (f6 == 0x1a) set(in, Op::BINVI, rd, rs1, 0, sh);
          else if (f6 == 0x0a) set(in, Op::BSETI, rd, rs1, 0, sh);
          else if (imm12 == 0x600) set(in, Op::CLZ, rd, rs1, 0, 0);
          else if (imm12 == 0x601) set(in, Op::CTZ, rd, rs1, 0, 0);
          else if (imm12 == 0x602) set(in, Op::CPOP, rd, rs1, 0, 0);
          else if (imm12 == 0x604) set(in, Op::SEXT_B, rd, rs1, 0, 0);
          else if (imm12 == 0x605) set(in, Op::SEXT_H, rd, rs1, 0, 0);
          return;
        case 5:
          if (f6 == 0x00) set(in, Op::SRLI, rd, rs1, 0, sh);
          else if (f6 == 0x10) set(in, Op::SRAI, rd, rs1, 0, sh);
          else if (f6 == 0x18) set(in, Op::RORI, rd, rs1, 0, sh);
          else if (f6 == 0x12) set(in, Op::BEXTI, rd, rs1, 0, sh);
          else if (imm12 == 0x287) set(in, Op::ORC_B, rd, rs1, 0, 0);
          else if (imm12 == 0x6b8) set(in, Op::REV8, rd, rs1, 0, 0);
          return;
      }
      return;
    }
    case 0x1b: {
      const int64_t sh = bits(r, 24, 20);
      if (f3 == 0) {
        set(in, Op::ADDIW, rd, rs1, 0, imm_i);
      } else if (f3 == 1) {
        if (f7 == 0x00) set(in, Op::SLLIW, rd, rs1, 0, sh);
        else if (bits(r, 31, 26) == 0x02) set(in, Op::SLLI_UW, rd, rs1, 0, bits(r, 25, 20));
        else if (f7 == 0x30 && rs2 == 0) set(in, Op::CLZW, rd, rs1, 0, 0);
        else if (f7 == 0x30 && rs2 == 1) set(in, Op::CTZW, rd, rs1, 0, 0);
        else if (f7 == 0x30 && rs2 == 2) set(in, Op::CPOPW, rd, rs1, 0, 0);
      } else if (f3 == 5) {
        if (f7 == 0x00) set(in, Op::SRLIW, rd, rs1, 0, sh);
        else if (f7 == 0x20) set(in, Op::SRAIW, rd, rs1, 0, sh);
        else if (f7 == 0x30) set(in, Op::RORIW, rd, rs1, 0, sh);
      }
      return;
    }
    case 0x33: {
      Op op = Op::ILLEGAL;
      switch (f7) {
        case 0x00: {
          static constexpr Op k[8] = {Op::ADD, Op::SLL, Op::SLT, Op::SLTU, Op::XOR, Op::SRL, Op::OR, Op::AND};
          op = k[f3];
          break;
        }
        case 0x20:
          op = f3 == 0 ? Op::SUB : f3 == 5 ? Op::SRA : f3 == 7 ? Op::ANDN : f3 == 6 ? Op::ORN
             : f3 == 4 ? Op::XNOR : Op::ILLEGAL;
          break;
        case 0x01: {
          static constexpr Op k[8] = {Op::MUL, Op::MULH, Op::MULHSU, Op::MULHU,
                                      Op::DIV, Op::DIVU, Op::REM, Op::REMU};
          op = k[f3];
          break;
        }
        case 0x10:
          op = f3 == 2 ? Op::SH1ADD : f3 == 4 ? Op::SH2ADD : f3 == 6 ? Op::SH3ADD : Op::ILLEGAL;
          break;
        case 0x05:
          op = f3 == 4 ? Op::MIN : f3 == 5 ? Op::MINU : f3 == 6 ? Op::MAX : f3 == 7 ? Op::MAXU : Op::ILLEGAL;
          break;
        case 0x30: op = f3 == 1 ? Op::ROL : f3 == 5 ? Op::ROR : Op::ILLEGAL; break;
        case 0x24: op = f3 == 1 ? Op::BCLR : f3 == 5 ? Op::BEXT : Op::ILLEGAL; break;
        case 0x34: op = f3 == 1 ? Op::BINV : Op::ILLEGAL; break;
        case 0x14: op = f3 == 1 ? Op::BSET : Op::ILLEGAL; break;
      }
      if (op != Op::ILLEGAL) set(in, op, rd, rs1, rs2, 0);
      return;
    }
    case 0x3b: {
      Op op = Op::ILLEGAL;
      switch (f7) {
        case 0x00: op = f3 == 0 ? Op::ADDW : f3 == 1 ? Op::SLLW : f3 == 5 ? Op::SRLW : Op::ILLEGAL; break;
        case 0x20: op = f3 == 0 ? Op::SUBW : f3 == 5 ? Op::SRAW : Op::ILLEGAL; break;
        case 0x01:
          op = f3 == 0 ? Op::MULW : f3 == 4 ? Op::DIVW : f3 == 5 ? Op::DIVUW : f3 == 6 ? Op::REMW
             : f3 == 7 ? Op::REMUW : Op::ILLEGAL;
          break;
        case 0x04:
          op = f3 == 0 ? Op::ADD_UW : (f3 == 4 && rs2 == 0) ? Op::ZEXT_H : Op::ILLEGAL;
          break;
        case 0x10:
          op = f3 == 2 ? Op::SH1ADD_UW : f3 == 4 ? Op::SH2ADD_UW : f3 == 6 ? Op::SH3ADD_UW : Op::ILLEGAL;
          break;
        case 0x30: op = f3 == 1 ? Op::ROLW : f3 == 5 ? Op::RORW : Op::ILLEGAL; break;
      }
      if (op != Op::ILLEGAL) set(in, op, rd, rs1, rs2, 0);
      return;
    }
    case 0x2f: {
      if (f3 != 2 && f3 != 3) return;
      const unsigned f5 = bits(r, 31, 27);
      in->sub = f3 == 2 ? 4 : 8;
      in->rs3 = static_cast<uint8_t>(f5);
      if (f5 == 0x02) {
        if (rs2 == 0) set(in, Op::LR, rd, rs1, 0, 0);
      } else if (f5 == 0x03) {
        set(in, Op::SC, rd, rs1, rs2, 0);
      } else if (f5 == 0x00 || f5 == 0x01 || f5 == 0x04 || f5 == 0x08 || f5 == 0x0c || f5 == 0x10 ||
                 f5 == 0x14 || f5 == 0x18 || f5 == 0x1c) {
        set(in, Op::AMO, rd, rs1, rs2, 0);
      }
      return;
    }
    case 0x0f:
      // Zihintpause's PAUSE is the FENCE with pred=W and succ=0 (a hint).
      if (r == 0x0100000f) set(in, Op::PAUSE, 0, 0, 0, 0);
      else if (f3 == 0) set(in, Op::FENCE, 0, 0, 0, 0);
      else if (f3 == 1) set(in, Op::FENCE_I, 0, 0, 0, 0);
      return;
    case 0x73:
      if (f3 == 0) {
        if (r == 0x00000073) set(in, Op::ECALL, 0, 0, 0, 0);
        else if (r == 0x00100073) set(in, Op::EBREAK, 0, 0, 0, 0);
        else if (r == 0x30200073) set(in, Op::MRET, 0, 0, 0, 0);
        else if (r == 0x10200073) set(in, Op::SRET, 0, 0, 0, 0);
        else if (r == 0x10500073) set(in, Op::WFI, 0, 0, 0, 0);
        else if (f7 == 0x09 && rd == 0) set(in, Op::SFENCE_VMA, 0, rs1, rs2, 0);
      } else if (f3 != 4) {
        set(in, Op::CSR, rd, rs1, 0, bits(r, 31, 20));
        in->sub = static_cast<uint8_t>(f3);
      }
      return;
    case 0x07:
      if (f3 == 2 || f3 == 3) {
        set(in, f3 == 2 ? Op::FLW : Op::FLD, 0, rs1, 0, imm_i);
        in->rd = static_cast<uint8_t>(rd);  // an f register: f0 is real
      }
      return;
    case 0x27:
      if (f3 == 2 || f3 == 3) set(in, f3 == 2 ? Op::FSW : Op::FSD, 0, rs1, rs2, imm_s);
      return;
    case 0x43: case 0x47: case 0x4b: case 0x4f: case 0x53:
      // Validated and executed by the FP unit's slow path; rd stays raw
      // because it names an f or an x register depending on the operation.
      set(in, Op::FP, 0, rs1, rs2, 0);
      in->rd = static_cast<uint8_t>(rd);
      in->rs3 = static_cast<uint8_t>(bits(r, 31, 27));
      return;
  }
}

// Unprivileged spec chapter 16, tables 16.5-16.7 (RV64C).
void decode16(uint32_t c, Insn* in) {
  const unsigned f3 = bits(c, 15, 13);
  const unsigned rdp = 8 + bits(c, 4, 2), rs1p = 8 + bits(c, 9, 7);
  const unsigned rd = bits(c, 11, 7), rs2 = bits(c, 6, 2);
  const int64_t imm6 = sext((bit(c, 12) << 5) | bits(c, 6, 2), 6);
  in->op = Op::ILLEGAL;
  switch (((c & 3) << 3) | f3) {
    // Quadrant 0
    case 0x00: {
      uint32_t nz = (bits(c, 12, 11) << 4) | (bits(c, 10, 7) << 6) | (bit(c, 6) << 2) | (bit(c, 5) << 3);
      if (nz) set(in, Op::ADDI, rdp, 2, 0, nz);
      return;
    }
    case 0x01: {
      uint32_t u = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
      set(in, Op::FLD, 0, rs1p, 0, u);
      in->rd = static_cast<uint8_t>(rdp);
      return;
    }
    case 0x02: {
      uint32_t u = (bits(c, 12, 10) << 3) | (bit(c, 6) << 2) | (bit(c, 5) << 6);
      set(in, Op::LW, rdp, rs1p, 0, u);
      return;
    }
    case 0x03: {
      uint32_t u = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
      set(in, Op::LD, rdp, rs1p, 0, u);
      return;
    }
    case 0x05: {
      uint32_t u = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
      set(in, Op::FSD, 0, rs1p, rdp, u);
      return;
    }
    case 0x06: {
      uint32_t u = (bits(c, 12, 10) << 3) | (bit(c, 6) << 2) | (bit(c, 5) << 6);
      set(in, Op::SW, 0, rs1p, rdp, u);
      return;
    }
    case 0x07: {
      uint32_t u = (bits(c, 12, 10) << 3) | (bits(c, 6, 5) << 6);
      set(in, Op::SD, 0, rs1p, rdp, u);
      return;
    }
    // Quadrant 1
    case 0x08: set(in, rd ? Op::ADDI : Op::NOP, rd, rd, 0, imm6); return;
    case 0x09:
      if (rd) set(in, Op::ADDIW, rd, rd, 0, imm6);
      return;
    case 0x0a: set(in, Op::ADDI, rd, 0, 0, imm6); return;
    case 0x0b:
      if (rd == 2) {
        int64_t nz = sext((bit(c, 12) << 9) | (bit(c, 6) << 4) | (bit(c, 5) << 6) | (bits(c, 4, 3) << 7) |
                              (bit(c, 2) << 5), 10);
        if (nz) set(in, Op::ADDI, 2, 2, 0, nz);
      } else if (imm6) {
        set(in, Op::LUI, rd, 0, 0, imm6 << 12);
      }
      return;
    case 0x0c: {
      const unsigned sh = (bit(c, 12) << 5) | bits(c, 6, 2);
      switch (bits(c, 11, 10)) {
        case 0: set(in, Op::SRLI, rs1p, rs1p, 0, sh); return;
        case 1: set(in, Op::SRAI, rs1p, rs1p, 0, sh); return;
        case 2: set(in, Op::ANDI, rs1p, rs1p, 0, imm6); return;
        case 3: {
          static constexpr Op k[8] = {Op::SUB, Op::XOR, Op::OR, Op::AND, Op::SUBW, Op::ADDW, Op::ILLEGAL, Op::ILLEGAL};
          Op op = k[(bit(c, 12) << 2) | bits(c, 6, 5)];
          if (op != Op::ILLEGAL) set(in, op, rs1p, rs1p, rdp, 0);
          return;
        }
      }
      return;
    }
    case 0x0d: {
      int64_t j = sext((bit(c, 12) << 11) | (bit(c, 11) << 4) | (bits(c, 10, 9) << 8) | (bit(c, 8) << 10) |
                           (bit(c, 7) << 6) | (bit(c, 6) << 7) | (bits(c, 5, 3) << 1) | (bit(c, 2) << 5), 12);
      set(in, Op::JAL, 0, 0, 0, j);
      return;
    }
    case 0x0e: case 0x0f: {
      int64_t b = sext((bit(c, 12) << 8) | (bits(c, 11, 10) << 3) | (bits(c, 6, 5) << 6) |
                           (bits(c, 4, 3) << 1) | (bit(c, 2) << 5), 9);
      set(in, f3 == 6 ? Op::BEQ : Op::BNE, 0, rs1p, 0, b);
      return;
    }
    // Quadrant 2
    case 0x10: set(in, rd ? Op::SLLI : Op::NOP, rd, rd, 0, (bit(c, 12) << 5) | bits(c, 6, 2)); return;
    case 0x11: {
      uint32_t u = (bit(c, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6);
      set(in, Op::FLD, 0, 2, 0, u);
      in->rd = static_cast<uint8_t>(rd);
      return;
    }
    case 0x12:
      if (rd) set(in, Op::LW, rd, 2, 0, (bit(c, 12) << 5) | (bits(c, 6, 4) << 2) | (bits(c, 3, 2) << 6));
      return;
    case 0x13:
      if (rd) set(in, Op::LD, rd, 2, 0, (bit(c, 12) << 5) | (bits(c, 6, 5) << 3) | (bits(c, 4, 2) << 6));
      return;
    case 0x14:
      if (!bit(c, 12)) {
        if (rs2 == 0) {
          if (rd) set(in, Op::JALR, 0, rd, 0, 0);
        } else {
          set(in, rd ? Op::ADD : Op::NOP, rd, 0, rs2, 0);
        }
      } else {
        if (rd == 0 && rs2 == 0) set(in, Op::EBREAK, 0, 0, 0, 0);
        else if (rs2 == 0) set(in, Op::JALR, 1, rd, 0, 0);
        else set(in, rd ? Op::ADD : Op::NOP, rd, rd, rs2, 0);
      }
      return;
    case 0x15:
      set(in, Op::FSD, 0, 2, rs2, (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6));
      return;
    case 0x16:
      set(in, Op::SW, 0, 2, rs2, (bits(c, 12, 9) << 2) | (bits(c, 8, 7) << 6));
      return;
    case 0x17:
      set(in, Op::SD, 0, 2, rs2, (bits(c, 12, 10) << 3) | (bits(c, 9, 7) << 6));
      return;
  }
}

}  // namespace

void decode(uint32_t raw, Insn* in) {
  in->rd = kSinkReg;
  in->rs1 = in->rs2 = in->rs3 = 0;
  in->sub = 0;
  in->imm = 0;
  if ((raw & 3) == 3) {
    in->len = 4;
    in->raw = raw;
    decode32(raw, in);
  } else {
    in->len = 2;
    in->raw = raw & 0xffff;
    decode16(raw & 0xffff, in);
  }
}

bool ends_block(Op op) {
  switch (op) {
    case Op::ILLEGAL: case Op::END: case Op::JAL: case Op::JALR:
    case Op::BEQ: case Op::BNE: case Op::BLT: case Op::BGE: case Op::BLTU: case Op::BGEU:
    case Op::FENCE_I: case Op::ECALL: case Op::EBREAK: case Op::MRET: case Op::SRET:
    case Op::WFI: case Op::PAUSE: case Op::SFENCE_VMA: case Op::CSR:
      return true;
    default:
      return false;
  }
}

const char* op_name(Op op) {
  static const char* const kNames[] = {
#define TANDEM_OP_NAME(name) #name,
      TANDEM_OPS(TANDEM_OP_NAME)
#undef TANDEM_OP_NAME
  };
  return static_cast<unsigned>(op) < static_cast<unsigned>(Op::kCount) ? kNames[static_cast<unsigned>(op)] : "?";
}

}  // namespace tandem::cpu
