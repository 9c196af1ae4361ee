// An interpreter's mix for bench/cpu: a bytecode loop dispatching through
// a switch (a jump table: an indirect jump per bytecode, the hardest
// branch for a translator), a value stack in memory, calls and returns.
// The bytecode program, assembled below, runs a sieve of Eratosthenes,
// an insertion sort and recursive Fibonacci; the interpreter runs it
// ITERATIONS times and checksums the results. Written for this project;
// deterministic, so every correct RV64 gives the same checksum.
#include "rt.h"

#ifndef ITERATIONS
#define ITERATIONS 40
#endif

enum op {
  PUSH,   // imm: push imm
  LOAD,   // imm: push local[imm]
  STORE,  // imm: local[imm] = pop
  ALOAD,  // push heap[pop]
  ASTORE, // v = pop, i = pop: heap[i] = v
  ADD, SUB, MUL, AND, LT, EQ,
  JMP,    // imm: pc = imm
  JZ,     // imm: if pop == 0, pc = imm
  CALL,   // imm: call the function at imm (one argument: the top of stack)
  RET,    // return the top of stack
  DUP, DROP, HALT
};

#define HEAP 2048
#define CODE 512
// Data on pages of its own: a store into a page holding code is another
// benchmark's subject (bench/cpu/near_data).
#define PAGE_ALIGNED __attribute__((aligned(4096)))
static int32_t heap[HEAP] PAGE_ALIGNED;
static int32_t code[CODE] PAGE_ALIGNED;
static int ncode;

// --- a tiny assembler: labels are code positions, patched once known.
static int emit(int32_t v) {
  code[ncode] = v;
  return ncode++;
}
static void op1(enum op o, int32_t imm) {
  emit(o);
  emit(imm);
}
static void op0(enum op o) { emit(o); }

// Frames hold 8 locals; local 0 is the argument.
struct frame {
  int ret_pc;
  int sp_base;
  int32_t local[8];
};

static int32_t run(int entry, int32_t arg) {
  static int32_t stack[256] PAGE_ALIGNED;
  static struct frame frames[64] PAGE_ALIGNED;
  int sp = 0, fp = 0, pc = entry;
  frames[0].ret_pc = -1;
  frames[0].local[0] = arg;
  for (;;) {
    switch ((enum op)code[pc++]) {
      case PUSH: stack[sp++] = code[pc++]; break;
      case LOAD: stack[sp++] = frames[fp].local[code[pc++]]; break;
      case STORE: frames[fp].local[code[pc++]] = stack[--sp]; break;
      case ALOAD: stack[sp - 1] = heap[(uint32_t)stack[sp - 1] % HEAP]; break;
      case ASTORE: heap[(uint32_t)stack[sp - 2] % HEAP] = stack[sp - 1]; sp -= 2; break;
      case ADD: sp--; stack[sp - 1] += stack[sp]; break;
      case SUB: sp--; stack[sp - 1] -= stack[sp]; break;
      case MUL: sp--; stack[sp - 1] *= stack[sp]; break;
      case AND: sp--; stack[sp - 1] &= stack[sp]; break;
      case LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
      case EQ: sp--; stack[sp - 1] = stack[sp - 1] == stack[sp]; break;
      case JMP: pc = code[pc]; break;
      case JZ: pc = stack[--sp] ? pc + 1 : code[pc]; break;
      case CALL:
        fp++;
        frames[fp].ret_pc = pc + 1;
        frames[fp].local[0] = stack[--sp];
        frames[fp].sp_base = sp;
        pc = code[pc];
        break;
      case RET: {
        const int32_t v = stack[sp - 1];
        if (frames[fp].ret_pc < 0) return v;
        sp = frames[fp].sp_base;
        pc = frames[fp].ret_pc;
        fp--;
        stack[sp++] = v;
        break;
      }
      case DUP: stack[sp] = stack[sp - 1]; sp++; break;
      case DROP: sp--; break;
      case HALT: return stack[sp - 1];
    }
  }
}

// fib(n): n < 2 ? n : fib(n-1) + fib(n-2)
static int assemble_fib(void) {
  const int f = ncode;
  op1(LOAD, 0); op1(PUSH, 2); op0(LT);
  const int jz = emit(JZ); emit(0);
  op1(LOAD, 0); op0(RET);
  code[jz + 1] = ncode;
  op1(LOAD, 0); op1(PUSH, 1); op0(SUB); op1(CALL, f);
  op1(LOAD, 0); op1(PUSH, 2); op0(SUB); op1(CALL, f);
  op0(ADD); op0(RET);
  return f;
}

// sieve(n): marks heap[0..n) (1 = composite), returns the primes below n.
static int assemble_sieve(void) {
  const int f = ncode;
  op1(PUSH, 0); op1(STORE, 1);  // i = 0: clear
  const int clear = ncode;
  op1(LOAD, 1); op1(LOAD, 0); op0(LT);
  const int clear_done = emit(JZ); emit(0);
  op1(LOAD, 1); op1(PUSH, 0); op0(ASTORE);
  op1(LOAD, 1); op1(PUSH, 1); op0(ADD); op1(STORE, 1);
  op1(JMP, clear);
  code[clear_done + 1] = ncode;
  op1(PUSH, 0); op1(STORE, 3);  // count = 0
  op1(PUSH, 2); op1(STORE, 1);  // i = 2
  const int outer = ncode;
  op1(LOAD, 1); op1(LOAD, 0); op0(LT);
  const int outer_done = emit(JZ); emit(0);
  op1(LOAD, 1); op0(ALOAD);
  const int prime = emit(JZ); emit(0);
  const int next = ncode;
  op1(LOAD, 1); op1(PUSH, 1); op0(ADD); op1(STORE, 1);
  op1(JMP, outer);
  code[prime + 1] = ncode;  // i is prime: count it, mark its multiples
  op1(LOAD, 3); op1(PUSH, 1); op0(ADD); op1(STORE, 3);
  op1(LOAD, 1); op1(LOAD, 1); op0(ADD); op1(STORE, 2);  // j = 2i
  const int inner = ncode;
  op1(LOAD, 2); op1(LOAD, 0); op0(LT);
  op1(JZ, next);
  op1(LOAD, 2); op1(PUSH, 1); op0(ASTORE);
  op1(LOAD, 2); op1(LOAD, 1); op0(ADD); op1(STORE, 2);
  op1(JMP, inner);
  code[outer_done + 1] = ncode;
  op1(LOAD, 3); op0(RET);
  return f;
}

// sort(n): fills heap[1024..1024+n) from an LCG, insertion-sorts it and
// returns a checksum of the sorted values.
static int assemble_sort(void) {
  const int f = ncode;
  op1(PUSH, 1); op1(STORE, 4);  // seed
  op1(PUSH, 0); op1(STORE, 1);  // i = 0
  const int fill = ncode;
  op1(LOAD, 1); op1(LOAD, 0); op0(LT);
  const int fill_done = emit(JZ); emit(0);
  op1(LOAD, 4); op1(PUSH, 1103515245); op0(MUL); op1(PUSH, 12345); op0(ADD); op1(STORE, 4);
  op1(LOAD, 1); op1(PUSH, 1024); op0(ADD); op1(LOAD, 4); op1(PUSH, 0xffff); op0(AND); op0(ASTORE);
  op1(LOAD, 1); op1(PUSH, 1); op0(ADD); op1(STORE, 1);
  op1(JMP, fill);
  code[fill_done + 1] = ncode;
  op1(PUSH, 1); op1(STORE, 1);  // i = 1
  const int outer = ncode;
  op1(LOAD, 1); op1(LOAD, 0); op0(LT);
  const int outer_done = emit(JZ); emit(0);
  op1(LOAD, 1); op1(PUSH, 1024); op0(ADD); op0(ALOAD); op1(STORE, 5);  // key
  op1(LOAD, 1); op1(STORE, 2);                                         // j = i
  const int inner = ncode;
  op1(PUSH, 0); op1(LOAD, 2); op0(LT);  // 0 < j
  const int inner_done = emit(JZ); emit(0);
  op1(LOAD, 5); op1(LOAD, 2); op1(PUSH, 1023); op0(ADD); op0(ALOAD); op0(LT);  // key < a[j-1]
  const int shifted = emit(JZ); emit(0);
  op1(LOAD, 2); op1(PUSH, 1024); op0(ADD);
  op1(LOAD, 2); op1(PUSH, 1023); op0(ADD); op0(ALOAD); op0(ASTORE);  // a[j] = a[j-1]
  op1(LOAD, 2); op1(PUSH, 1); op0(SUB); op1(STORE, 2);
  op1(JMP, inner);
  code[inner_done + 1] = ncode;
  code[shifted + 1] = ncode;
  op1(LOAD, 2); op1(PUSH, 1024); op0(ADD); op1(LOAD, 5); op0(ASTORE);  // a[j] = key
  op1(LOAD, 1); op1(PUSH, 1); op0(ADD); op1(STORE, 1);
  op1(JMP, outer);
  code[outer_done + 1] = ncode;
  op1(PUSH, 0); op1(STORE, 3);  // sum = sum * 31 + a[i]
  op1(PUSH, 0); op1(STORE, 1);
  const int fold = ncode;
  op1(LOAD, 1); op1(LOAD, 0); op0(LT);
  const int fold_done = emit(JZ); emit(0);
  op1(LOAD, 3); op1(PUSH, 31); op0(MUL); op1(LOAD, 1); op1(PUSH, 1024); op0(ADD); op0(ALOAD); op0(ADD);
  op1(STORE, 3);
  op1(LOAD, 1); op1(PUSH, 1); op0(ADD); op1(STORE, 1);
  op1(JMP, fold);
  code[fold_done + 1] = ncode;
  op1(LOAD, 3); op0(RET);
  return f;
}

int main(void) {
  const int fib = assemble_fib(), sieve = assemble_sieve(), sort = assemble_sort();
  uint32_t sum = 0;
  int32_t primes = 0, fibs = 0, sorted = 0;
  for (int it = 0; it < ITERATIONS; it++) {
    primes = run(sieve, 1000 + it % 16);
    fibs = run(fib, 17 + it % 3);
    sorted = run(sort, 200 + it % 8);
    sum = sum * 33u + (uint32_t)primes + (uint32_t)fibs * 7u + (uint32_t)sorted;
  }
  printf("interp benchmark: %u iterations, %d bytecodes, last primes %d fib %d sort %d, checksum %08x\n",
         (unsigned)ITERATIONS, ncode, (int)primes, (int)fibs, (int)sorted, (unsigned)sum);
  return 0;
}
