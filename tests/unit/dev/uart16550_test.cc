#include "dev/uart16550.h"

#include <gtest/gtest.h>

#include <string>

#include "dev_test_util.h"

namespace tandem::dev {
namespace {

using testing::IrqRecorder;
using testing::rd;
using testing::wr;

constexpr unsigned kIrq = 10;

struct StringSink : CharSink {
  void write(const uint8_t* data, size_t len) override { out.append(reinterpret_cast<const char*>(data), len); }
  std::string out;
};

struct UartTest : ::testing::Test {
  StringSink sink;
  IrqRecorder plic;
  Uart16550 uart{&sink, IrqLine(&plic, kIrq)};
  uint8_t r(unsigned reg) { return static_cast<uint8_t>(rd(uart, reg, 1)); }
  void w(unsigned reg, uint8_t v) { wr(uart, reg, v, 1); }
};

TEST_F(UartTest, ResetState) {
  EXPECT_EQ(r(kUartLsr), kLsrThre | kLsrTemt);
  EXPECT_EQ(r(kUartIir), kIirNoInt);
  EXPECT_EQ(r(kUartMsr), kMsrCts | kMsrDsr | kMsrDcd);
  EXPECT_FALSE(plic.level(kIrq));
  EXPECT_TRUE(uart.can_accept_input());
}

TEST_F(UartTest, TransmitReachesTheSinkAndThrStaysEmpty) {
  for (char c : std::string("hi\n")) w(kUartThr, static_cast<uint8_t>(c));
  EXPECT_EQ(sink.out, "hi\n");
  EXPECT_EQ(r(kUartLsr) & (kLsrThre | kLsrTemt), kLsrThre | kLsrTemt);
  EXPECT_FALSE(plic.level(kIrq)) << "THRE interrupt is disabled";
}

// The sequence of Linux's serial8250_do_startup THRE test.
TEST_F(UartTest, ThreInterruptIsReassertedWhenReenabled) {
  w(kUartIer, kIerThri);
  EXPECT_TRUE(plic.level(kIrq));
  EXPECT_EQ(r(kUartIir), kIirThri) << "enabling THRI with THR empty interrupts";
  EXPECT_FALSE(plic.level(kIrq)) << "reading IIR clears the THRE interrupt";
  EXPECT_EQ(r(kUartIir), kIirNoInt);
  w(kUartIer, 0);
  w(kUartIer, kIerThri);
  EXPECT_EQ(r(kUartIir), kIirThri) << "re-enabling raises it again";
  EXPECT_FALSE(plic.level(kIrq));
  // Every transmitted byte empties THR again.
  w(kUartThr, 'x');
  EXPECT_TRUE(plic.level(kIrq));
  EXPECT_EQ(r(kUartIir), kIirThri);
  // Disabling the interrupt lowers the line.
  w(kUartThr, 'y');
  EXPECT_TRUE(plic.level(kIrq));
  w(kUartIer, 0);
  EXPECT_FALSE(plic.level(kIrq));
}

TEST_F(UartTest, ReceiveWithoutFifoHoldsOneByte) {
  w(kUartIer, kIerRdi);
  EXPECT_TRUE(uart.push_input('a'));
  EXPECT_FALSE(uart.can_accept_input());
  EXPECT_FALSE(uart.push_input('b')) << "the caller keeps the byte";
  EXPECT_TRUE(plic.level(kIrq));
  EXPECT_EQ(r(kUartIir), kIirRdi);
  EXPECT_EQ(r(kUartLsr) & kLsrDr, kLsrDr);
  EXPECT_EQ(r(kUartRbr), 'a');
  EXPECT_FALSE(plic.level(kIrq));
  EXPECT_EQ(r(kUartLsr) & kLsrDr, 0);
  EXPECT_TRUE(uart.push_input('b'));
  EXPECT_EQ(r(kUartRbr), 'b');
}

TEST_F(UartTest, FifoModeTriggerLevelAndTimeout) {
  w(kUartFcr, kFcrEnable | kFcrClearRx | kFcrClearTx | 0x80);  // trigger level 8
  w(kUartIer, kIerRdi);
  EXPECT_EQ(r(kUartIir), kIirFifoEnabled | kIirNoInt);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(uart.push_input(static_cast<uint8_t>('0' + i)));
  EXPECT_TRUE(plic.level(kIrq));
  EXPECT_EQ(r(kUartIir), kIirFifoEnabled | kIirTimeout) << "below the trigger: character timeout";
  for (int i = 3; i < 8; i++) ASSERT_TRUE(uart.push_input(static_cast<uint8_t>('0' + i)));
  EXPECT_EQ(r(kUartIir), kIirFifoEnabled | kIirRdi);
  for (int i = 8; i < 16; i++) ASSERT_TRUE(uart.push_input(static_cast<uint8_t>('a' + i)));
  EXPECT_FALSE(uart.can_accept_input());
  EXPECT_FALSE(uart.push_input('!')) << "16-byte FIFO full";
  std::string got;
  while (r(kUartLsr) & kLsrDr) got.push_back(static_cast<char>(r(kUartRbr)));
  EXPECT_EQ(got, "01234567ijklmnop");
  EXPECT_FALSE(plic.level(kIrq));
  // Clearing the receive FIFO drops what it holds (for the guest; the
  // host input comes back, below).
  uart.push_input('z');
  w(kUartFcr, kFcrEnable | kFcrClearRx);
  EXPECT_EQ(r(kUartLsr) & kLsrDr, 0);
}

// Linux's 8250 startup: FIFO off, receive interrupt on, then the FIFO on,
// which resets it. A byte delivered in between is lost to the guest, as
// on a 16550, but given back to the board to deliver again.
TEST_F(UartTest, FifoResetGivesUnreadHostInputBack) {
  w(kUartFcr, 0);
  w(kUartIer, kIerRdi | kIerRlsi);
  ASSERT_TRUE(uart.push_input('k'));
  w(kUartFcr, kFcrEnable);
  EXPECT_EQ(r(kUartLsr) & kLsrDr, 0) << "the reset empties the receiver";
  EXPECT_FALSE(plic.level(kIrq));
  EXPECT_EQ(uart.take_unread_input(), std::vector<uint8_t>{'k'});
  EXPECT_TRUE(uart.take_unread_input().empty()) << "taken once";
  // Bytes the guest read are its own; only the unread rest comes back.
  for (char c : std::string("abc")) ASSERT_TRUE(uart.push_input(static_cast<uint8_t>(c)));
  EXPECT_EQ(r(kUartRbr), 'a');
  w(kUartFcr, kFcrEnable | kFcrClearRx);
  EXPECT_EQ(uart.take_unread_input(), (std::vector<uint8_t>{'b', 'c'}));
  // Loopback bytes are the guest's own output, not input.
  w(kUartMcr, kMcrLoop);
  w(kUartThr, 'x');
  w(kUartFcr, 0);
  EXPECT_TRUE(uart.take_unread_input().empty());
}

TEST_F(UartTest, InterruptPriorities) {
  w(kUartMcr, kMcrLoop);  // loopback lets the test overrun the receiver
  w(kUartIer, kIerRdi | kIerThri | kIerRlsi);
  EXPECT_EQ(r(kUartIir), kIirThri);
  w(kUartThr, 'a');  // into the (one-byte) receive holding register
  EXPECT_EQ(r(kUartIir), kIirRdi) << "received data outranks THRE";
  w(kUartThr, 'b');  // overrun
  EXPECT_EQ(r(kUartIir), kIirRls) << "line status outranks everything";
  EXPECT_EQ(r(kUartLsr) & kLsrOe, kLsrOe);
  EXPECT_EQ(r(kUartIir), kIirRdi) << "reading LSR cleared the error";
  EXPECT_EQ(r(kUartRbr), 'a');
  EXPECT_EQ(r(kUartIir), kIirThri);
  EXPECT_EQ(r(kUartIir), kIirNoInt);
  EXPECT_EQ(sink.out, "") << "loopback keeps bytes off the wire";
}

TEST_F(UartTest, LoopbackModemLines) {
  w(kUartMcr, kMcrLoop | kMcrRts | kMcrOut2);
  EXPECT_EQ(r(kUartMsr), kMsrCts | kMsrDcd | 0x02) << "CTS/DCD follow RTS/OUT2; DSR dropped (delta)";
  EXPECT_EQ(r(kUartMsr), kMsrCts | kMsrDcd) << "deltas clear on read";
  EXPECT_FALSE(uart.can_accept_input()) << "host input is cut off in loopback";
  w(kUartIer, kIerMsi);
  w(kUartMcr, kMcrLoop);
  EXPECT_EQ(r(kUartIir), kIirMsi);
}

TEST_F(UartTest, DivisorLatchAndScratch) {
  w(kUartLcr, kLcrDlab | 0x03);
  w(kUartDll, 0x0c);
  w(kUartDlm, 0x01);
  EXPECT_EQ(r(kUartDll), 0x0c);
  EXPECT_EQ(r(kUartDlm), 0x01);
  w(kUartLcr, 0x03);
  EXPECT_EQ(r(kUartIer), 0) << "IER is separate from DLM";
  EXPECT_EQ(sink.out, "") << "DLL writes do not transmit";
  w(kUartScr, 0x5a);
  EXPECT_EQ(r(kUartScr), 0x5a);
  EXPECT_EQ(r(kUartLcr), 0x03);
}

TEST_F(UartTest, StateRoundTrip) {
  w(kUartFcr, kFcrEnable | 0x40);
  w(kUartIer, kIerRdi | kIerThri);
  w(kUartLcr, 0x03);
  w(kUartScr, 0x42);
  uart.push_input('q');
  uart.push_input('r');
  Uart16550::State saved = uart.save();
  EXPECT_EQ(saved.rx_fifo, (std::vector<uint8_t>{'q', 'r'}));

  r(kUartRbr);
  w(kUartIer, 0);
  w(kUartScr, 0);
  EXPECT_NE(uart.save(), saved);
  EXPECT_FALSE(plic.level(kIrq));

  ASSERT_TRUE(uart.restore(saved).ok());
  EXPECT_EQ(uart.save(), saved);
  EXPECT_TRUE(plic.level(kIrq)) << "restore re-drives the IRQ line";
  EXPECT_EQ(r(kUartRbr), 'q');
  EXPECT_EQ(r(kUartRbr), 'r');
}

TEST_F(UartTest, RestoreRejectsBadState) {
  Uart16550::State good = uart.save();
  Uart16550::State s = good;
  s.rx_fifo.assign(2, 'x');  // FIFO mode is off: one byte at most
  auto st = uart.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("rx_fifo"), std::string::npos) << st.error().message();
  s = good;
  s.ier = 0x30;
  st = uart.restore(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("ier"), std::string::npos);
  EXPECT_EQ(uart.save(), good);
}

}  // namespace
}  // namespace tandem::dev
