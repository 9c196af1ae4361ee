// The replication stream (docs/replication-protocol.md): a primary sends a
// backup checkpoints over one TCP connection; the backup acknowledges each
// once committed. Every message is a 32-byte header and a payload, both
// covered by the header's XXH3 checksum:
//
//   u32 magic "TRPL"  u16 protocol version  u16 type
//   u64 epoch         u32 payload length    u32 reserved (0)
//   u64 checksum (XXH3 of the 24 bytes above, then the payload)
//
// The protocol version is separate from the snapshot format's: the state
// sections inside are versioned each on their own (state/sections.h).
// Peers speak one version; the header's first fields and the error
// message keep their layout in every version, so that a peer of another
// version is told why it is refused (check_header reads an error message
// of any version, and the backup answers in the version it was spoken to).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "state/page_block.h"
#include "state/snapshot.h"

namespace tandem::replication {

inline constexpr uint32_t kMagic = 0x4c505254;  // "TRPL" little-endian
// 2: the hello names the arbiter's pair and standby token. 3: page diffs
// (diffs and feedback messages, the hello's diff thresholds). 4: the
// hello's mode, and quasi-lockstep fault tolerance's messages (src/ft/).
inline constexpr uint16_t kProtocolVersion = 5;
inline constexpr size_t kHeaderSize = 32;
// A pages message holds at most one block of this many pages; no payload
// is larger than a raw block and its page list, or a state message.
inline constexpr uint32_t kPagesPerMessage = 32;
// A diffs message holds at most this many page diffs (each at most
// kMaxPageDiff bytes, most far smaller).
inline constexpr uint32_t kDiffsPerMessage = 256;
inline constexpr uint32_t kMaxPayload = 64u << 20;

enum class MsgType : uint16_t {
  kHello = 1,      // primary -> backup: machine configuration, RAM layout
  kReady = 2,      // backup -> primary: the hello is accepted
  kBegin = 3,      // a checkpoint of `epoch` starts
  kPages = 4,      // one encoded block of pages
  kState = 5,      // CPU and device state: the snapshot's sections
  kEnd = 6,        // the checkpoint is complete: counts to check
  kAck = 7,        // backup -> primary: checkpoint `epoch` is committed
  kHeartbeat = 8,  // either way, when nothing else was sent for a while
  kError = 9,      // either way: why the sender gives up on the stream
  kDisk = 10,      // one encoded block of a drive's 4 KiB chunks
  kDiffs = 11,     // primary -> backup: pages as diffs against the last sent
  kFeedback = 12,  // backup -> primary: diff candidates, refused diffs
  // Quasi-lockstep fault tolerance (src/ft/ft_protocol.h has the payloads):
  kFtInput = 13,    // primary -> secondary: a frame its guest received
  kFtOutput = 14,   // secondary -> primary: a frame its guest sent
  kFtEntropy = 15,  // primary -> secondary: virtio-rng bytes its guest got
  kFtSync = 16,     // primary -> secondary: stop for resync `epoch`
  kFtDirty = 17,    // secondary -> primary: the pages its guest wrote since the last sync
  kFtMapping = 18,  // primary -> secondary: TCP sequence mappings (for after a failover)
  kFtConsole = 19,  // primary -> secondary: console input its guest got
};
inline constexpr MsgType kLastMsgType = MsgType::kFtConsole;
// Types only a fault-tolerant pair exchanges; replication hands them to
// its extension handler.
inline bool is_ft_message(MsgType t) { return t >= MsgType::kFtInput && t <= kLastMsgType; }
const char* msg_name(MsgType t);

struct Message {
  MsgType type = MsgType::kHeartbeat;
  uint64_t epoch = 0;
  std::vector<uint8_t> payload;
};

// Header + payload as sent; `payload` may be empty.
// `version` other than ours: only to answer a peer of that version with an
// error message it can read.
std::vector<uint8_t> encode_message(MsgType type, uint64_t epoch, std::span<const uint8_t> payload,
                                    uint16_t version = kProtocolVersion);
// Checks a received header and returns the payload length it announces;
// the error names what was wrong (magic, version, type, length). An error
// message is accepted in any version.
Result<uint32_t> check_header(std::span<const uint8_t, kHeaderSize> header);
// The version a header announces.
uint16_t header_version(std::span<const uint8_t, kHeaderSize> header);
// Checks the checksum over header and payload and builds the message.
Result<Message> finish_message(std::span<const uint8_t, kHeaderSize> header, std::vector<uint8_t> payload);

// --- payloads ---
struct Hello {
  uint64_t sections_hash = 0;  // state::section_kinds_hash() of the sender
  uint64_t ram_base = 0;
  uint64_t ram_size = 0;
  state::ConfigEntries config;
  // Bytes of each drive (in --drive order) whose writes are replicated;
  // 0 for a read-only drive, which the backup opens at its own path.
  std::vector<uint64_t> drive_sizes;
  // With an arbiter (replication/arbiter.h): the pair and the standby
  // token the primary wrote for this backup; both empty without.
  std::string arbiter_pair, arbiter_token;
  // Page diffs: the backup reports as candidates the pages whose last
  // `diff_after` versions each differed from the one before in at most
  // `diff_words` 8-byte words. diff_after 0: the primary sends no diffs
  // and wants no feedback.
  uint32_t diff_after = 0;
  uint32_t diff_words = 0;
  // kCheckpoint: a backup that runs nothing until it takes over;
  // kLockstep: a quasi-lockstep secondary (src/ft/), running from
  // checkpoint 0 on. Each side refuses the other mode.
  enum class Mode : uint32_t { kCheckpoint = 0, kLockstep = 1 };
  Mode mode = Mode::kCheckpoint;
};
std::vector<uint8_t> encode_hello(const Hello& h);
Result<Hello> decode_hello(std::span<const uint8_t> payload);

// The pages of one block, ascending or not, each once.
struct Pages {
  std::vector<uint32_t> pages;
  state::EncodedBlock block;
};
std::vector<uint8_t> encode_pages(std::span<const uint32_t> pages, const state::EncodedBlock& block);
// Checks the page list against `page_count` (RAM pages) and the block's
// checksum; `decode_pages_into` then decompresses it.
Result<Pages> decode_pages(std::span<const uint8_t> payload, uint64_t page_count);
Status decode_pages_into(const Pages& p, std::vector<uint8_t>& out);

struct End {
  uint64_t pages = 0;          // pages sent in this checkpoint (all messages, whole or diffs)
  uint32_t page_messages = 0;
  uint32_t state_messages = 0;
  uint64_t disk_chunks = 0;    // drive chunks, all drives
  uint32_t disk_messages = 0;
  uint32_t diff_messages = 0;  // diffs messages (their pages are in `pages`)
};

// Chunks of one drive, each once, in one block.
struct Disk {
  uint32_t drive = 0;
  std::vector<uint64_t> chunks;
  state::EncodedBlock block;
};
std::vector<uint8_t> encode_disk(uint32_t drive, std::span<const uint64_t> chunks, const state::EncodedBlock& block);
// Checks the chunks against the drive's `chunk_count` and the checksum.
Result<Disk> decode_disk(std::span<const uint8_t> payload, const std::vector<uint64_t>& drive_chunk_counts);
Status decode_disk_into(const Disk& d, std::vector<uint8_t>& out);
std::vector<uint8_t> encode_end(const End& e);
Result<End> decode_end(std::span<const uint8_t> payload);

// Pages sent as diffs (replication/page_diff.h) against the version the
// primary sent last, which the backup holds; `bases_hash` covers those
// versions (bases_hash() of their page_hash()es, in list order), so a
// backup holding something else refuses the message's diffs rather than
// build wrong pages on it. On the wire the page list (as differences from
// the previous page, ascending), the diffs' sizes and the diffs travel as
// one block, compressed together.
struct Diffs {
  std::vector<uint32_t> pages;
  uint64_t bases_hash = 0;
  std::vector<uint32_t> offsets;  // diff i is bytes [offsets[i], offsets[i+1]) of `diffs`
  std::vector<uint8_t> diffs;
  std::span<const uint8_t> diff(size_t i) const {
    return std::span<const uint8_t>(diffs).subspan(offsets[i], offsets[i + 1] - offsets[i]);
  }
};
uint64_t page_hash(const uint8_t* page);
uint64_t bases_hash(std::span<const uint64_t> page_hashes);
// `pages` ascending, 1 to kDiffsPerMessage; `diffs` the diffs concatenated
// in that order, `sizes` their sizes.
std::vector<uint8_t> encode_diffs(std::span<const uint32_t> pages, uint64_t bases_hash,
                                  std::span<const uint16_t> sizes, std::span<const uint8_t> diffs,
                                  state::BlockEncoder& encoder);
// Checks the checksum, the list (ascending, inside RAM) and the sizes, and
// decompresses; each diff's runs are checked when it is applied.
Result<Diffs> decode_diffs(std::span<const uint8_t> payload, uint64_t page_count);

// The backup's feedback: pages that became diff candidates and that
// stopped being ones since the last feedback, and pages whose diffs it
// refused (their bases differed from what it holds) in checkpoint
// `epoch`, which it needs whole.
struct Feedback {
  std::vector<uint32_t> added, removed, refused;
};
std::vector<uint8_t> encode_feedback(const Feedback& f);
Result<Feedback> decode_feedback(std::span<const uint8_t> payload, uint64_t page_count);

std::vector<uint8_t> encode_state(const state::Snapshot& snap);
Result<state::Snapshot> decode_state(std::span<const uint8_t> payload, uint64_t ram_base, uint64_t ram_size);

std::vector<uint8_t> encode_text(const std::string& text);
std::string decode_text(std::span<const uint8_t> payload);

}  // namespace tandem::replication
