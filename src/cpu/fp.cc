// F and D instructions other than loads/stores (unprivileged spec chapters
// 11 and 12): decoding of OP-FP and the fused ops, rounding-mode
// resolution, NaN boxing, sign injection and moves; arithmetic is in fpu.cc.
#include "cpu/fpu.h"
#include "cpu/hart.h"

namespace tandem::cpu {

namespace {
constexpr uint64_t kBox = 0xffffffff00000000ull;
// Spec 12.2: a single operand that is not NaN-boxed reads as the
// canonical NaN.
inline uint32_t unbox(uint64_t v) { return (v >> 32) == 0xffffffff ? static_cast<uint32_t>(v) : fpu::kCanonicalNaN32; }
inline uint64_t box(uint32_t v) { return kBox | v; }
inline uint64_t sext32(uint32_t v) { return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v))); }
}  // namespace

// Resolves the instruction's rm field; false for the reserved encodings
// (5, 6) or a dynamic rm with an invalid frm (spec 11.2).
bool Hart::fp_rm(unsigned rm_field, unsigned* rm) {
  if (rm_field == 7) rm_field = (fcsr_ >> 5) & 7;
  if (rm_field > 4) return false;
  *rm = rm_field;
  return true;
}

bool Hart::exec_fp(const Insn& in) {
  const uint32_t raw = in.raw;
  const unsigned opcode = raw & 0x7f;
  const unsigned fmt = (raw >> 25) & 3;
  const unsigned f3 = (raw >> 12) & 7;
  const unsigned rd = in.rd, rs1 = in.rs1, rs2 = in.rs2, f5 = in.rs3;
  auto illegal = [&] {
    fault(kIllegalInsn, raw);
    return false;
  };
  if (!fs_enabled() || fmt > 1) return illegal();
  const bool dbl = fmt == 1;
  uint32_t fl = static_cast<uint32_t>(fcsr_ & 0x1f);
  const uint32_t fl_before = fl;
  unsigned rm = 0;
  // Result destinations.
  bool write_f = false, write_x = false;
  uint64_t result = 0;

  if (opcode != 0x53) {  // FMADD/FMSUB/FNMSUB/FNMADD, rs3 in bits 31:27
    if (!fp_rm(f3, &rm)) return illegal();
    const unsigned rs3 = f5;
    if (dbl) {
      const uint64_t a = f_[rs1], b = f_[rs2], c = f_[rs3];
      switch (opcode) {
        case 0x43: result = fpu::f64_madd(a, b, c, rm, fl); break;
        case 0x47: result = fpu::f64_msub(a, b, c, rm, fl); break;
        case 0x4b: result = fpu::f64_nmsub(a, b, c, rm, fl); break;
        default: result = fpu::f64_nmadd(a, b, c, rm, fl); break;
      }
    } else {
      const uint32_t a = unbox(f_[rs1]), b = unbox(f_[rs2]), c = unbox(f_[rs3]);
      uint32_t r;
      switch (opcode) {
        case 0x43: r = fpu::f32_madd(a, b, c, rm, fl); break;
        case 0x47: r = fpu::f32_msub(a, b, c, rm, fl); break;
        case 0x4b: r = fpu::f32_nmsub(a, b, c, rm, fl); break;
        default: r = fpu::f32_nmadd(a, b, c, rm, fl); break;
      }
      result = box(r);
    }
    write_f = true;
  } else if (dbl) {
    const uint64_t a = f_[rs1], b = f_[rs2];
    switch (f5) {
      case 0x00: case 0x01: case 0x02: case 0x03:
        if (!fp_rm(f3, &rm)) return illegal();
        result = f5 == 0 ? fpu::f64_add(a, b, rm, fl) : f5 == 1 ? fpu::f64_sub(a, b, rm, fl)
               : f5 == 2 ? fpu::f64_mul(a, b, rm, fl) : fpu::f64_div(a, b, rm, fl);
        write_f = true;
        break;
      case 0x0b:
        if (rs2 != 0 || !fp_rm(f3, &rm)) return illegal();
        result = fpu::f64_sqrt(a, rm, fl);
        write_f = true;
        break;
      case 0x04: {  // fsgnj.d / fsgnjn.d / fsgnjx.d
        constexpr uint64_t kSign = uint64_t{1} << 63;
        if (f3 > 2) return illegal();
        uint64_t s = f3 == 0 ? (b & kSign) : f3 == 1 ? (~b & kSign) : ((a ^ b) & kSign);
        result = (a & ~kSign) | s;
        write_f = true;
        break;
      }
      case 0x05:
        if (f3 > 1) return illegal();
        result = f3 == 0 ? fpu::f64_min(a, b, fl) : fpu::f64_max(a, b, fl);
        write_f = true;
        break;
      case 0x08:  // fcvt.d.s
        if (rs2 != 0 || !fp_rm(f3, &rm)) return illegal();
        result = fpu::f32_to_f64(unbox(a), fl);
        write_f = true;
        break;
      case 0x14:
        if (f3 > 2) return illegal();
        result = f3 == 2 ? fpu::f64_eq(a, b, fl) : f3 == 1 ? fpu::f64_lt(a, b, fl) : fpu::f64_le(a, b, fl);
        write_x = true;
        break;
      case 0x18:
        if (rs2 > 3 || !fp_rm(f3, &rm)) return illegal();
        result = rs2 == 0 ? fpu::f64_to_i32(a, rm, fl) : rs2 == 1 ? fpu::f64_to_u32(a, rm, fl)
               : rs2 == 2 ? fpu::f64_to_i64(a, rm, fl) : fpu::f64_to_u64(a, rm, fl);
        write_x = true;
        break;
      case 0x1a: {
        if (rs2 > 3 || !fp_rm(f3, &rm)) return illegal();
        const uint64_t v = x_[rs1];
        result = rs2 == 0 ? fpu::i32_to_f64(v, rm, fl) : rs2 == 1 ? fpu::u32_to_f64(v, rm, fl)
               : rs2 == 2 ? fpu::i64_to_f64(v, rm, fl) : fpu::u64_to_f64(v, rm, fl);
        write_f = true;
        break;
      }
      case 0x1c:
        if (rs2 != 0 || f3 > 1) return illegal();
        result = f3 == 0 ? a : fpu::f64_classify(a);  // fmv.x.d / fclass.d
        write_x = true;
        break;
      case 0x1e:  // fmv.d.x
        if (rs2 != 0 || f3 != 0) return illegal();
        result = x_[rs1];
        write_f = true;
        break;
      default:
        return illegal();
    }
  } else {
    const uint32_t a = unbox(f_[rs1]), b = unbox(f_[rs2]);
    switch (f5) {
      case 0x00: case 0x01: case 0x02: case 0x03: {
        if (!fp_rm(f3, &rm)) return illegal();
        uint32_t r = f5 == 0 ? fpu::f32_add(a, b, rm, fl) : f5 == 1 ? fpu::f32_sub(a, b, rm, fl)
                   : f5 == 2 ? fpu::f32_mul(a, b, rm, fl) : fpu::f32_div(a, b, rm, fl);
        result = box(r);
        write_f = true;
        break;
      }
      case 0x0b:
        if (rs2 != 0 || !fp_rm(f3, &rm)) return illegal();
        result = box(fpu::f32_sqrt(a, rm, fl));
        write_f = true;
        break;
      case 0x04: {
        constexpr uint32_t kSign = 0x80000000u;
        if (f3 > 2) return illegal();
        uint32_t s = f3 == 0 ? (b & kSign) : f3 == 1 ? (~b & kSign) : ((a ^ b) & kSign);
        result = box((a & ~kSign) | s);
        write_f = true;
        break;
      }
      case 0x05:
        if (f3 > 1) return illegal();
        result = box(f3 == 0 ? fpu::f32_min(a, b, fl) : fpu::f32_max(a, b, fl));
        write_f = true;
        break;
      case 0x08:  // fcvt.s.d
        if (rs2 != 1 || !fp_rm(f3, &rm)) return illegal();
        result = box(fpu::f64_to_f32(f_[rs1], rm, fl));
        write_f = true;
        break;
      case 0x14:
        if (f3 > 2) return illegal();
        result = f3 == 2 ? fpu::f32_eq(a, b, fl) : f3 == 1 ? fpu::f32_lt(a, b, fl) : fpu::f32_le(a, b, fl);
        write_x = true;
        break;
      case 0x18:
        if (rs2 > 3 || !fp_rm(f3, &rm)) return illegal();
        result = rs2 == 0 ? fpu::f32_to_i32(a, rm, fl) : rs2 == 1 ? fpu::f32_to_u32(a, rm, fl)
               : rs2 == 2 ? fpu::f32_to_i64(a, rm, fl) : fpu::f32_to_u64(a, rm, fl);
        write_x = true;
        break;
      case 0x1a: {
        if (rs2 > 3 || !fp_rm(f3, &rm)) return illegal();
        const uint64_t v = x_[rs1];
        uint32_t r = rs2 == 0 ? fpu::i32_to_f32(v, rm, fl) : rs2 == 1 ? fpu::u32_to_f32(v, rm, fl)
                   : rs2 == 2 ? fpu::i64_to_f32(v, rm, fl) : fpu::u64_to_f32(v, rm, fl);
        result = box(r);
        write_f = true;
        break;
      }
      case 0x1c:
        if (rs2 != 0 || f3 > 1) return illegal();
        // fmv.x.w moves the raw low bits (no unboxing); fclass.s unboxes.
        result = f3 == 0 ? sext32(static_cast<uint32_t>(f_[rs1])) : fpu::f32_classify(a);
        write_x = true;
        break;
      case 0x1e:  // fmv.w.x
        if (rs2 != 0 || f3 != 0) return illegal();
        result = box(static_cast<uint32_t>(x_[rs1]));
        write_f = true;
        break;
      default:
        return illegal();
    }
  }
  if (write_f) {
    f_[rd] = result;
    set_fs_dirty();
  } else if (write_x && rd != 0) {
    x_[rd] = result;
  }
  if (fl != fl_before) {
    fcsr_ = (fcsr_ & ~uint64_t{0x1f}) | fl;
    set_fs_dirty();
  }
  return true;
}

}  // namespace tandem::cpu
