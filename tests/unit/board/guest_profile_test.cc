#include "board/guest_profile.h"

#include <gtest/gtest.h>

#include <fstream>

#include "../temp_dir.h"

namespace tandem::board {
namespace {

std::string write_map(const test::TempDir& d, const std::string& text) {
  std::string path = d.file("System.map");
  std::ofstream(path) << text;
  return path;
}

TEST(SymbolMap, NamesTextSymbolsWithOffsets) {
  test::TempDir d;
  auto m = SymbolMap::load(write_map(d,
                                     "ffffffff80000000 T _start\n"
                                     "ffffffff80000100 t helper\n"
                                     "ffffffff80000180 D some_data\n"
                                     "ffffffff80000200 W weak_fn\n"
                                     "ffffffff80001000 B _end\n"));
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->size(), 3u);  // the data symbol is not code
  EXPECT_EQ(m->name(0xffffffff80000000, true), "_start+0x0");
  EXPECT_EQ(m->name(0xffffffff800001a4, true), "helper+0xa4");  // data symbols do not split functions
  EXPECT_EQ(m->name(0xffffffff80000204, false), "weak_fn");
  EXPECT_EQ(m->name(0xffffffff7fffffff, false), "");  // before the first
  EXPECT_EQ(m->name(0xffffffff80001000, false), "");  // past _end
}

TEST(SymbolMap, RefusesWhatIsNotASystemMap) {
  test::TempDir d;
  auto m = SymbolMap::load(write_map(d, "ffffffff80000000 T _start\nnot a map line at all\n"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("System.map:2"), std::string::npos) << m.error().message();
  auto x = SymbolMap::load(write_map(d, "zz00 T _start\n"));
  ASSERT_FALSE(x.ok());
  EXPECT_NE(x.error().message().find("'zz00' is not a hex address"), std::string::npos) << x.error().message();
  EXPECT_FALSE(SymbolMap::load(d.file("absent")).ok());
}

TEST(GuestProfile, SharesByFunctionModeAndHart) {
  test::TempDir d;
  auto m = SymbolMap::load(write_map(d, "ffffffff80000000 T spin\nffffffff80000100 T idle\nffffffff80002000 B _end\n"));
  ASSERT_TRUE(m.ok());
  GuestProfile p(2, 50);
  p.sample(0, 0xffffffff80000004, 1, 0, 0, 5000);  // not started: not counted
  EXPECT_EQ(p.instructions(), 0u);
  p.start();
  p.sample(0, 0xffffffff80000004, 1, 0xffffffff80000110, 0, 300);  // spin, S, called from idle
  p.sample(0, 0xffffffff80000008, 1, 0xffffffff80000008, 0, 100);  // spin, another PC, called from spin
  p.sample(0, 0xffffffff80000008, 1, 0x10000, 0, 200);             // ... from no kernel function
  p.sample(0, 0x10078, 0, 0, 10, 402);  // user: a run from 10 to 402 passes 8 multiples of 50
  p.sample(1, 0xffffffff80000104, 1, 0, 0, 250);  // idle
  p.sample(1, 0x80000010, 3, 0, 0, 750);          // firmware
  p.sample(1, 0xffffffff80000104, 1, 0, 0, 0);    // an empty run counts nothing
  p.sample(1, 0xffffffff80000200, 1, 0, 10, 40);  // nor one cut short of the period's multiple
  p.sample(1, 0xffffffff80000200, 1, 0, 50, 50);  // nor one that ran nothing at a multiple
  const std::string r = p.report(&*m, "map");
  // spin: 600 of 2,000 in all, 60 % of hart 0's 1,000, none of hart 1's.
  EXPECT_NE(r.find(" 30.00%  60.00%   0.00%  S     spin\n"), std::string::npos) << r;
  EXPECT_NE(r.find(" 37.50%   0.00%  75.00%  M     [M-mode firmware]\n"), std::string::npos) << r;
  EXPECT_NE(r.find(" 20.00%  40.00%   0.00%  U     [user]\n"), std::string::npos) << r;
  EXPECT_NE(r.find(" 12.50%   0.00%  25.00%  S     idle\n"), std::string::npos) << r;
  EXPECT_NE(r.find("S     ffffffff80000104  idle+0x4\n"), std::string::npos) << r;
  EXPECT_NE(r.find("2,000 instructions"), std::string::npos) << r;
  // Callers of spin: idle for half its instructions, itself a sixth.
  EXPECT_NE(r.find(" 30.00%  spin:\n         50.00%  idle\n         33.33%  [unknown]\n         16.67%  spin\n"),
            std::string::npos)
      << r;
  // By function, hottest first.
  EXPECT_LT(r.find("[M-mode firmware]"), r.find("spin\n"));
  // Without symbols every S-mode PC is unknown.
  EXPECT_NE(p.report(nullptr, "").find("S     [unknown]"), std::string::npos);
}

}  // namespace
}  // namespace tandem::board
