#include "state/page_block.h"

#include <lz4.h>
#include <zstd.h>

#include <cstring>

#include "state/snapshot_format.h"

namespace tandem::state {

struct BlockEncoder::Ctx {
  ZSTD_CCtx* cctx = nullptr;
  ~Ctx() { ZSTD_freeCCtx(cctx); }
};

BlockEncoder::BlockEncoder(Codec codec, int zstd_level)
    : codec_(codec), zstd_level_(zstd_level), ctx_(std::make_unique<Ctx>()) {}
BlockEncoder::~BlockEncoder() = default;

void BlockEncoder::encode(const uint8_t* src, size_t pages, EncodedBlock& out) {
  encode_bytes(src, pages * mem::kPageSize, out);
  out.page_count = static_cast<uint32_t>(pages);
}

void BlockEncoder::encode_bytes(const uint8_t* src, size_t bytes, EncodedBlock& out) {
  size_t z = 0;  // 0: not compressed
  uint32_t encoding = format::kBlockRaw;
  if (codec_ == Codec::kLz4) {
    out.data.resize(static_cast<size_t>(LZ4_compressBound(static_cast<int>(bytes))));
    int r = LZ4_compress_default(reinterpret_cast<const char*>(src), reinterpret_cast<char*>(out.data.data()),
                                 static_cast<int>(bytes), static_cast<int>(out.data.size()));
    z = r > 0 ? static_cast<size_t>(r) : 0;
    encoding = format::kBlockLz4;
  } else {
    if (!ctx_->cctx) ctx_->cctx = ZSTD_createCCtx();
    out.data.resize(ZSTD_compressBound(bytes));
    z = ctx_->cctx ? ZSTD_compressCCtx(ctx_->cctx, out.data.data(), out.data.size(), src, bytes, zstd_level_) : 0;
    if (ZSTD_isError(z)) z = 0;
    encoding = format::kBlockZstd;
  }
  out.page_count = 0;
  if (z > 0 && z < bytes) {
    out.data.resize(z);
    out.encoding = encoding;
  } else {  // incompressible: stored as is, reading it back is a copy
    out.data.assign(src, src + bytes);
    out.encoding = format::kBlockRaw;
  }
  out.checksum = format::checksum(out.data.data(), out.data.size());
}

namespace {
struct Dctx {
  ZSTD_DCtx* p = ZSTD_createDCtx();
  ~Dctx() { ZSTD_freeDCtx(p); }
};
}  // namespace

Status decode_block(uint32_t encoding, std::span<const uint8_t> stored, uint8_t* dst, size_t size) {
  if (encoding == format::kBlockRaw) {
    if (stored.size() != size)
      return Error("raw block of " + std::to_string(stored.size()) + " bytes, expected " + std::to_string(size));
    std::memcpy(dst, stored.data(), size);
    return Ok();
  }
  if (encoding == format::kBlockLz4) {
    int n = LZ4_decompress_safe(reinterpret_cast<const char*>(stored.data()), reinterpret_cast<char*>(dst),
                                static_cast<int>(stored.size()), static_cast<int>(size));
    if (n < 0) return Error("lz4: corrupt data");
    if (static_cast<size_t>(n) != size)
      return Error("decompressed to " + std::to_string(n) + " bytes, expected " + std::to_string(size));
    return Ok();
  }
  if (encoding != format::kBlockZstd) return Error("unknown encoding " + std::to_string(encoding));
  static thread_local Dctx dctx;
  if (!dctx.p) return Error("no zstd context");
  size_t n = ZSTD_decompressDCtx(dctx.p, dst, size, stored.data(), stored.size());
  if (ZSTD_isError(n)) return Error(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != size)
    return Error("decompressed to " + std::to_string(n) + " bytes, expected " + std::to_string(size));
  return Ok();
}

}  // namespace tandem::state
