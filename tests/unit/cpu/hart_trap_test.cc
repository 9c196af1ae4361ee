// Exceptions, delegation, interrupts, xRET and CSR behaviour.
#include <gtest/gtest.h>
#include <functional>

#include "machine.h"

namespace tandem::cpu::test {
namespace {

constexpr uint64_t kMstatusMie = 1 << 3, kMstatusMpp = 3 << 11, kMstatusFs = 3 << 13;

// Runs `body` in M-mode with the M handler installed.
struct TrapRun {
  Machine m;
  explicit TrapRun(const std::function<void(Asm&)>& body) {
    m.install_m_handler();
    Asm a(kRamBase);
    body(a);
    a.wfi();
    a.finish();
    m.load(a);
    EXPECT_EQ(m.run(), StopReason::kWfi);
  }
  uint64_t cause() const { return m.x(28); }
  uint64_t epc() const { return m.x(29); }
  uint64_t tval() const { return m.x(30); }
};

TEST(HartTrap, IllegalInstructionReportsBits) {
  TrapRun t([](Asm& a) {
    a.nop();
    a.w32(0xffffffff);
  });
  EXPECT_EQ(t.cause(), kIllegalInsn);
  EXPECT_EQ(t.epc(), kRamBase + 4);
  EXPECT_EQ(t.tval(), 0xffffffffu);
  EXPECT_EQ(t.m.hart->instret(), 1u + 4u) << "nop retired, the illegal one not, the handler's four did";
}

TEST(HartTrap, EbreakReportsPcAndEcallFromM) {
  TrapRun t([](Asm& a) { a.ebreak(); });
  EXPECT_EQ(t.cause(), kBreakpoint);
  EXPECT_EQ(t.tval(), kRamBase);
  TrapRun e([](Asm& a) {
    a.nop();
    a.ecall();
  });
  EXPECT_EQ(e.cause(), kEcallM);
  EXPECT_EQ(e.epc(), kRamBase + 4);
  EXPECT_EQ(e.tval(), 0u);
}

TEST(HartTrap, AccessFaults) {
  TrapRun ld([](Asm& a) {
    a.li(1, 0x1000);
    a.ld(2, 1, 8);
  });
  EXPECT_EQ(ld.cause(), kLoadAccessFault);
  EXPECT_EQ(ld.tval(), 0x1008u);
  TrapRun st([](Asm& a) {
    a.li(1, static_cast<int64_t>(kMmioBase + 0x800));  // the fake device refuses this half
    a.sw(0, 1, 0);
  });
  EXPECT_EQ(st.cause(), kStoreAccessFault);
  EXPECT_EQ(st.tval(), kMmioBase + 0x800);
  TrapRun fetch([](Asm& a) {
    a.li(1, static_cast<int64_t>(kMmioBase));
    a.jalr(0, 1, 0);
  });
  EXPECT_EQ(fetch.cause(), kInsnAccessFault);
  EXPECT_EQ(fetch.epc(), kMmioBase);
  EXPECT_EQ(fetch.tval(), kMmioBase);
}

TEST(HartTrap, MisalignedAmoAndLr) {
  TrapRun amo([](Asm& a) {
    a.li(1, static_cast<int64_t>(kRamBase + 0x10002));
    a.amo(0x01, 2, 3, 1, 2);  // amoswap.w
  });
  EXPECT_EQ(amo.cause(), kStoreMisaligned);
  EXPECT_EQ(amo.tval(), kRamBase + 0x10002);
  TrapRun lr([](Asm& a) {
    a.li(1, static_cast<int64_t>(kRamBase + 0x10004));
    a.amo(0x02, 3, 3, 1, 0);  // lr.d
  });
  EXPECT_EQ(lr.cause(), kLoadMisaligned);
  EXPECT_EQ(lr.tval(), kRamBase + 0x10004);
}

TEST(HartTrap, UnimplementedCsrIsIllegal) {
  TrapRun t([](Asm& a) { a.csrr(5, 0x7c0); });
  EXPECT_EQ(t.cause(), kIllegalInsn);
  EXPECT_EQ(t.tval(), enc::i(0x7c0, 0, 2, 5, 0x73));
  TrapRun ro([](Asm& a) { a.csrw(kCsrMhartid, 1); });
  EXPECT_EQ(ro.cause(), kIllegalInsn) << "writing a read-only CSR";
  TrapRun odd([](Asm& a) { a.csrr(5, kCsrPmpcfg0 + 1); });
  EXPECT_EQ(odd.cause(), kIllegalInsn) << "pmpcfg1 does not exist on RV64";
}

TEST(HartTrap, EcallFromUAndSWithAndWithoutDelegation) {
  for (unsigned priv : {0u, 1u}) {
    for (bool deleg : {false, true}) {
      Machine m;
      m.install_m_handler();
      Asm s(kRamBase + 0x2000);
      emit_s_handler(s);
      m.load(s);
      Asm a(kRamBase);
      a.li(5, kMstatusMpp);
      a.csrc(kCsrMstatus, 5);
      a.li(5, static_cast<int64_t>(priv) << 11);
      a.csrs(kCsrMstatus, 5);
      a.li(6, static_cast<int64_t>(kRamBase + 0x100));
      a.csrw(kCsrMepc, 6);
      a.li(6, static_cast<int64_t>(kRamBase + 0x2000));
      a.csrw(kCsrStvec, 6);
      a.li(6, deleg ? (1 << 8) | (1 << 9) : 0);
      a.csrw(kCsrMedeleg, 6);
      a.mret();
      m.load(a);
      Asm u(kRamBase + 0x100);
      u.nop();
      u.ecall();
      m.load(u);
      ASSERT_EQ(m.run(), StopReason::kWfi);
      const uint64_t cause = priv == 0 ? kEcallU : kEcallS;
      EXPECT_EQ(m.x(28), cause) << priv << deleg;
      EXPECT_EQ(m.x(29), kRamBase + 0x104);
      EXPECT_EQ(m.hart->priv(), deleg ? kPrivS : kPrivM);
      if (deleg) {
        uint64_t sstatus = m.csr(kCsrSstatus);
        EXPECT_EQ((sstatus >> 8) & 1, priv) << "SPP holds the previous mode";
      } else {
        EXPECT_EQ((m.csr(kCsrMstatus) >> 11) & 3, priv) << "MPP holds the previous mode";
      }
    }
  }
}

TEST(HartTrap, SretAndMretRules) {
  // sret in U is illegal; mret in S is illegal; TSR makes sret illegal in S.
  Machine m;
  m.install_m_handler();
  Asm a(kRamBase);
  a.li(5, kMstatusMpp);
  a.csrc(kCsrMstatus, 5);
  a.li(5, 1 << 11);  // MPP = S
  a.csrs(kCsrMstatus, 5);
  a.li(5, 1 << 22);  // TSR
  a.csrs(kCsrMstatus, 5);
  a.li(6, static_cast<int64_t>(kRamBase + 0x100));
  a.csrw(kCsrMepc, 6);
  a.mret();
  m.load(a);
  Asm s(kRamBase + 0x100);
  s.sret();
  m.load(s);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(28), kIllegalInsn);
  EXPECT_EQ(m.x(30), 0x10200073u);
  EXPECT_EQ((m.csr(kCsrMstatus) >> 17) & 1, 0u) << "mret to S cleared MPRV";
}

TEST(HartTrap, MretRestoresInterruptEnableAndClearsMprv) {
  Machine m;
  Asm a(kRamBase);
  a.li(5, (1 << 7) | (1 << 17) | (3 << 11));  // MPIE, MPRV, MPP=M
  a.csrs(kCsrMstatus, 5);
  a.li(6, static_cast<int64_t>(kRamBase + 0x100));
  a.csrw(kCsrMepc, 6);
  a.mret();
  m.load(a);
  Asm b(kRamBase + 0x100);
  b.csrr(7, kCsrMstatus);
  b.wfi();
  m.load(b);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  const uint64_t s = m.x(7);
  EXPECT_EQ(s & kMstatusMie, kMstatusMie);
  EXPECT_EQ((s >> 7) & 1, 1u) << "MPIE set";
  EXPECT_EQ((s >> 11) & 3, 0u) << "MPP = U";
  EXPECT_EQ((s >> 17) & 1, 1u) << "MPRV stays when returning to M";
}

TEST(HartTrap, VectoredInterruptAndPriority) {
  Machine m;
  const uint64_t table = kRamBase + 0x3000;
  Asm a(kRamBase);
  a.li(5, static_cast<int64_t>(table | 1));  // vectored
  a.csrw(kCsrMtvec, 5);
  a.li(5, (1 << 11) | (1 << 7) | (1 << 3));
  a.csrw(kCsrMie, 5);
  a.li(5, kMstatusMie);
  a.csrs(kCsrMstatus, 5);
  a.bind("spin");
  a.jal(0, "spin");
  a.finish();
  m.load(a);
  // Slot k (table + 4k) jumps to a stub at table + 0x100 + 16k that
  // records k, masks all interrupts and halts.
  Asm t(table);
  for (int k = 0; k < 16; ++k) t.jal(0, 0x100 + 12 * k);
  while (t.here() < table + 0x100) t.nop();
  for (int k = 0; k < 16; ++k) {
    t.addi(28, 0, k);
    t.csrw(kCsrMie, 0);
    t.wfi();
    t.nop();
  }
  m.load(t);
  m.hart->set_irq(7, true);   // MTI
  m.hart->set_irq(3, true);   // MSI
  m.hart->set_irq(11, true);  // MEI: highest priority
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(28), 11u);
  EXPECT_EQ(m.csr(kCsrMcause), kInterruptBit | 11);
  EXPECT_EQ(m.csr(kCsrMepc), a.label("spin"));
  // Next: MSI beats MTI.
  m.hart->set_irq(11, false);
  m.hart->reset(kRamBase);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(28), 3u);
  m.hart->set_irq(3, false);
  m.hart->reset(kRamBase);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(28), 7u);
}

TEST(HartTrap, InterruptsRespectGlobalEnableAndDelegation) {
  Machine m;
  m.install_m_handler();
  Asm a(kRamBase);
  a.li(5, 1 << 5);  // STIE
  a.csrw(kCsrMie, 5);
  a.csrw(kCsrMideleg, 5);
  a.li(5, 1 << 5);  // STIP set by M software
  a.csrs(kCsrMip, 5);
  a.nop();
  a.nop();
  a.li(5, kMstatusMie);  // M with MIE: a delegated interrupt is still not taken in M
  a.csrs(kCsrMstatus, 5);
  a.nop();
  a.li(7, 1);
  a.wfi();  // pending & enabled in mie: does not stop
  a.li(7, 2);
  // Enter S with SIE=0: delegated STI is taken only when SIE=1 in S.
  a.li(5, kMstatusMpp);
  a.csrc(kCsrMstatus, 5);
  a.li(5, 1 << 11);
  a.csrs(kCsrMstatus, 5);
  a.li(6, static_cast<int64_t>(kRamBase + 0x200));
  a.csrw(kCsrMepc, 6);
  a.li(6, static_cast<int64_t>(kRamBase + 0x2000));
  a.csrw(kCsrStvec, 6);
  a.mret();
  m.load(a);
  Asm s(kRamBase + 0x200);
  s.li(8, 1);
  s.li(5, 1 << 1);  // SIE
  s.csrs(kCsrSstatus, 5);
  s.li(8, 2);  // not reached: the interrupt is taken after the csrs block
  s.wfi();
  m.load(s);
  Asm sh(kRamBase + 0x2000);
  sh.csrr(28, kCsrScause);
  sh.csrr(29, kCsrSepc);
  sh.csrw(kCsrSie, 0);  // else the wfi below wakes on the pending STIP
  sh.wfi();
  m.load(sh);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(7), 2u) << "wfi with an interrupt pending in mie falls through";
  EXPECT_EQ(m.x(8), 1u);
  EXPECT_EQ(m.x(28), kInterruptBit | 5);
  EXPECT_EQ(m.x(29), kRamBase + 0x200 + 4 + 4 + 4) << "sepc is the instruction after csrs";
  EXPECT_EQ(m.hart->priv(), kPrivS);
}

TEST(HartTrap, WfiWithNothingPendingStopsAndTrapsWhenTw) {
  Machine m;
  Asm a(kRamBase);
  a.wfi();
  a.addi(1, 0, 1);
  a.wfi();
  m.load(a);
  EXPECT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.hart->pc(), kRamBase + 4);
  EXPECT_FALSE(m.hart->wfi_should_wake());
  m.hart->set_irq(7, true);
  EXPECT_FALSE(m.hart->wfi_should_wake()) << "MTIE is 0";
  ASSERT_TRUE(m.hart->write_csr(kCsrMie, 1 << 7));
  EXPECT_TRUE(m.hart->wfi_should_wake());
  m.hart->set_irq(7, false);
  EXPECT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(1), 1u);
}

TEST(HartTrap, BudgetAndStopRequest) {
  Machine m;
  Asm a(kRamBase);
  a.bind("l");
  a.addi(1, 1, 1);
  a.jal(0, "l");
  a.finish();
  m.load(a);
  EXPECT_EQ(m.run(1000), StopReason::kBudget);
  EXPECT_GE(m.hart->instret(), 1000u);
  EXPECT_LT(m.hart->instret(), 1100u);
  EXPECT_EQ(m.x(1) * 2, m.hart->instret()) << "instret is exact";
  m.hart->request_stop();
  EXPECT_EQ(m.run(1000), StopReason::kStopRequested);
}

TEST(HartCsr, MachineInformationAndCounters) {
  Machine m;
  EXPECT_EQ(m.csr(kCsrMisa), (uint64_t{2} << 62) | 0x14112d);
  EXPECT_EQ(m.csr(kCsrMhartid), 0u);
  EXPECT_EQ(m.csr(0xf11), 0u);
  EXPECT_EQ(m.csr(0xf15), 0u);
  EXPECT_EQ(m.csr(0xb03), 0u) << "mhpmcounter3";
  EXPECT_TRUE(m.hart->write_csr(0xb03, 5));
  EXPECT_EQ(m.csr(0xb03), 0u);
  EXPECT_TRUE(m.hart->write_csr(kCsrMisa, 0));
  EXPECT_EQ(m.csr(kCsrMisa) & 0xff, 0x2du) << "misa writes are ignored";
  m.clock.t = 12345;
  EXPECT_EQ(m.csr(kCsrTime), 12345u);
  // mstatus: UXL/SXL = 2, SD follows FS.
  EXPECT_EQ(m.csr(kCsrMstatus), (uint64_t{2} << 32) | (uint64_t{2} << 34));
  EXPECT_TRUE(m.hart->write_csr(kCsrMstatus, kMstatusFs));
  EXPECT_EQ(m.csr(kCsrMstatus) >> 63, 1u);
  EXPECT_EQ(m.csr(kCsrSstatus) >> 63, 1u);
  // PMP registers read back as written.
  EXPECT_TRUE(m.hart->write_csr(kCsrPmpaddr0, ~uint64_t{0}));
  EXPECT_EQ(m.csr(kCsrPmpaddr0), (uint64_t{1} << 54) - 1);
  EXPECT_TRUE(m.hart->write_csr(kCsrPmpcfg0 + 14, 0x1f));
  EXPECT_EQ(m.csr(kCsrPmpcfg0 + 14), 0x1fu);
  // satp: unsupported mode leaves it unchanged.
  EXPECT_TRUE(m.hart->write_csr(kCsrSatp, (uint64_t{8} << 60) | 0x80100));
  EXPECT_TRUE(m.hart->write_csr(kCsrSatp, (uint64_t{10} << 60) | 0x1));
  EXPECT_EQ(m.csr(kCsrSatp), (uint64_t{8} << 60) | 0x80100);
  // mideleg / medeleg writable masks.
  EXPECT_TRUE(m.hart->write_csr(kCsrMideleg, ~uint64_t{0}));
  EXPECT_EQ(m.csr(kCsrMideleg), 0x222u);
  EXPECT_TRUE(m.hart->write_csr(kCsrMtvec, 0x80000002));
  EXPECT_EQ(m.csr(kCsrMtvec), 0u) << "reserved mode: write ignored";
}

TEST(HartCsr, InstretCountsAndCsrWriteReplacesIncrement) {
  Machine m;
  Asm a(kRamBase);
  a.nop();
  a.nop();
  a.csrr(1, kCsrInstret);  // 2 retired before it
  a.li(5, 100);
  a.csrw(kCsrMinstret, 5);
  a.csrr(2, kCsrMinstret);  // 100: the write replaced the increment
  a.csrr(3, kCsrCycle);
  a.wfi();
  m.load(a);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(1), 2u);
  EXPECT_EQ(m.x(2), 100u);
  EXPECT_EQ(m.x(3), 101u);
  EXPECT_EQ(m.hart->instret(), 103u);
}

TEST(HartCsr, CounterEnableGatesLowerModes) {
  Machine m;
  m.install_m_handler();
  Asm a(kRamBase);
  a.li(5, kMstatusMpp);
  a.csrc(kCsrMstatus, 5);
  a.li(5, 1 << 11);
  a.csrs(kCsrMstatus, 5);
  a.li(5, 1);  // mcounteren.CY only
  a.csrw(kCsrMcounteren, 5);
  a.li(6, static_cast<int64_t>(kRamBase + 0x100));
  a.csrw(kCsrMepc, 6);
  a.mret();
  m.load(a);
  Asm s(kRamBase + 0x100);
  s.csrr(7, kCsrCycle);
  s.csrr(8, kCsrTime);  // TM clear: illegal
  m.load(s);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(28), kIllegalInsn);
  EXPECT_EQ(m.x(29), kRamBase + 0x104);
}

TEST(HartCsr, SstcDrivesStip) {
  Machine m;
  const uint64_t kStce = uint64_t{1} << 63;
  ASSERT_TRUE(m.hart->write_csr(kCsrMenvcfg, kStce));
  ASSERT_TRUE(m.hart->write_csr(kCsrStimecmp, 1000));
  EXPECT_EQ(m.hart->stimecmp_deadline(), 1000u);
  m.clock.t = 999;
  EXPECT_EQ(m.csr(kCsrMip) & (1 << 5), 0u);
  m.clock.t = 1000;
  EXPECT_EQ(m.csr(kCsrMip) & (1 << 5), 1u << 5);
  ASSERT_TRUE(m.hart->write_csr(kCsrMip, 0));
  EXPECT_EQ(m.csr(kCsrMip) & (1 << 5), 1u << 5) << "STIP is read-only under Sstc";
  ASSERT_TRUE(m.hart->write_csr(kCsrMie, 1 << 5));
  EXPECT_TRUE(m.hart->wfi_should_wake());
  ASSERT_TRUE(m.hart->write_csr(kCsrMenvcfg, 0));
  EXPECT_EQ(m.hart->stimecmp_deadline(), UINT64_MAX);
  EXPECT_EQ(m.csr(kCsrMip) & (1 << 5), 0u);
}

}  // namespace
}  // namespace tandem::cpu::test

namespace tandem::cpu::test {
namespace {

TEST(HartTrap, FaultingTrapVectorStillReturnsFromRun) {
  Machine m;  // mtvec = 0: no memory there, so every trap faults again
  m.hart->set_pc(0x1000);
  EXPECT_EQ(m.run(1000), StopReason::kBudget);
  EXPECT_EQ(m.csr(kCsrMcause), kInsnAccessFault);
  EXPECT_EQ(m.hart->instret(), 0u);
}

}  // namespace
}  // namespace tandem::cpu::test

namespace tandem::cpu::test {
namespace {

// Runs one instruction in S-mode with mstatus bits `extra` set; returns
// the M handler's mcause (or ~0 if the instruction did not trap).
uint64_t run_in_s(uint32_t insn, uint64_t extra) {
  Machine m;
  m.install_m_handler();
  Asm a(kRamBase);
  a.li(5, (1 << 11) | static_cast<int64_t>(extra));  // MPP = S
  a.csrs(kCsrMstatus, 5);
  a.li(6, static_cast<int64_t>(kRamBase + 0x100));
  a.csrw(kCsrMepc, 6);
  a.mret();
  m.load(a);
  Asm s(kRamBase + 0x100);
  s.w32(insn);
  s.li(28, -1);
  s.ecall();
  m.load(s);
  EXPECT_EQ(m.run(), StopReason::kWfi);
  return m.x(28) == kEcallS ? ~uint64_t{0} : m.x(28);
}

TEST(HartTrap, TvmAndTwTrapSupervisorInstructions) {
  constexpr uint64_t kTvm = 1 << 20, kTw = 1 << 21;
  const uint32_t csrr_satp = enc::i(kCsrSatp, 0, 2, 5, 0x73);
  const uint32_t sfence = enc::r(0x09, 0, 0, 0, 0, 0x73);
  const uint32_t wfi = 0x10500073;
  EXPECT_EQ(run_in_s(csrr_satp, 0), ~uint64_t{0});
  EXPECT_EQ(run_in_s(csrr_satp, kTvm), kIllegalInsn);
  EXPECT_EQ(run_in_s(sfence, 0), ~uint64_t{0});
  EXPECT_EQ(run_in_s(sfence, kTvm), kIllegalInsn);
  EXPECT_EQ(run_in_s(wfi, kTw), kIllegalInsn);
}

TEST(HartTrap, VectoredStvecForDelegatedInterrupt) {
  Machine m;
  const uint64_t table = kRamBase + 0x3000;
  Asm a(kRamBase);
  a.li(5, 1 << 1);  // SSIP, delegated
  a.csrw(kCsrMideleg, 5);
  a.csrw(kCsrMie, 5);
  a.li(6, static_cast<int64_t>(table | 1));
  a.csrw(kCsrStvec, 6);
  a.li(5, (1 << 11) | (1 << 5));  // MPP = S, SPIE
  a.csrs(kCsrMstatus, 5);
  a.li(6, static_cast<int64_t>(kRamBase + 0x100));
  a.csrw(kCsrMepc, 6);
  a.mret();
  m.load(a);
  Asm s(kRamBase + 0x100);
  s.li(5, 1 << 1);
  s.csrs(kCsrSstatus, 5);  // SIE
  s.csrs(kCsrSip, 5);      // raise SSIP from S itself
  s.bind("spin");
  s.jal(0, "spin");
  s.finish();
  m.load(s);
  Asm t(table + 4 * 1);  // slot of cause 1
  t.csrr(28, kCsrScause);
  t.csrw(kCsrSie, 0);
  t.wfi();
  m.load(t);
  ASSERT_EQ(m.run(), StopReason::kWfi);
  EXPECT_EQ(m.x(28), kInterruptBit | 1);
  EXPECT_EQ(m.hart->priv(), kPrivS);
}

}  // namespace
}  // namespace tandem::cpu::test
