// An ELF whose zero-initialised segment (96 MiB) is larger than the 64 MiB
// of guest RAM the negative test gives it: tandem must refuse to load it.
#include "rt.h"

static volatile uint8_t big[96u << 20];

int main(void) {
  big[sizeof big - 1] = 1;
  return big[0];
}
