// Page-table helpers and the paging tests shared by sv39.c and sv48.c.
#pragma once

#include "ops.h"

#define PTE_V 0x001ul
#define PTE_R 0x002ul
#define PTE_W 0x004ul
#define PTE_X 0x008ul
#define PTE_U 0x010ul
#define PTE_G 0x020ul
#define PTE_A 0x040ul
#define PTE_D 0x080ul

#define SATP_SV39 (8ul << 60)
#define SATP_SV48 (9ul << 60)

// Virtual addresses of the test mappings (all below 512 GiB, so Sv39 and
// Sv48 share them).
#define VA_TEST 0x100000000ul

// Builds the page tables for `levels` (3 = Sv39, 4 = Sv48): identity maps
// of the program's first 2 MiB of RAM with 4 KiB pages (the user section
// with U set), the rest of RAM with 2 MiB pages, the devices with a 1 GiB
// page; and the test mappings at VA_TEST. Writes satp.
void vm_init(unsigned levels);
// Maps va -> pa with a leaf at `level` (0 = 4 KiB); returns the PTE.
volatile uint64_t* vm_map(uint64_t va, uint64_t pa, unsigned level, uint64_t flags);
// The PTE the walk for va ends at (leaf or invalid), or 0.
volatile uint64_t* vm_pte(uint64_t va);
uint64_t vm_satp(void);

// Accesses from S or U mode; print value, trap and PTE. kind: see vm.c.
enum probe_kind { PROBE_LOAD, PROBE_STORE, PROBE_FETCH, PROBE_AMO, PROBE_LR };
void vm_probe(const char* what, unsigned mode, enum probe_kind kind, uint64_t va);
// The same from M with mstatus.MPRV = 1 and MPP = mpp.
void vm_probe_mprv(const char* what, unsigned mpp, enum probe_kind kind, uint64_t va);

// The tests both modes share.
void vm_run_common(void);
