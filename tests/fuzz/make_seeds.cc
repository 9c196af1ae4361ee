// Writes the fuzz harnesses' seed corpora (tests/fuzz/corpus/<harness>/)
// from real artefacts: snapshot files of a bare machine that ran, the
// replication messages a primary sends for it, ELF files as the tests
// build them, virtio requests as a driver lays them out, monitor
// requests as clients send them, and two guests' output as the
// comparator sees it. Run by bench/fuzz/make-seeds after a
// format change; the files are committed.
//
//   fuzz_make_seeds DIR   (DIR: tests/fuzz/corpus)
#include <elf.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../unit/elf_writer.h"
#include "../unit/ft/ft_frames.h"
#include "board/machine.h"
#include "ft/seq_map.h"
#include "replication/page_diff.h"
#include "replication/protocol.h"
#include "state/machine_snapshot.h"
#include "state/page_block.h"
#include "state/sections.h"
#include "state/snapshot_file.h"

namespace {

using namespace tandem;
namespace fs = std::filesystem;
constexpr uint64_t kBase = 0x80000000;

void put(const fs::path& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
void put_text(const fs::path& dir, const std::string& name, const std::string& text) {
  put(dir, name, std::vector<uint8_t>(text.begin(), text.end()));
}
std::vector<uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
template <typename T>
void le(std::vector<uint8_t>& v, size_t off, T x) {
  std::memcpy(v.data() + off, &x, sizeof x);
}

// x5 walks 8 pages, storing its counter: a machine with some pages in use.
std::vector<uint8_t> program() {
  return {
      0xb7, 0x02, 0x01, 0x80,  // lui  x5, 0x80010
      0x13, 0x03, 0x00, 0x00,  // addi x6, x0, 0
      0x23, 0xb0, 0x62, 0x00,  // sd   x6, 0(x5)
      0x13, 0x03, 0x13, 0x00,  // addi x6, x6, 1
      0x6f, 0xf0, 0x9f, 0xff,  // j    -8
  };
}

std::unique_ptr<board::Machine> machine(const fs::path& tmp) {
  std::string kernel = (tmp / "seed.elf").string();
  test::write_elf_file(kernel, EM_RISCV, kBase, kBase, program(), 4096);
  board::MachineConfig c;
  c.ram_size = 1 << 20;
  c.bios = "none";
  c.kernel = kernel;
  c.rng = false;
  c.icount = true;
  auto m = board::Machine::create(c);
  if (!m.ok()) {
    fprintf(stderr, "machine: %s\n", m.error().message().c_str());
    exit(1);
  }
  (*m)->hart(0).run(10000);
  // A few pages of varied contents, so that blocks hold data.
  for (uint64_t p = 0; p < 8; p++) {
    std::vector<uint8_t> page(4096, static_cast<uint8_t>(p * 37));
    (void)(*m)->ram().write(kBase + 0x20000 + p * 0x3000, page.data(), page.size());
  }
  return std::move(m).value();
}

void snapshots(board::Machine& m, const fs::path& tmp, const fs::path& out) {
  state::Snapshot snap = state::capture_machine(m);
  for (auto [name, codec, per_block] : {std::tuple{"lz4.snap", state::Codec::kLz4, 32u},
                                        std::tuple{"zstd.snap", state::Codec::kZstd, 4u}}) {
    state::WriteOptions o;
    o.codec = codec;
    o.pages_per_block = per_block;
    o.threads = 1;
    fs::path p = tmp / name;
    auto w = state::write_snapshot(p.string(), snap, m.ram(), o);
    if (!w.ok()) {
      fprintf(stderr, "snapshot: %s\n", w.error().message().c_str());
      exit(1);
    }
    put(out / "snapshot_reader", name, slurp(p));
  }
}

void stream(board::Machine& m, const fs::path& out) {
  using namespace replication;
  Hello h;
  h.sections_hash = state::section_kinds_hash();
  h.ram_base = m.ram().base();
  h.ram_size = m.ram().size();
  h.config = state::capture_machine(m).config;
  h.drive_sizes = {64 << 10};
  h.arbiter_pair = "127.0.0.1:7000";
  h.arbiter_token = "primary@host:1:0000abcd#1";
  std::vector<uint8_t> s = encode_message(MsgType::kHello, 0, encode_hello(h));
  auto add = [&s](MsgType t, uint64_t epoch, const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> msg = encode_message(t, epoch, payload);
    s.insert(s.end(), msg.begin(), msg.end());
  };
  add(MsgType::kBegin, 1, {});
  state::BlockEncoder enc;
  std::vector<uint8_t> ram(4 * 4096);
  (void)m.ram().read(kBase + 0x10000, ram.data(), ram.size());
  state::EncodedBlock block;
  enc.encode(ram.data(), 4, block);
  std::vector<uint32_t> pages = {16, 17, 18, 19};
  add(MsgType::kPages, 1, encode_pages(pages, block));
  std::vector<uint64_t> chunks = {0, 3, 7, 9};
  add(MsgType::kDisk, 1, encode_disk(0, chunks, block));
  // Pages 16 and 18 as diffs against the pages above with a word changed.
  std::vector<uint8_t> diffs, now(ram.begin(), ram.begin() + 4096);
  now[40] ^= 3;
  std::vector<uint16_t> sizes = {static_cast<uint16_t>(encode_page_diff(ram.data(), now.data(), diffs))};
  now.assign(ram.begin() + 2 * 4096, ram.begin() + 3 * 4096);
  now[4000] ^= 0x80;
  sizes.push_back(static_cast<uint16_t>(encode_page_diff(ram.data() + 2 * 4096, now.data(), diffs)));
  std::vector<uint32_t> diff_pages = {16, 18};
  std::vector<uint64_t> hashes = {page_hash(ram.data()), page_hash(ram.data() + 2 * 4096)};
  add(MsgType::kDiffs, 1, encode_diffs(diff_pages, bases_hash(hashes), sizes, diffs, enc));
  add(MsgType::kState, 1, encode_state(state::capture_machine(m)));
  End end{6, 1, 1, 4, 1, 1};
  add(MsgType::kEnd, 1, encode_end(end));
  Feedback f;
  f.added = {16, 17};
  f.removed = {19};
  f.refused = {18};
  add(MsgType::kFeedback, 1, encode_feedback(f));
  add(MsgType::kAck, 1, {});
  add(MsgType::kHeartbeat, 1, {});
  add(MsgType::kError, 1, encode_text("backup: no space left"));
  put(out / "replication_stream", "checkpoint.bin", s);
}

void elves(const fs::path& tmp, const fs::path& out) {
  fs::path p = tmp / "a.elf";
  test::write_elf_file(p.string(), EM_RISCV, kBase, kBase, program(), 4096);
  put(out / "elf_loader", "exec.bin", slurp(p));
  test::write_elf_file(p.string(), EM_RISCV, kBase + 0x1000, kBase + 0x1000, program(), program().size());
  put(out / "elf_loader", "exact.bin", slurp(p));
}

// The harness's set-up bytes (see virtio_queue_fuzz.cc), then RAM with a
// queue of 8 at 0x1000 (descriptors), 0x2000 (avail), 0x3000 (used).
std::vector<uint8_t> virtio_input(uint8_t device, bool indirect) {
  std::vector<uint8_t> v(16 + 0x6000, 0);
  v[0] = device;
  v[1] = 1;
  le<uint16_t>(v, 2, 8);
  le<uint16_t>(v, 4, 0x1000 / 16);
  le<uint16_t>(v, 6, 0x2000 / 2);
  le<uint16_t>(v, 8, 0x3000 / 4);
  v[10] = 1;
  auto desc = [&v](uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    size_t o = 16 + table + 16 * i;
    le<uint64_t>(v, o, kBase + addr);
    le<uint32_t>(v, o + 8, len);
    le<uint16_t>(v, o + 12, flags);
    le<uint16_t>(v, o + 14, next);
  };
  uint64_t table = indirect ? 0x4800 : 0x1000;
  if (device & 1) {  // virtio-blk: read sector 2 (header, data, status)
    le<uint32_t>(v, 16 + 0x4000, 0);
    le<uint64_t>(v, 16 + 0x4008, 2);
    desc(table, 0, 0x4000, 16, 1, 1);
    desc(table, 1, 0x5000, 512, 3, 2);
    desc(table, 2, 0x4100, 1, 2, 0);
  } else {  // virtio-rng: one 64-byte buffer
    desc(table, 0, 0x5000, 64, 2, 0);
  }
  if (indirect) desc(0x1000, 0, 0x4800, (device & 1) ? 48 : 16, 4, 0);
  le<uint16_t>(v, 16 + 0x2000 + 2, 1);  // avail.idx = 1, ring[0] = 0
  return v;
}

void virtio(const fs::path& out) {
  put(out / "virtio_queue", "rng.bin", virtio_input(0, false));
  put(out / "virtio_queue", "rng_indirect.bin", virtio_input(0, true));
  put(out / "virtio_queue", "blk_read.bin", virtio_input(1, false));
  put(out / "virtio_queue", "blk_indirect.bin", virtio_input(1, true));
}

void monitor(const fs::path& out) {
  fs::path d = out / "monitor";
  put_text(d, "status.txt", "{\"execute\": \"query-status\", \"id\": 1}\n");
  put_text(d, "stop_cont.txt", "{\"execute\": \"stop\"}\n{\"execute\": \"cont\"}\n{\"execute\":\"quit\"}\n");
  put_text(d, "queries.txt",
           "{\"execute\": \"query-snapshot\"}\n{\"execute\": \"query-restore\"}\n"
           "{\"execute\": \"query-replication\"}\n");
  put_text(d, "save.txt", "{\"execute\": \"snapshot-save\", \"arguments\": {\"file\": \"vm.snap\"}}\n");
  put_text(d, "suspend.txt", "{\"execute\": \"suspend\", \"arguments\": {\"file\": \"vm.snap\"}, \"id\": \"a\"}\n");
  put_text(d, "replicate.txt",
           "{\"execute\": \"replicate\", \"arguments\": {\"to\": \"127.0.0.1:1\", \"epoch\": 20}}\n");
  put_text(d, "bad.txt", "{\"execute\": 3}\nnot json\n[1,2]\n{\"execute\": \"x\", \"arguments\": []}\n");
  put_text(d, "qmp.txt",
           "{\"execute\": \"query-version\"}\n{\"execute\": \"query-commands\"}\n{\"execute\": \"query-name\"}\n"
           "{\"execute\": \"system_powerdown\"}\n{\"execute\": \"system_reset\"}\n"
           "{\"execute\": \"qmp_capabilities\"}\n");
  put_text(d, "qmp_bad.txt",
           "{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}\n{\"execute\": \"stop\", \"y\": 2}\n"
           "{\"arguments\": {}}\n\"text\" 42 ]\n");
  put_text(d, "split.txt", "{\"execute\":\n \"query-status\",\n \"id\": [1, \"}\"]}{\"execute\": \"cont\"}\n");
}

// Records for ft_comparator_fuzz.cc: operation, 16-bit length, bytes.
void record(std::vector<uint8_t>& out, uint8_t op, const std::vector<uint8_t>& bytes) {
  out.push_back(op);
  out.push_back(uint8_t(bytes.size() >> 8));
  out.push_back(uint8_t(bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void comparator(const fs::path& out) {
  using namespace ft::test;
  enum : uint8_t { kPrimary, kSecondary, kToSecondary, kRelease, kResync, kDecode, kMap };
  auto guest = [](uint32_t isn, uint32_t rel, std::string data, uint8_t flags, bool v6) {
    return ft::test::out({.seq = isn + rel, .ack = 70001, .flags = flags, .data = std::move(data),
                          .ts = std::pair{isn / 7, 900u}, .v6 = v6});
  };
  for (bool v6 : {false, true}) {
    std::vector<uint8_t> s;
    record(s, kPrimary, guest(1000, 0, "", kSyn | kAck, v6));
    record(s, kSecondary, guest(900000, 0, "", kSyn | kAck, v6));
    record(s, kPrimary, guest(1000, 1, "hello world", kAck | kPsh, v6));
    record(s, kSecondary, guest(900000, 1, "hello ", kAck | kPsh, v6));
    record(s, kRelease, {});
    record(s, kToSecondary, in({.seq = 70001, .ack = 1007, .data = "more", .ts = std::pair{901u, 142u},
                               .sack = {{1010, 1012}}, .v6 = v6}));
    record(s, kSecondary, guest(900000, 7, "world", kAck | kPsh | kFin, v6));
    record(s, kPrimary, guest(1000, 12, "", kAck | kFin, v6));
    record(s, kMap, in({.seq = 70005, .ack = 1013, .flags = kAck | kFin, .v6 = v6}));
    record(s, kRelease, {});
    put(out / "ft_comparator", v6 ? "tcp6.bin" : "tcp4.bin", s);
  }
  std::vector<uint8_t> d;
  record(d, kPrimary, udp_out(5353, 53, "query"));
  record(d, kSecondary, udp_out(5353, 53, "queri"));
  record(d, kPrimary, ping_out(7, 1, "ping"));
  record(d, kPrimary, net::test::arp(1, net::test::kBroadcastMac, kGuestMac, kGuest4, {}, kClient4));
  record(d, kSecondary, net::test::arp(1, net::test::kBroadcastMac, kGuestMac, kGuest4, {}, kClient4));
  record(d, kRelease, {});
  record(d, kResync, {});
  ft::TcpTuple t;
  Frame f = in({});
  ft::tcp_tuple(f.data(), f.size(), false, &t);
  record(d, kDecode, ft::encode({t, 5, 6}));
  record(d, kMap, f);
  put(out / "ft_comparator", "datagrams.bin", d);
}

// What curl sends, requests pipelined (HEAD, HTTP/1.0, the absolute
// form, a query), a request with a body, and garbage.
void status_http(const fs::path& out) {
  fs::path d = out / "status_http";
  put_text(d, "curl.txt",
           "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n");
  put_text(d, "pipelined.txt",
           "GET / HTTP/1.1\r\nHost: h\r\n\r\nHEAD /status.json?t=1 HTTP/1.1\r\nHost: h\r\n\r\n"
           "GET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
           "GET http://h/metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  put_text(d, "post.txt", "POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
  put_text(d, "garbage.txt", "GARBAGE\r\n\r\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_make_seeds DIR\n");
    return 2;
  }
  fs::path out = argv[1];
  std::string tmpl = (fs::temp_directory_path() / "tandem-seeds-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  fs::path tmp = tmpl;
  {
    auto m = machine(tmp);
    snapshots(*m, tmp, out);
    stream(*m, out);
  }
  elves(tmp, out);
  virtio(out);
  monitor(out);
  comparator(out);
  status_http(out);
  fs::remove_all(tmp);
  return 0;
}
