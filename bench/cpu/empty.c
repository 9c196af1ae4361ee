// Does nothing: timing it gives the startup and teardown cost of a run,
// which bench/cpu/run reports separately from the workload.
#include "rt.h"

int main(void) { return 0; }
