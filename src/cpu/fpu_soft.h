// Software IEEE-754 arithmetic: the reference behind src/cpu/fpu.h.
// Internal to the cpu layer; fpu.cc calls it for what the host FPU cannot
// do (RMM, non-x86 hosts, fused ops on special operands) and the unit tests
// compare it against the host-FPU paths. Same contract as fpu.h.
#pragma once

#include <cstdint>

namespace tandem::cpu::fpu::soft {

uint32_t f32_add(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags);
uint32_t f32_sub(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags);
uint32_t f32_mul(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags);
uint32_t f32_div(uint32_t a, uint32_t b, unsigned rm, uint32_t& flags);
uint32_t f32_sqrt(uint32_t a, unsigned rm, uint32_t& flags);
// (a*b)+c with the product and/or c negated first; one rounding.
uint32_t f32_muladd(uint32_t a, uint32_t b, uint32_t c, bool negate_product,
                    bool negate_c, unsigned rm, uint32_t& flags);
uint64_t f32_to_i32(uint32_t a, unsigned rm, uint32_t& flags);
uint64_t f32_to_u32(uint32_t a, unsigned rm, uint32_t& flags);
uint64_t f32_to_i64(uint32_t a, unsigned rm, uint32_t& flags);
uint64_t f32_to_u64(uint32_t a, unsigned rm, uint32_t& flags);
uint32_t i32_to_f32(uint64_t v, unsigned rm, uint32_t& flags);
uint32_t u32_to_f32(uint64_t v, unsigned rm, uint32_t& flags);
uint32_t i64_to_f32(uint64_t v, unsigned rm, uint32_t& flags);
uint32_t u64_to_f32(uint64_t v, unsigned rm, uint32_t& flags);
uint64_t f32_to_f64(uint32_t a, uint32_t& flags);
uint32_t f64_to_f32(uint64_t a, unsigned rm, uint32_t& flags);

uint64_t f64_add(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags);
uint64_t f64_sub(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags);
uint64_t f64_mul(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags);
uint64_t f64_div(uint64_t a, uint64_t b, unsigned rm, uint32_t& flags);
uint64_t f64_sqrt(uint64_t a, unsigned rm, uint32_t& flags);
uint64_t f64_muladd(uint64_t a, uint64_t b, uint64_t c, bool negate_product,
                    bool negate_c, unsigned rm, uint32_t& flags);
uint64_t f64_to_i32(uint64_t a, unsigned rm, uint32_t& flags);
uint64_t f64_to_u32(uint64_t a, unsigned rm, uint32_t& flags);
uint64_t f64_to_i64(uint64_t a, unsigned rm, uint32_t& flags);
uint64_t f64_to_u64(uint64_t a, unsigned rm, uint32_t& flags);
uint64_t i32_to_f64(uint64_t v, unsigned rm, uint32_t& flags);
uint64_t u32_to_f64(uint64_t v, unsigned rm, uint32_t& flags);
uint64_t i64_to_f64(uint64_t v, unsigned rm, uint32_t& flags);
uint64_t u64_to_f64(uint64_t v, unsigned rm, uint32_t& flags);

}  // namespace tandem::cpu::fpu::soft
