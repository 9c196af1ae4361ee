#include "board/guest_profile.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace tandem::board {

namespace {
constexpr size_t kRows = 100;  // per table

std::string group(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

const char* mode_name(unsigned priv) { return priv == 0 ? "U" : priv == 1 ? "S" : priv == 3 ? "M" : "?"; }

std::string percent(uint64_t part, uint64_t whole) {
  char b[16];
  std::snprintf(b, sizeof b, "%6.2f%%", whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  return b;
}
}  // namespace

Result<SymbolMap> SymbolMap::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error("cannot read the symbol map " + path);
  SymbolMap m;
  std::string line;
  size_t lineno = 0;
  while (std::getline(in, line)) {
    lineno++;
    std::istringstream f(line);
    std::string addr, type, name;
    if (!(f >> addr >> type >> name) || type.size() != 1)
      return Error(path + ":" + std::to_string(lineno) + ": not a System.map line (ADDRESS TYPE NAME)");
    char* end = nullptr;
    const uint64_t a = std::strtoull(addr.c_str(), &end, 16);
    if (end != addr.c_str() + addr.size())
      return Error(path + ":" + std::to_string(lineno) + ": '" + addr + "' is not a hex address");
    if (name == "_end") m.end_ = a;
    const char t = static_cast<char>(type[0] | 0x20);
    if (t == 't' || t == 'w') m.syms_.push_back({a, name});
  }
  if (m.syms_.empty()) return Error(path + ": no text symbols");
  std::stable_sort(m.syms_.begin(), m.syms_.end(), [](const Sym& x, const Sym& y) { return x.addr < y.addr; });
  return m;
}

std::string SymbolMap::name(uint64_t pc, bool with_offset) const {
  if (end_ && pc >= end_) return {};
  auto it = std::upper_bound(syms_.begin(), syms_.end(), pc, [](uint64_t v, const Sym& s) { return v < s.addr; });
  if (it == syms_.begin()) return {};
  --it;
  if (!with_offset) return it->name;
  char off[24];
  std::snprintf(off, sizeof off, "+0x%" PRIx64, pc - it->addr);
  return it->name + off;
}

void GuestProfile::start() {
  for (auto& t : harts_) t.clear();
  for (auto& t : callers_) t.clear();
  on_ = true;
}

uint64_t GuestProfile::instructions() const {
  uint64_t n = 0;
  for (const auto& t : harts_)
    for (const auto& [pc, modes] : t)
      for (uint64_t c : modes) n += c;
  return n;
}

std::string GuestProfile::report(const SymbolMap* symbols, const std::string& symbols_name) const {
  const size_t n = harts_.size();
  std::vector<uint64_t> hart_total(n, 0);
  // (mode, function) -> per hart; (mode, pc) -> per hart.
  std::map<std::pair<unsigned, std::string>, std::vector<uint64_t>> by_function;
  std::map<std::pair<unsigned, uint64_t>, std::vector<uint64_t>> by_pc;
  for (size_t h = 0; h < n; h++) {
    for (const auto& [pc, modes] : harts_[h]) {
      for (unsigned priv = 0; priv < 4; priv++) {
        const uint64_t c = modes[priv];
        if (!c) continue;
        hart_total[h] += c;
        std::string fn;
        if (priv == 0) fn = "[user]";
        else if (priv == 3) fn = "[M-mode firmware]";
        else if (symbols) fn = symbols->name(pc, false);
        if (fn.empty()) fn = "[unknown]";
        auto& f = by_function[{priv, fn}];
        f.resize(n, 0);
        f[h] += c;
        auto& p = by_pc[{priv, pc}];
        p.resize(n, 0);
        p[h] += c;
      }
    }
  }
  uint64_t total = 0;
  for (uint64_t t : hart_total) total += t;

  std::ostringstream out;
  out << "# tandem guest profile: " << n << (n == 1 ? " hart, " : " harts, ") << group(total)
      << " instructions, a sample each time a hart's instret reaches a multiple of " << group(period_) << "\n";
  out << "# symbols: " << (symbols ? symbols_name + " (" + group(symbols->size()) + " text symbols)" : "none") << "\n";
  for (size_t h = 0; h < n; h++) out << "# hart " << h << ": " << group(hart_total[h]) << " instructions\n";
  auto header = [&](const char* what) {
    out << "#    all";
    for (size_t h = 0; h < n; h++) out << "   hart" << h;
    out << "  mode  " << what << "\n";
  };
  auto row = [&](const std::vector<uint64_t>& per_hart) {
    uint64_t sum = 0;
    for (uint64_t c : per_hart) sum += c;
    out << percent(sum, total);
    for (size_t h = 0; h < n; h++) out << " " << percent(per_hart[h], hart_total[h]);
    return sum;
  };
  auto sorted = [](const auto& m) {
    std::vector<std::pair<uint64_t, decltype(m.begin())>> v;
    for (auto it = m.begin(); it != m.end(); ++it) {
      uint64_t s = 0;
      for (uint64_t c : it->second) s += c;
      v.push_back({s, it});
    }
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    return v;
  };

  out << "\n# By function (all: of every hart's instructions; hartN: of that hart's)\n";
  header("function");
  auto fns = sorted(by_function);
  for (size_t i = 0; i < fns.size() && i < kRows; i++) {
    row(fns[i].second->second);
    out << "  " << mode_name(fns[i].second->first.first) << "     " << fns[i].second->first.second << "\n";
  }
  out << "\n# Hottest PCs\n";
  header("pc");
  auto pcs = sorted(by_pc);
  for (size_t i = 0; i < pcs.size() && i < kRows; i++) {
    const auto [priv, pc] = pcs[i].second->first;
    row(pcs[i].second->second);
    char hex[24];
    std::snprintf(hex, sizeof hex, "%016" PRIx64, pc);
    out << "  " << mode_name(priv) << "     " << hex;
    if (symbols && priv == 1) {
      std::string s = symbols->name(pc, true);
      if (!s.empty()) out << "  " << s;
    }
    out << "\n";
  }
  if (symbols) callers(out, *symbols, total);
  return out.str();
}

// For the hottest kernel functions, the functions their samples' ra
// points into: the callers of leaf functions, whose ra is still the
// return address.
void GuestProfile::callers(std::ostringstream& out, const SymbolMap& symbols, uint64_t total) const {
  constexpr size_t kFunctions = 8, kCallers = 6;
  std::map<std::string, std::map<std::string, uint64_t>> by_function;
  std::map<std::string, uint64_t> function_total;
  for (const auto& t : callers_)
    for (const auto& [key, c] : t) {
      std::string fn = symbols.name(key.first, false), caller = symbols.name(key.second, false);
      if (fn.empty()) continue;
      by_function[fn][caller.empty() ? "[unknown]" : caller] += c;
      function_total[fn] += c;
    }
  std::vector<std::pair<uint64_t, std::string>> top;
  for (const auto& [fn, c] : function_total) top.push_back({c, fn});
  std::stable_sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  out << "\n# Callers of the hottest kernel functions (the function ra points into; exact for leaf functions)\n";
  for (size_t i = 0; i < top.size() && i < kFunctions; i++) {
    out << percent(top[i].first, total) << "  " << top[i].second << ":\n";
    std::vector<std::pair<uint64_t, std::string>> cs;
    for (const auto& [caller, c] : by_function[top[i].second]) cs.push_back({c, caller});
    std::stable_sort(cs.begin(), cs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t k = 0; k < cs.size() && k < kCallers; k++)
      out << "        " << percent(cs[k].first, top[i].first) << "  " << cs[k].second << "\n";
  }
}

Status GuestProfile::write(const std::string& path, const SymbolMap* symbols, const std::string& symbols_name) const {
  const std::string text = report(symbols, symbols_name);
  std::ofstream f(path, std::ios::trunc);
  if (!f) return Error("guest profile: cannot write " + path);
  f << text;
  f.close();
  if (!f) return Error("guest profile: writing " + path + " failed");
  return Ok();
}

}  // namespace tandem::board
