#include "replication/protocol.h"

#include <cstring>
#include <unordered_set>

#include "base/bytes.h"
#include "replication/page_diff.h"
#include "state/codec.h"
#include "state/sections.h"
#include "state/snapshot_format.h"

namespace tandem::replication {

const char* msg_name(MsgType t) {
  switch (t) {
    case MsgType::kHello: return "hello";
    case MsgType::kReady: return "ready";
    case MsgType::kBegin: return "begin";
    case MsgType::kPages: return "pages";
    case MsgType::kState: return "state";
    case MsgType::kEnd: return "end";
    case MsgType::kAck: return "ack";
    case MsgType::kHeartbeat: return "heartbeat";
    case MsgType::kError: return "error";
    case MsgType::kDisk: return "disk";
    case MsgType::kDiffs: return "diffs";
    case MsgType::kFeedback: return "feedback";
    case MsgType::kFtInput: return "ft-input";
    case MsgType::kFtOutput: return "ft-output";
    case MsgType::kFtEntropy: return "ft-entropy";
    case MsgType::kFtSync: return "ft-sync";
    case MsgType::kFtDirty: return "ft-dirty";
    case MsgType::kFtMapping: return "ft-mapping";
    case MsgType::kFtConsole: return "ft-console";
  }
  return "unknown";
}

namespace {
uint64_t message_checksum(const uint8_t* header, std::span<const uint8_t> payload) {
  // XXH3 over the first 24 header bytes and the payload, as one buffer.
  std::vector<uint8_t> all(24 + payload.size());
  std::memcpy(all.data(), header, 24);
  if (!payload.empty()) std::memcpy(all.data() + 24, payload.data(), payload.size());
  return state::format::checksum(all.data(), all.size());
}
}  // namespace

std::vector<uint8_t> encode_message(MsgType type, uint64_t epoch, std::span<const uint8_t> payload,
                                    uint16_t version) {
  std::vector<uint8_t> out(kHeaderSize + payload.size());
  store_le<uint32_t>(&out[0], kMagic);
  store_le<uint16_t>(&out[4], version);
  store_le<uint16_t>(&out[6], static_cast<uint16_t>(type));
  store_le<uint64_t>(&out[8], epoch);
  store_le<uint32_t>(&out[16], static_cast<uint32_t>(payload.size()));
  store_le<uint32_t>(&out[20], 0);
  if (!payload.empty()) std::memcpy(&out[kHeaderSize], payload.data(), payload.size());
  store_le<uint64_t>(&out[24], message_checksum(out.data(), payload));
  return out;
}

Result<uint32_t> check_header(std::span<const uint8_t, kHeaderSize> h) {
  if (load_le<uint32_t>(&h[0]) != kMagic) return Error("not a tandem replication stream (bad magic)");
  const uint16_t version = load_le<uint16_t>(&h[4]);
  const uint16_t type = load_le<uint16_t>(&h[6]);
  if (version != kProtocolVersion && !(version >= 1 && type == static_cast<uint16_t>(MsgType::kError)))
    return Error("the peer speaks replication protocol version " + std::to_string(version) + ", this tandem " +
                 std::to_string(kProtocolVersion) + " (run the same tandem version on the primary and the backup)");
  if (type < static_cast<uint16_t>(MsgType::kHello) || type > static_cast<uint16_t>(kLastMsgType))
    return Error("unknown message type " + std::to_string(type));
  const uint32_t len = load_le<uint32_t>(&h[16]);
  if (len > kMaxPayload)
    return Error(std::string(msg_name(static_cast<MsgType>(type))) + " message of " + std::to_string(len) +
                 " bytes exceeds the limit of " + std::to_string(kMaxPayload));
  return len;
}

uint16_t header_version(std::span<const uint8_t, kHeaderSize> h) { return load_le<uint16_t>(&h[4]); }

Result<Message> finish_message(std::span<const uint8_t, kHeaderSize> h, std::vector<uint8_t> payload) {
  Message m;
  m.type = static_cast<MsgType>(load_le<uint16_t>(&h[6]));
  m.epoch = load_le<uint64_t>(&h[8]);
  if (message_checksum(h.data(), payload) != load_le<uint64_t>(&h[24]))
    return Error(std::string(msg_name(m.type)) + " message of epoch " + std::to_string(m.epoch) +
                 ": checksum mismatch");
  m.payload = std::move(payload);
  return m;
}

std::vector<uint8_t> encode_hello(const Hello& h) {
  state::Encoder e;
  e.u64(h.sections_hash);
  e.u64(h.ram_base);
  e.u64(h.ram_size);
  e.u32(static_cast<uint32_t>(h.config.size()));
  for (const auto& [k, v] : h.config) {
    e.str(k);
    e.str(v);
  }
  e.vec(h.drive_sizes);
  e.str(h.arbiter_pair);
  e.str(h.arbiter_token);
  e.u32(h.diff_after);
  e.u32(h.diff_words);
  e.u32(static_cast<uint32_t>(h.mode));
  return e.take();
}

Result<Hello> decode_hello(std::span<const uint8_t> payload) {
  state::Decoder d(payload);
  state::Decoder::Scope scope(d, "hello");
  Hello h;
  h.sections_hash = d.u64("sections_hash");
  h.ram_base = d.u64("ram_base");
  h.ram_size = d.u64("ram_size");
  const uint32_t n = d.u32("config");
  for (uint32_t i = 0; i < n && d.ok(); i++) {
    std::string k = d.str("config.key");
    std::string v = d.str("config.value");
    h.config.emplace_back(std::move(k), std::move(v));
  }
  h.drive_sizes = d.vec<uint64_t>("drive_sizes");
  h.arbiter_pair = d.str("arbiter_pair");
  h.arbiter_token = d.str("arbiter_token");
  h.diff_after = d.u32("diff_after");
  h.diff_words = d.u32("diff_words");
  const uint32_t mode = d.u32("mode");
  if (d.ok() && mode > static_cast<uint32_t>(Hello::Mode::kLockstep))
    return Error("hello: unknown mode " + std::to_string(mode));
  h.mode = static_cast<Hello::Mode>(mode);
  TANDEM_TRY(d.finish());
  return h;
}

namespace {
// The block part of a pages or disk message: encoding, checksum, bytes.
void put_block(state::Encoder& e, const state::EncodedBlock& block) {
  e.u32(block.encoding);
  e.u64(block.checksum);
  e.u32(static_cast<uint32_t>(block.data.size()));
  e.bytes(block.data.data(), block.data.size());
}

void get_block(state::Decoder& d, state::EncodedBlock& block) {
  block.encoding = d.u32("encoding");
  block.checksum = d.u64("checksum");
  std::span<const uint8_t> data = d.view("data", d.u32("size"));
  block.data.assign(data.begin(), data.end());
}

// A block's list of pages or chunks: 1 to kPagesPerMessage, each below
// `limit` and listed once; then the block's checksum.
template <typename T>
Status check_listed(const std::vector<T>& list, uint64_t limit, state::EncodedBlock& block, const std::string& msg,
                    const char* unit, const std::string& beyond) {
  if (list.empty() || list.size() > kPagesPerMessage)
    return Error(msg + " message lists " + std::to_string(list.size()) + " " + unit + "s (1 to " +
                 std::to_string(kPagesPerMessage) + " allowed)");
  std::unordered_set<T> seen;
  for (T x : list) {
    if (x >= limit) return Error(msg + " message: " + unit + " " + std::to_string(x) + " " + beyond);
    if (!seen.insert(x).second) return Error(msg + " message: " + unit + " " + std::to_string(x) + " listed twice");
  }
  block.page_count = static_cast<uint32_t>(list.size());
  if (state::format::checksum(block.data.data(), block.data.size()) != block.checksum)
    return Error(msg + " message: block checksum mismatch");
  return Ok();
}

Status unpack(const state::EncodedBlock& block, std::vector<uint8_t>& out, const char* msg) {
  out.resize(size_t{block.page_count} * mem::kPageSize);
  Status st = state::decode_block(block.encoding, block.data, out.data(), out.size());
  if (!st.ok()) return st.error().context(std::string(msg) + " message");
  return Ok();
}
}  // namespace

std::vector<uint8_t> encode_pages(std::span<const uint32_t> pages, const state::EncodedBlock& block) {
  state::Encoder e;
  e.vec(pages);
  put_block(e, block);
  return e.take();
}

Result<Pages> decode_pages(std::span<const uint8_t> payload, uint64_t page_count) {
  state::Decoder d(payload);
  state::Decoder::Scope scope(d, "pages");
  Pages p;
  p.pages = d.vec<uint32_t>("list");
  get_block(d, p.block);
  TANDEM_TRY(d.finish());
  TANDEM_TRY(check_listed(p.pages, page_count, p.block, "pages", "page",
                          "is outside RAM (" + std::to_string(page_count) + " pages)"));
  return p;
}

Status decode_pages_into(const Pages& p, std::vector<uint8_t>& out) { return unpack(p.block, out, "pages"); }

std::vector<uint8_t> encode_disk(uint32_t drive, std::span<const uint64_t> chunks, const state::EncodedBlock& block) {
  state::Encoder e;
  e.u32(drive);
  e.vec(chunks);
  put_block(e, block);
  return e.take();
}

Result<Disk> decode_disk(std::span<const uint8_t> payload, const std::vector<uint64_t>& drive_chunk_counts) {
  state::Decoder d(payload);
  state::Decoder::Scope scope(d, "disk");
  Disk x;
  x.drive = d.u32("drive");
  x.chunks = d.vec<uint64_t>("chunks");
  get_block(d, x.block);
  TANDEM_TRY(d.finish());
  if (x.drive >= drive_chunk_counts.size() || drive_chunk_counts[x.drive] == 0)
    return Error("disk message for drive " + std::to_string(x.drive) + ", which is not replicated");
  TANDEM_TRY(check_listed(x.chunks, drive_chunk_counts[x.drive], x.block, "disk", "chunk",
                          "is past the end of drive " + std::to_string(x.drive)));
  return x;
}

Status decode_disk_into(const Disk& x, std::vector<uint8_t>& out) { return unpack(x.block, out, "disk"); }

std::vector<uint8_t> encode_end(const End& x) {
  state::Encoder e;
  e.u64(x.pages);
  e.u32(x.page_messages);
  e.u32(x.state_messages);
  e.u64(x.disk_chunks);
  e.u32(x.disk_messages);
  e.u32(x.diff_messages);
  return e.take();
}

Result<End> decode_end(std::span<const uint8_t> payload) {
  state::Decoder d(payload);
  state::Decoder::Scope scope(d, "end");
  End x;
  x.pages = d.u64("pages");
  x.page_messages = d.u32("page_messages");
  x.state_messages = d.u32("state_messages");
  x.disk_chunks = d.u64("disk_chunks");
  x.disk_messages = d.u32("disk_messages");
  x.diff_messages = d.u32("diff_messages");
  TANDEM_TRY(d.finish());
  return x;
}

uint64_t page_hash(const uint8_t* page) { return state::format::checksum(page, mem::kPageSize); }

uint64_t bases_hash(std::span<const uint64_t> page_hashes) {
  std::vector<uint8_t> bytes(page_hashes.size() * 8);
  for (size_t i = 0; i < page_hashes.size(); i++) store_le<uint64_t>(&bytes[i * 8], page_hashes[i]);
  return state::format::checksum(bytes.data(), bytes.size());
}

std::vector<uint8_t> encode_diffs(std::span<const uint32_t> pages, uint64_t bases, std::span<const uint16_t> sizes,
                                  std::span<const uint8_t> diffs, state::BlockEncoder& encoder) {
  std::vector<uint8_t> raw(pages.size() * 6 + diffs.size());
  for (size_t i = 0; i < pages.size(); i++) {
    store_le<uint32_t>(&raw[i * 4], i ? pages[i] - pages[i - 1] : pages[0]);
    store_le<uint16_t>(&raw[pages.size() * 4 + i * 2], sizes[i]);
  }
  if (!diffs.empty()) std::memcpy(&raw[pages.size() * 6], diffs.data(), diffs.size());
  state::EncodedBlock block;
  encoder.encode_bytes(raw.data(), raw.size(), block);
  state::Encoder e;
  e.u32(static_cast<uint32_t>(pages.size()));
  e.u64(bases);
  e.u32(static_cast<uint32_t>(raw.size()));
  put_block(e, block);
  return e.take();
}

Result<Diffs> decode_diffs(std::span<const uint8_t> payload, uint64_t page_count) {
  state::Decoder d(payload);
  state::Decoder::Scope scope(d, "diffs");
  Diffs x;
  const uint32_t n = d.u32("count");
  x.bases_hash = d.u64("bases_hash");
  const uint32_t raw_size = d.u32("raw_size");
  state::EncodedBlock block;
  get_block(d, block);
  TANDEM_TRY(d.finish());
  if (n == 0 || n > kDiffsPerMessage)
    return Error("diffs message holds " + std::to_string(n) + " diffs (1 to " + std::to_string(kDiffsPerMessage) +
                 " allowed)");
  if (raw_size < n * 6 || raw_size > n * (6 + kMaxPageDiff))
    return Error("diffs message: " + std::to_string(raw_size) + " bytes cannot hold " + std::to_string(n) + " diffs");
  if (state::format::checksum(block.data.data(), block.data.size()) != block.checksum)
    return Error("diffs message: block checksum mismatch");
  std::vector<uint8_t> raw(raw_size);
  if (Status st = state::decode_block(block.encoding, block.data, raw.data(), raw.size()); !st.ok())
    return st.error().context("diffs message");
  x.pages.resize(n);
  x.offsets.resize(n + 1);
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t v = load_le<uint32_t>(&raw[i * 4]);
    if (i > 0 && (v == 0 || v >= page_count - x.pages[i - 1]))
      return Error("diffs message: the pages are not ascending inside RAM (" + std::to_string(page_count) +
                   " pages)");
    x.pages[i] = i ? x.pages[i - 1] + v : v;
    if (x.pages[i] >= page_count)
      return Error("diffs message: page " + std::to_string(x.pages[i]) + " is outside RAM (" +
                   std::to_string(page_count) + " pages)");
    const uint16_t size = load_le<uint16_t>(&raw[n * 4 + i * 2]);
    if (size > kMaxPageDiff) return Error("diffs message: a diff of " + std::to_string(size) + " bytes");
    x.offsets[i + 1] = x.offsets[i] + size;
  }
  if (x.offsets[n] != raw_size - n * 6)
    return Error("diffs message: the diffs' sizes add up to " + std::to_string(x.offsets[n]) + " bytes, " +
                 std::to_string(raw_size - n * 6) + " are there");
  x.diffs.assign(raw.begin() + n * 6, raw.end());
  return x;
}

std::vector<uint8_t> encode_feedback(const Feedback& f) {
  state::Encoder e;
  e.vec(f.added);
  e.vec(f.removed);
  e.vec(f.refused);
  return e.take();
}

Result<Feedback> decode_feedback(std::span<const uint8_t> payload, uint64_t page_count) {
  state::Decoder d(payload);
  state::Decoder::Scope scope(d, "feedback");
  Feedback f;
  f.added = d.vec<uint32_t>("added");
  f.removed = d.vec<uint32_t>("removed");
  f.refused = d.vec<uint32_t>("refused");
  TANDEM_TRY(d.finish());
  for (const auto* list : {&f.added, &f.removed, &f.refused})
    for (uint32_t p : *list)
      if (p >= page_count)
        return Error("feedback message: page " + std::to_string(p) + " is outside RAM (" + std::to_string(page_count) +
                     " pages)");
  return f;
}

std::vector<uint8_t> encode_state(const state::Snapshot& snap) {
  state::Encoder e;
  std::vector<state::Section> sections = state::encode_sections(snap);
  e.u32(static_cast<uint32_t>(sections.size()));
  for (const auto& s : sections) {
    e.u32(s.kind);
    e.u32(s.instance);
    e.u32(static_cast<uint32_t>(s.payload.size()));
    e.bytes(s.payload.data(), s.payload.size());
  }
  return e.take();
}

Result<state::Snapshot> decode_state(std::span<const uint8_t> payload, uint64_t ram_base, uint64_t ram_size) {
  state::Decoder d(payload);
  state::Decoder::Scope scope(d, "state");
  const uint32_t n = d.u32("sections");
  std::vector<state::SectionView> views;
  for (uint32_t i = 0; i < n && d.ok(); i++) {
    state::SectionView v;
    v.kind = d.u32("kind");
    v.instance = d.u32("instance");
    v.payload = d.view("section", d.u32("size"));
    if (d.ok()) views.push_back(v);
  }
  TANDEM_TRY(d.finish());
  return state::decode_sections(views, ram_base, ram_size);
}

std::vector<uint8_t> encode_text(const std::string& text) { return {text.begin(), text.end()}; }
std::string decode_text(std::span<const uint8_t> payload) {
  return std::string(payload.begin(), payload.end()).substr(0, 4096);
}

}  // namespace tandem::replication
