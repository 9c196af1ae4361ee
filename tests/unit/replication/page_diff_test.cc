// Page diffs: the encoder against random and adversarial pages (round
// trip, size bound), malformed diffs refused, and the diffs message.
#include "replication/page_diff.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "replication/protocol.h"

namespace tandem::replication {
namespace {

using Page = std::vector<uint8_t>;

Page random_page(std::mt19937_64& rng) {
  Page p(mem::kPageSize);
  for (size_t i = 0; i < p.size(); i += 8) {
    const uint64_t w = rng();
    std::memcpy(&p[i], &w, 8);
  }
  return p;
}

// Encodes, checks the bound, applies onto a copy of the base and checks
// that the page comes back; returns the diff's size.
size_t round_trip(const Page& base, const Page& page) {
  std::vector<uint8_t> diff = {0xee};  // appended after what is there
  const size_t n = encode_page_diff(base.data(), page.data(), diff);
  EXPECT_EQ(diff.size(), n + 1);
  EXPECT_LE(n, kMaxPageDiff);
  Page out = base;
  auto changed = apply_page_diff(std::span(diff).subspan(1), out.data());
  EXPECT_TRUE(changed.ok()) << changed.error().message();
  EXPECT_TRUE(out == page) << "the diff does not rebuild the page";
  if (changed.ok()) {
    EXPECT_EQ(*changed, changed_words(base.data(), page.data()));
  }
  return n;
}

TEST(PageDiff, RandomChangesRoundTrip) {
  std::mt19937_64 rng(13);
  for (int trial = 0; trial < 2000; trial++) {
    Page base = trial % 3 ? random_page(rng) : Page(mem::kPageSize, 0);
    Page page = base;
    // From one changed byte to every byte, dense or in clusters.
    const size_t changes = rng() % (trial % 10 == 0 ? 4096 : 64);
    for (size_t k = 0; k < changes; k++) {
      const size_t at = trial % 2 ? rng() % mem::kPageSize : (rng() % 8) * 512 + rng() % 64;
      page[at] = static_cast<uint8_t>(page[at] + 1 + rng() % 255);
    }
    round_trip(base, page);
  }
}

TEST(PageDiff, AdversarialPagesStayWithinAPageAndAHeader) {
  std::mt19937_64 rng(7);
  const Page base = random_page(rng);
  EXPECT_EQ(round_trip(base, base), 0u) << "an unchanged page is the empty diff";
  // Every word changed: one run, the largest diff there is.
  EXPECT_EQ(round_trip(base, random_page(rng)), mem::kPageSize + 4);
  // Every other word: the most runs.
  Page alternate = base;
  for (size_t w = 0; w < kPageWords; w += 2) alternate[w * 8] ^= 0x80;
  EXPECT_EQ(round_trip(base, alternate), kPageWords / 2 * 12);
  // The first and the last word only, and one bit of a word.
  Page ends = base;
  ends[0] ^= 1;
  ends[mem::kPageSize - 1] ^= 1;
  EXPECT_EQ(round_trip(base, ends), 24u);
  // Runs of every length between gaps of every length.
  Page runs = base;
  for (size_t w = 0, len = 1; w < kPageWords; w += 2 * len, len++)
    for (size_t k = w; k < std::min(kPageWords, w + len); k++) runs[k * 8 + 3] ^= 0xff;
  round_trip(base, runs);
  // Counters that moved a little (what most diffs are): mostly zero bytes.
  Page counters = base;
  for (size_t w = 0; w < kPageWords; w += 64) counters[w * 8] ^= 3;
  EXPECT_EQ(round_trip(base, counters), 8u * 12);
}

TEST(PageDiff, MalformedDiffsAreRefusedAndChangeNothing) {
  std::mt19937_64 rng(3);
  const Page base = random_page(rng);
  Page page = base;
  page[100] ^= 1;
  page[4000] ^= 1;
  std::vector<uint8_t> good;
  encode_page_diff(base.data(), page.data(), good);
  auto refused = [&](std::vector<uint8_t> bad, const char* want) {
    Page out = base;
    auto r = apply_page_diff(bad, out.data());
    ASSERT_FALSE(r.ok()) << want;
    EXPECT_NE(r.error().message().find(want), std::string::npos) << r.error().message();
    EXPECT_TRUE(out == base) << "a refused diff changed the page";
  };
  auto cut = good;
  cut.pop_back();
  refused(cut, "cut short");
  auto header = good;
  header.resize(header.size() - 10);  // the second run's header is cut
  refused(header, "cut short");
  auto empty_run = good;
  empty_run[2] = empty_run[3] = 0;
  refused(empty_run, "empty run");
  auto past = good;
  past[0] = 0xff, past[1] = 0x01;  // skip 511 words, then a run
  refused(past, "past the page");
  auto trailing = good;
  trailing.push_back(0);
  refused(trailing, "cut short");
}

TEST(PageDiff, DiffsMessageRoundTripAndChecks) {
  std::mt19937_64 rng(5);
  std::vector<uint32_t> pages = {3, 4, 90, 1000};
  std::vector<Page> bases, now;
  std::vector<uint8_t> diffs;
  std::vector<uint16_t> sizes;
  std::vector<uint64_t> hashes;
  for (size_t i = 0; i < pages.size(); i++) {
    bases.push_back(random_page(rng));
    now.push_back(bases.back());
    now.back()[rng() % mem::kPageSize] ^= 0x11;
    sizes.push_back(static_cast<uint16_t>(encode_page_diff(bases[i].data(), now[i].data(), diffs)));
    hashes.push_back(page_hash(bases[i].data()));
  }
  state::BlockEncoder enc;
  auto payload = encode_diffs(pages, bases_hash(hashes), sizes, diffs, enc);
  auto d = decode_diffs(payload, 1024);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->pages, pages);
  EXPECT_EQ(d->bases_hash, bases_hash(hashes));
  for (size_t i = 0; i < pages.size(); i++) {
    Page out = bases[i];
    ASSERT_TRUE(apply_page_diff(d->diff(i), out.data()).ok());
    EXPECT_TRUE(out == now[i]);
  }
  EXPECT_FALSE(decode_diffs(payload, 1000).ok()) << "page 1000 is outside 1000 pages";
  std::vector<uint32_t> unordered = {3, 90, 4, 1000};
  auto bad = decode_diffs(encode_diffs(unordered, 0, sizes, diffs, enc), 1024);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("ascending"), std::string::npos) << bad.error().message();
  auto damaged = payload;
  damaged.back() ^= 1;
  EXPECT_FALSE(decode_diffs(damaged, 1024).ok());
  std::vector<uint16_t> wrong_sizes = sizes;
  wrong_sizes[0]++;
  EXPECT_FALSE(decode_diffs(encode_diffs(pages, 0, wrong_sizes, diffs, enc), 1024).ok());

  // A message of one page rewritten at random costs no more than the
  // page and a small header: the block is stored raw when LZ4 cannot
  // shrink it.
  Page a = random_page(rng), b = random_page(rng);
  std::vector<uint8_t> one;
  std::vector<uint16_t> one_size = {static_cast<uint16_t>(encode_page_diff(a.data(), b.data(), one))};
  std::vector<uint32_t> one_page = {7};
  std::vector<uint64_t> one_hash = {page_hash(a.data())};
  const auto worst = encode_diffs(one_page, bases_hash(one_hash), one_size, one, enc);
  EXPECT_LE(worst.size(), mem::kPageSize + 48);
}

}  // namespace
}  // namespace tandem::replication
