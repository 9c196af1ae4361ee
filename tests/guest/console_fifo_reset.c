// Console input across Linux's 8250 startup order (issue 18, item 6): the
// FIFO off, the receive interrupt enabled, then the FIFO turned on, which
// resets the receiver. The board holds piped input until the receive
// interrupt is enabled; a byte it delivers between the two steps must
// still reach the guest. The program spins across slice boundaries
// (65,536 instructions each), where the board delivers, before the reset,
// then polls for the byte. Linux's window is about 100 instructions, so a
// boot lost a typed byte only now and then.
//
// Not a differential test: QEMU delivers input whatever IER says.
#include "rt.h"

#define RBR 0
#define IER 1
#define FCR 2
#define LSR 5

static volatile uint8_t* const uart = (volatile uint8_t*)UART_BASE;

int main(void) {
  uart[FCR] = 0;  // FIFO off: a one-byte receiver
  uart[IER] = 1;  // ERBFI
  for (volatile int i = 0; i < 100000; i++) {
  }
  int delivered_early = uart[LSR] & 1;
  uart[FCR] = 1;  // FIFO on: resets it
  for (long i = 0; i < 20000000; i++) {
    if (uart[LSR] & 1) {
      char c = (char)uart[RBR];
      printf("got '%c' (delivered before the reset: %s)\n", c, delivered_early ? "yes" : "no");
      return 0;
    }
  }
  printf("the byte was lost (delivered before the reset: %s)\n", delivered_early ? "yes" : "no");
  return 1;
}
