// Where the guest spends its instructions (`tandem run --guest-profile`):
// each hart's PC, privilege mode and ra whenever its instret reaches or
// passes a multiple of the period (the slice, where a run that is not cut
// short ends), standing for the period's instructions: a profiler on
// instructions retired. Runs cut short (WFI, PAUSE) are not samples: their
// end is where the hart stopped, not where its instructions went. Written
// at the run's end, with kernel symbols from a System.map when there is
// one.
#pragma once

#include <array>
#include <cstdint>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/result.h"

namespace tandem::board {

// A System.map: "ADDRESS TYPE NAME" lines, text and weak symbols kept.
class SymbolMap {
 public:
  static Result<SymbolMap> load(const std::string& path);
  // "name+0xOFF", or empty when pc is before the first symbol or past
  // the kernel's end (_end).
  std::string name(uint64_t pc, bool with_offset) const;
  size_t size() const { return syms_.size(); }

 private:
  struct Sym {
    uint64_t addr;
    std::string name;
  };
  std::vector<Sym> syms_;  // sorted by address
  uint64_t end_ = 0;
};

class GuestProfile {
 public:
  // `period`: the instructions of a slice, where runs not cut short end.
  GuestProfile(size_t harts, uint64_t period) : period_(period), harts_(harts), callers_(harts) {}
  // After each run of hart i, from its own thread only (each hart has
  // its own tables). `ra`, the return address register, names the caller
  // of a kernel leaf function (a spinlock, say).
  void sample(size_t hart, uint64_t pc, unsigned priv, uint64_t ra, uint64_t before, uint64_t instret) {
    // A run ends at a block's end, so it may pass the multiple a little.
    const uint64_t n = (instret / period_ - before / period_) * period_;
    if (!on_ || n == 0) return;
    harts_[hart][pc][priv & 3] += n;
    if (priv == 1) callers_[hart][{pc, ra}] += n;
  }
  // Starts sampling afresh. Only with every hart stopped.
  void start();
  bool on() const { return on_; }
  uint64_t instructions() const;
  // The report: instructions by function and mode, the hottest PCs, each
  // with its share per hart, and the callers of the hottest kernel
  // functions. `symbols` may be empty (no names).
  std::string report(const SymbolMap* symbols, const std::string& symbols_name) const;
  Status write(const std::string& path, const SymbolMap* symbols, const std::string& symbols_name) const;

 private:
  void callers(std::ostringstream& out, const SymbolMap& symbols, uint64_t total) const;
  const uint64_t period_;
  // Per hart: PC -> instructions by privilege mode (cpu::Priv).
  std::vector<std::unordered_map<uint64_t, std::array<uint64_t, 4>>> harts_;
  struct PairHash {
    size_t operator()(const std::pair<uint64_t, uint64_t>& p) const {
      return p.first * 0x9e3779b97f4a7c15ull ^ p.second;
    }
  };
  // Per hart, S-mode samples: (PC, ra) -> instructions.
  std::vector<std::unordered_map<std::pair<uint64_t, uint64_t>, uint64_t, PairHash>> callers_;
  bool on_ = false;
};

}  // namespace tandem::board
