// A page's difference from an earlier version of it, as a backup that
// holds that version needs it (issue 13's page diffs): the changed 8-byte
// words as runs, each XORed with the word it replaces, so a word whose
// value moved a little is mostly zero bytes for the block codec that
// compresses the diffs of a message together.
//
//   run: u16 skip (unchanged words since the last run's end)
//        u16 count (changed words, at least 1)
//        count x 8 bytes (old XOR new)
//
// An unchanged page is the empty diff. A diff is at most kMaxPageDiff
// bytes (one run of every word), whatever the pages hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "mem/guest_memory.h"

namespace tandem::replication {

inline constexpr size_t kPageWords = mem::kPageSize / 8;
inline constexpr size_t kMaxPageDiff = mem::kPageSize + 4;

// Appends to `out` the diff that turns `base` into `page`; returns its size.
size_t encode_page_diff(const uint8_t* base, const uint8_t* page, std::vector<uint8_t>& out);

// Applies `diff` to `page`, which holds the base, in place, and returns the
// words it changed. A malformed diff (a run past the page's end, an empty
// run, bytes left over or missing) is refused before the page is touched.
Result<uint32_t> apply_page_diff(std::span<const uint8_t> diff, uint8_t* page);

// The 8-byte words in which two pages differ.
uint32_t changed_words(const uint8_t* a, const uint8_t* b);

}  // namespace tandem::replication
