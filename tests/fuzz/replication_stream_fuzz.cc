// Harness: the replication stream as a backup parses it (replication/
// protocol.h): messages split by check_header, checked by finish_message,
// each payload through its decoder. The backup's own message handling
// (Backup::on_message) needs a Connection on a socket and is not driven.
//
// The input is a stream of messages, except that the harness recomputes
// each header's checksum (the XXH3 over header and payload) so that the
// payload decoders see mutated payloads; finish_message's own check runs
// on the unmodified header too, so its failure path is exercised as well.
#include <array>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_util.h"
#include "replication/page_diff.h"
#include "replication/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  using namespace tandem::replication;
  // The RAM layout and drives a hello announces, as the backup keeps them.
  uint64_t ram_base = 0x80000000, ram_size = 16u << 20;
  std::vector<uint64_t> drive_chunks;
  size_t off = 0;
  for (int messages = 0; messages < 64 && size - off >= kHeaderSize; messages++) {
    std::array<uint8_t, kHeaderSize> header;
    std::memcpy(header.data(), data + off, kHeaderSize);
    off += kHeaderSize;
    auto len = check_header(header);
    if (!len.ok()) return 0;
    if (*len > size - off) return 0;  // the stream ends inside the payload
    std::vector<uint8_t> payload(data + off, data + off + *len);
    off += *len;
    (void)finish_message(header, payload);  // as sent: the checksum may be wrong
    uint16_t type;
    uint64_t epoch;
    std::memcpy(&type, header.data() + 6, 2);
    std::memcpy(&epoch, header.data() + 8, 8);
    std::vector<uint8_t> fixed = encode_message(static_cast<MsgType>(type), epoch, payload);
    std::array<uint8_t, kHeaderSize> fixed_header;
    std::memcpy(fixed_header.data(), fixed.data(), kHeaderSize);
    auto msg = finish_message(fixed_header, std::move(payload));
    TANDEM_FUZZ_CHECK(msg.ok());
    const std::vector<uint8_t>& p = msg->payload;
    switch (msg->type) {
      case MsgType::kHello:
        if (auto h = decode_hello(p); h.ok()) {
          ram_base = h->ram_base;
          ram_size = h->ram_size;
          drive_chunks.clear();
          for (uint64_t bytes : h->drive_sizes) drive_chunks.push_back((bytes + 4095) / 4096);
        }
        break;
      case MsgType::kPages:
        if (auto pg = decode_pages(p, ram_size / 4096); pg.ok()) {
          for (uint32_t page : pg->pages) TANDEM_FUZZ_CHECK(page < ram_size / 4096);
          std::vector<uint8_t> out;
          (void)decode_pages_into(*pg, out);
        }
        break;
      case MsgType::kDisk:
        if (auto d = decode_disk(p, drive_chunks); d.ok()) {
          TANDEM_FUZZ_CHECK(d->drive < drive_chunks.size());
          for (uint64_t c : d->chunks) TANDEM_FUZZ_CHECK(c < drive_chunks[d->drive]);
          std::vector<uint8_t> out;
          (void)decode_disk_into(*d, out);
        }
        break;
      case MsgType::kDiffs:
        if (auto d = decode_diffs(p, ram_size / 4096); d.ok()) {
          std::vector<uint8_t> page(4096);
          for (size_t i = 0; i < d->pages.size(); i++) {
            TANDEM_FUZZ_CHECK(d->pages[i] < ram_size / 4096);
            (void)apply_page_diff(d->diff(i), page.data());
          }
        }
        break;
      case MsgType::kFeedback:
        (void)decode_feedback(p, ram_size / 4096);
        break;
      case MsgType::kState:
        (void)decode_state(p, ram_base, ram_size);
        break;
      case MsgType::kEnd:
        (void)decode_end(p);
        break;
      case MsgType::kError:
        (void)decode_text(p);
        break;
      default:
        break;
    }
  }
  return 0;
}
