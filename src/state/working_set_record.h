// A working set recorded by a restore, written back into the snapshot
// (`tandem restore FILE --record-working-set`; docs/snapshot-format.md,
// "Recording a restore's working set").
//
// A suspend's trace sees what the guest did while it was being saved. What
// a restored guest touches first is often something else: the request that
// wakes it, memory it last used long before the save. A restore sees
// exactly that, so a recording restore traces the guest's first
// milliseconds (pages in order of first touch, and the hart's block log)
// and then rewrites the file with that working set first: its pages fill
// the leading blocks, its code is the code-blocks list a working-set
// restore loads before the first instruction and decodes ahead. Later
// restores of the file, the ones a serverless platform makes by the
// thousand, load what they will need and little else.
//
// Memory and machine state are unchanged by the rewrite; only the order of
// the pages in the blocks and the two working-set sections differ.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "state/snapshot_file.h"

namespace tandem::state {

struct RecordedWorkingSet {
  std::vector<uint32_t> pages;  // in order of first touch (GuestMemory trace)
  std::vector<uint64_t> code;   // blocks entered, in order (Hart's block log)
};

struct RecordStats {
  uint64_t pages = 0;        // active pages the file lists now
  uint64_t code_blocks = 0;  // code blocks it lists, of which code_traced recorded
  uint64_t code_traced = 0;
  uint64_t file_bytes = 0;
  double ms = 0;  // reading and rewriting the file
};

// The snapshot `opened` (the reader a restore opened it with) rewritten
// under its own path with `ws` as its working set: the recorded pages
// first, then the pages of the file's own list it did not record; the
// recorded code, then the file's own code blocks (at most kMaxCodeBlocks).
// The whole file is read and checked first, and written beside it
// (PATH.recorded, then renamed over PATH). Refused when another process
// records the same file (an advisory lock on it) or when PATH no longer
// names the file `opened` read (it was replaced meanwhile): the newer file
// is left alone. `threads` compress the blocks.
Result<RecordStats> rewrite_working_set(const SnapshotReader& opened, const RecordedWorkingSet& ws,
                                        unsigned threads = 1);

}  // namespace tandem::state
