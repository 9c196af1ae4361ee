// Instruction decoding into predecoded entries (one per guest instruction)
// that the interpreter core dispatches on. Compressed instructions decode
// to the same operations as their 32-bit expansions (unprivileged spec
// chapter 16, "RVC expansions").
#pragma once

#include <cstdint>

namespace tandem::cpu {

// The index x[kSinkReg] absorbs writes to x0, so handlers never test rd.
inline constexpr unsigned kSinkReg = 32;

// X-macro: every operation the core has a handler for.
#define TANDEM_OPS(X)                                                               \
  X(ILLEGAL) X(END) X(NOP)                                                          \
  X(LUI) X(AUIPC) X(JAL) X(JALR)                                                    \
  X(BEQ) X(BNE) X(BLT) X(BGE) X(BLTU) X(BGEU)                                       \
  X(LB) X(LH) X(LW) X(LD) X(LBU) X(LHU) X(LWU) X(SB) X(SH) X(SW) X(SD)              \
  X(ADDI) X(SLTI) X(SLTIU) X(XORI) X(ORI) X(ANDI) X(SLLI) X(SRLI) X(SRAI)           \
  X(ADD) X(SUB) X(SLL) X(SLT) X(SLTU) X(XOR) X(SRL) X(SRA) X(OR) X(AND)             \
  X(ADDIW) X(SLLIW) X(SRLIW) X(SRAIW) X(ADDW) X(SUBW) X(SLLW) X(SRLW) X(SRAW)       \
  X(MUL) X(MULH) X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU)                   \
  X(MULW) X(DIVW) X(DIVUW) X(REMW) X(REMUW)                                         \
  X(LR) X(SC) X(AMO)                                                                \
  X(FENCE) X(FENCE_I) X(ECALL) X(EBREAK) X(MRET) X(SRET) X(WFI) X(PAUSE)            \
  X(SFENCE_VMA) X(CSR)                                                              \
  X(FLW) X(FLD) X(FSW) X(FSD) X(FP)                                                 \
  X(SH1ADD) X(SH2ADD) X(SH3ADD) X(ADD_UW) X(SH1ADD_UW) X(SH2ADD_UW) X(SH3ADD_UW)    \
  X(SLLI_UW)                                                                        \
  X(ANDN) X(ORN) X(XNOR) X(CLZ) X(CLZW) X(CTZ) X(CTZW) X(CPOP) X(CPOPW)             \
  X(MAX) X(MAXU) X(MIN) X(MINU) X(SEXT_B) X(SEXT_H) X(ZEXT_H)                       \
  X(ROL) X(ROLW) X(ROR) X(RORI) X(RORIW) X(RORW) X(ORC_B) X(REV8)                   \
  X(BCLR) X(BCLRI) X(BEXT) X(BEXTI) X(BINV) X(BINVI) X(BSET) X(BSETI)

enum class Op : uint16_t {
#define TANDEM_OP_ENUM(name) name,
  TANDEM_OPS(TANDEM_OP_ENUM)
#undef TANDEM_OP_ENUM
  kCount
};

// One predecoded instruction. `off` is the byte offset from the start of
// its block, so pc-relative operations need no stored pc (a block is keyed
// by physical address and may run under several virtual addresses).
struct Insn {
  Op op;
  uint8_t rd;    // kSinkReg when the instruction's rd is x0
  uint8_t rs1;
  uint8_t rs2;
  uint8_t rs3;   // FP fused ops; for AMO: funct5
  uint8_t len;   // 2 or 4
  uint8_t sub;   // AMO/LR/SC: 4 or 8 (width); CSR: funct3
  uint16_t off;
  uint32_t raw;  // the instruction bits (mtval of an illegal instruction)
  int64_t imm;
};

// Decodes one instruction. `bits` holds 4 bytes (or 2, upper half zero,
// for a compressed instruction at a page end). Never fails: unknown
// encodings become Op::ILLEGAL. Sets in->len.
void decode(uint32_t bits, Insn* in);

// Whether the operation ends a block (changes pc or privileged state).
bool ends_block(Op op);

const char* op_name(Op op);

}  // namespace tandem::cpu
