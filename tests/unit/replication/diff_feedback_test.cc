// The two halves of page diffs on their own: the backup's candidate list
// and the primary's kept copies within their budget.
#include <gtest/gtest.h>

#include <cstring>

#include "replication/diff_candidates.h"
#include "replication/diff_sender.h"
#include "replication/page_diff.h"

namespace tandem::replication {
namespace {

TEST(DiffCandidates, ALowDifferencePageJoinsAndLeavesWhenItChangesMuch) {
  DiffCandidates c(100, /*after=*/2, /*max_words=*/8);
  c.note(5, 3);
  EXPECT_FALSE(c.is_candidate(5)) << "one low-difference version is not enough";
  EXPECT_FALSE(c.changed());
  c.note(5, 8);
  EXPECT_TRUE(c.is_candidate(5));
  c.note(6, 0);
  c.note(6, 1);
  c.note(7, 100);
  c.note(7, 1);
  EXPECT_FALSE(c.is_candidate(7)) << "a large change restarts the count";
  Feedback f = c.take_changes();
  EXPECT_EQ(f.added, (std::vector<uint32_t>{5, 6}));
  EXPECT_TRUE(f.removed.empty());
  EXPECT_EQ(c.count(), 2u);
  EXPECT_FALSE(c.changed());

  // Page 5 stops being a low-difference page: it leaves the list.
  c.note(5, 9);
  EXPECT_FALSE(c.is_candidate(5));
  f = c.take_changes();
  EXPECT_TRUE(f.added.empty());
  EXPECT_EQ(f.removed, (std::vector<uint32_t>{5}));
  EXPECT_EQ(c.count(), 1u);

  // Gone and back between two feedbacks: nothing to say about it.
  c.note(6, 50);
  c.note(6, 0);
  c.note(6, 0);
  EXPECT_TRUE(c.is_candidate(6));
  f = c.take_changes();
  EXPECT_TRUE(f.added.empty() && f.removed.empty());
}

// A page of zeros but for one word, `v`.
std::vector<uint8_t> page_with(uint64_t v, size_t word = 0) {
  std::vector<uint8_t> p(mem::kPageSize, 0);
  std::memcpy(&p[word * 8], &v, 8);
  return p;
}

TEST(DiffSender, CandidatesGoAsDiffsAgainstWhatWasLastSent) {
  DiffSender s(64, 1 << 20);
  Feedback f;
  f.added = {3};
  s.on_feedback(f);
  s.begin(1);
  EXPECT_FALSE(s.add(2, page_with(1).data())) << "not a candidate: whole";
  EXPECT_FALSE(s.add(3, page_with(1).data())) << "no copy yet: whole, and kept";
  s.end();
  EXPECT_EQ(s.stats().kept_pages, 1u);
  s.begin(2);
  EXPECT_TRUE(s.add(3, page_with(2).data()));
  ASSERT_EQ(s.batched(), 1u);
  state::BlockEncoder enc;
  auto d = decode_diffs(s.take_batch(enc), 64);
  ASSERT_TRUE(d.ok()) << d.error().message();
  std::vector<uint64_t> base_hash = {page_hash(page_with(1).data())};
  EXPECT_EQ(d->bases_hash, bases_hash(base_hash)) << "the base is the version sent in checkpoint 1";
  auto page = page_with(1);
  ASSERT_TRUE(apply_page_diff(d->diff(0), page.data()).ok());
  EXPECT_TRUE(page == page_with(2));
  // A version that differs in most of the page goes whole.
  std::vector<uint8_t> busy(mem::kPageSize, 0x5a);
  EXPECT_FALSE(s.add(3, busy.data()));
  s.end();
  EXPECT_EQ(s.stats().whole, 1u);

  // Refused: the next stun copies it and it goes whole once.
  f = Feedback();
  f.refused = {3};
  s.on_feedback(f);
  EXPECT_EQ(s.refused_pages(), (std::vector<uint32_t>{3}));
  s.begin(3);
  EXPECT_FALSE(s.add(3, busy.data()));
  s.end();
  EXPECT_TRUE(s.refused_pages().empty());
  s.begin(4);
  EXPECT_TRUE(s.add(3, busy.data()));
  s.end();

  // No longer a candidate: whole, and its copy goes.
  f = Feedback();
  f.removed = {3};
  s.on_feedback(f);
  s.begin(5);
  EXPECT_EQ(s.stats().kept_pages, 0u);
  EXPECT_FALSE(s.add(3, busy.data()));
  s.end();
}

TEST(DiffSender, TheBudgetKeepsTheMostUsefulCopies) {
  // Room for 16 copies. 16 candidates sent once fill it; then 4 others
  // are sent every checkpoint with small diffs. Each checkpoint drops the
  // least useful copies, so the busy pages take the place of idle ones.
  DiffSender s(256, 16 * mem::kPageSize);
  Feedback f;
  for (uint32_t p = 100; p < 116; p++) f.added.push_back(p);
  for (uint32_t p = 0; p < 4; p++) f.added.push_back(p);
  s.on_feedback(f);
  s.begin(1);
  for (uint32_t p = 100; p < 116; p++) s.add(p, page_with(p).data());
  s.end();
  EXPECT_EQ(s.stats().kept_pages, 16u);
  uint64_t diffs = 0;
  for (uint64_t epoch = 2; epoch < 12; epoch++) {
    s.begin(epoch);
    for (uint32_t p = 0; p < 4; p++) diffs += s.add(p, page_with(epoch, p).data());
    s.end();
    state::BlockEncoder enc;
    if (s.batched()) s.take_batch(enc);
  }
  const DiffStats st = s.stats();
  EXPECT_EQ(st.kept_pages, 16u);
  EXPECT_LE(st.kept_bytes, 16 * mem::kPageSize);
  EXPECT_GE(st.evicted, 4u);
  // Once in, each busy page goes as a diff every checkpoint: in the last
  // checkpoints all four do.
  s.begin(12);
  for (uint32_t p = 0; p < 4; p++) EXPECT_TRUE(s.add(p, page_with(12, p).data())) << "page " << p;
  s.end();
  EXPECT_GT(diffs, 20u);
}

}  // namespace
}  // namespace tandem::replication
