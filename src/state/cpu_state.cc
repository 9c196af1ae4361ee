// Field list of cpu::HartState. Adding a field to HartState means adding
// it here and bumping kHartStateVersion (with a branch on the read
// version for older files); tests/unit/state/component_state_test.cc
// fails until then.
#include "state/cpu_state.h"

#include "state/field_io.h"

namespace tandem::state {

namespace {

template <typename Io, typename S>
void hart_fields(Io& io, S& s) {
  io.version(kHartStateVersion);
  io("x", s.x);
  io("f", s.f);
  io("pc", s.pc);
  io("priv", s.priv);
  io("hartid", s.hartid);
  io("instret", s.instret);
  io("mstatus", s.mstatus);
  io("medeleg", s.medeleg);
  io("mideleg", s.mideleg);
  io("mie", s.mie);
  io("mip", s.mip);
  io("mtvec", s.mtvec);
  io("mscratch", s.mscratch);
  io("mepc", s.mepc);
  io("mcause", s.mcause);
  io("mtval", s.mtval);
  io("mcounteren", s.mcounteren);
  io("mcountinhibit", s.mcountinhibit);
  io("menvcfg", s.menvcfg);
  io("stvec", s.stvec);
  io("sscratch", s.sscratch);
  io("sepc", s.sepc);
  io("scause", s.scause);
  io("stval", s.stval);
  io("scounteren", s.scounteren);
  io("senvcfg", s.senvcfg);
  io("satp", s.satp);
  io("stimecmp", s.stimecmp);
  io("fcsr", s.fcsr);
  io("pmpcfg", s.pmpcfg);
  io("pmpaddr", s.pmpaddr);
  io("reservation_addr", s.reservation_addr);
  io("reservation_value", s.reservation_value);
  io("reservation_valid", s.reservation_valid);
}

}  // namespace

void encode(Encoder& e, const cpu::HartState& s) {
  FieldWriter io(e);
  hart_fields(io, s);
}

Status decode(Decoder& d, cpu::HartState* s) {
  Decoder::Scope scope(d, "hart");
  FieldReader io(d);
  cpu::HartState out{};
  hart_fields(io, out);
  TANDEM_TRY(d.status());
  *s = out;
  return Ok();
}

}  // namespace tandem::state
