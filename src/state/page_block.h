// A block of guest pages as stored: compressed (or raw where compression
// does not pay) and checksummed. Shared by snapshot files (one block per
// index entry) and the replication stream (one block per pages message),
// so both carry memory the same way.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "state/snapshot_file.h"

namespace tandem::state {

struct EncodedBlock {
  uint32_t encoding = 0;  // format::BlockEncoding
  uint32_t page_count = 0;
  uint64_t checksum = 0;  // XXH3 of `data`
  std::vector<uint8_t> data;
};

// One per thread: holds the zstd context.
class BlockEncoder {
 public:
  explicit BlockEncoder(Codec codec = Codec::kLz4, int zstd_level = 1);
  ~BlockEncoder();
  BlockEncoder(const BlockEncoder&) = delete;
  BlockEncoder& operator=(const BlockEncoder&) = delete;
  // Encodes `pages` consecutive pages at `src` into `out` (its buffer is
  // reused). Stored raw when the codec does not make them smaller.
  void encode(const uint8_t* src, size_t pages, EncodedBlock& out);
  // The same for `bytes` bytes that are not whole pages (the replication
  // stream's page diffs); `out.page_count` is 0.
  void encode_bytes(const uint8_t* src, size_t bytes, EncodedBlock& out);

 private:
  struct Ctx;
  Codec codec_;
  int zstd_level_;
  std::unique_ptr<Ctx> ctx_;
};

// Decodes `stored` (already checked against its checksum) into exactly
// `size` bytes at dst. The error says what was wrong with the data.
Status decode_block(uint32_t encoding, std::span<const uint8_t> stored, uint8_t* dst, size_t size);

}  // namespace tandem::state
