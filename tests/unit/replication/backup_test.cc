// The backup against a primary played by the test over loopback: what it
// commits, what it refuses, and the VM it builds when the primary is lost.
#include "replication/backup.h"

#include <gtest/gtest.h>

#include <future>

#include "../state/bare_machine.h"
#include "replication/connection.h"
#include "replication/page_diff.h"
#include "state/machine_snapshot.h"
#include "state/sections.h"

namespace tandem::replication {
namespace {

using state::testing::config;
using state::testing::memory_of;

struct Pair {
  std::unique_ptr<board::Machine> source;
  std::unique_ptr<Backup> backup;
  // serve()'s machine, or its error in `serve_error`.
  std::future<std::unique_ptr<board::Machine>> served;
  std::string serve_error;

  Pair() {
    auto m = board::Machine::create(config());
    EXPECT_TRUE(m.ok()) << m.error().message();
    source = std::move(m).value();
    source->hart(0).run(200'000);
    BackupOptions o;
    o.listen = {"127.0.0.1", 0};
    o.quiet = true;
    auto b = Backup::listen(o);
    EXPECT_TRUE(b.ok()) << b.error().message();
    backup = std::move(b).value();
    served = std::async(std::launch::async, [this]() -> std::unique_ptr<board::Machine> {
      auto m = backup->serve();
      if (!m.ok()) {
        serve_error = m.error().message();
        return nullptr;
      }
      return std::move(m).value();
    });
  }
  std::unique_ptr<Connection> connect() {
    auto c = Connection::connect({"127.0.0.1", backup->port()});
    EXPECT_TRUE(c.ok()) << c.error().message();
    return std::move(c).value();
  }
  Message expect_reply(Connection& c) {
    for (;;) {
      auto m = c.receive(5000);
      EXPECT_TRUE(m.ok() && *m) << (m.ok() ? "no reply" : m.error().message());
      if (!m.ok() || !*m) return {};
      if ((*m)->type != MsgType::kHeartbeat) return **m;
    }
  }
  void hello(Connection& c, uint32_t diff_after = 0, uint32_t diff_words = 0) {
    Hello h;
    h.diff_after = diff_after;
    h.diff_words = diff_words;
    h.sections_hash = state::section_kinds_hash();
    h.ram_base = source->ram().base();
    h.ram_size = source->ram().size();
    h.config = state::capture_machine(*source).config;
    ASSERT_TRUE(c.send(MsgType::kHello, 0, encode_hello(h)).ok());
    ASSERT_EQ(expect_reply(c).type, MsgType::kReady);
  }
  // The whole populated memory and the state, as checkpoint `epoch`.
  void checkpoint(Connection& c, uint64_t epoch, bool damage_pages = false) {
    ASSERT_TRUE(c.send(MsgType::kBegin, epoch).ok());
    std::vector<uint32_t> pages = source->ram().populated_pages();
    state::BlockEncoder enc;
    state::EncodedBlock block;
    End end;
    for (size_t i = 0; i < pages.size(); i += kPagesPerMessage) {
      size_t n = std::min<size_t>(kPagesPerMessage, pages.size() - i);
      std::vector<uint8_t> data(n * mem::kPageSize);
      for (size_t k = 0; k < n; k++)
        std::memcpy(data.data() + k * mem::kPageSize, source->ram().page_host(pages[i + k]), mem::kPageSize);
      enc.encode(data.data(), n, block);
      if (damage_pages) block.data[block.data.size() / 2] ^= 1;  // the block's checksum no longer matches
      ASSERT_TRUE(c.send(MsgType::kPages, epoch, encode_pages(std::span(pages).subspan(i, n), block)).ok());
      if (damage_pages) return;  // the backup refuses it and hangs up
      end.pages += n;
      end.page_messages++;
    }
    ASSERT_TRUE(c.send(MsgType::kState, epoch, encode_state(state::capture_machine(*source))).ok());
    end.state_messages = 1;
    ASSERT_TRUE(c.send(MsgType::kEnd, epoch, encode_end(end)).ok());
  }
  std::unique_ptr<board::Machine> taken_over() {
    EXPECT_EQ(served.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    auto m = served.get();
    EXPECT_EQ(serve_error, "");
    return m;
  }
};

TEST(Backup, TruncatedCheckpointLeavesTheLastCommitToTakeOverFrom) {
  Pair p;
  auto c = p.connect();
  p.hello(*c);
  p.checkpoint(*c, 0);
  Message ack = p.expect_reply(*c);
  ASSERT_EQ(ack.type, MsgType::kAck);
  EXPECT_EQ(ack.epoch, 0u);
  const std::vector<uint8_t> committed_memory = memory_of(*p.source);
  const uint64_t committed_pc = p.source->hart(0).pc();

  // Checkpoint 1 of a machine that ran on, cut off after its begin: the
  // primary died with the checkpoint staged but not ended.
  p.source->hart(0).run(200'000);
  ASSERT_TRUE(c->send(MsgType::kBegin, 1).ok());
  c.reset();

  auto m = p.taken_over();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->hart(0).pc(), committed_pc);
  EXPECT_TRUE(memory_of(*m) == committed_memory) << "the VM taken over is not checkpoint 0";
  EXPECT_EQ(p.backup->status().state, "took-over");
}

TEST(Backup, DamagedAndOutOfOrderStreamsAreRefusedAndTheCommitKept) {
  Pair p;
  auto c = p.connect();
  p.hello(*c);
  p.checkpoint(*c, 0);
  ASSERT_EQ(p.expect_reply(*c).type, MsgType::kAck);
  const std::vector<uint8_t> committed_memory = memory_of(*p.source);

  p.source->hart(0).run(200'000);
  p.checkpoint(*c, 1, /*damage_pages=*/true);
  Message refused = p.expect_reply(*c);
  ASSERT_EQ(refused.type, MsgType::kError);
  EXPECT_NE(decode_text(refused.payload).find("checksum"), std::string::npos) << decode_text(refused.payload);
  c.reset();

  // A second primary skips a checkpoint: refused too.
  auto c2 = p.connect();
  p.hello(*c2);  // a new primary starts from scratch...
  p.checkpoint(*c2, 0);
  ASSERT_EQ(p.expect_reply(*c2).type, MsgType::kAck);
  ASSERT_TRUE(c2->send(MsgType::kBegin, 5).ok());
  Message order = p.expect_reply(*c2);
  ASSERT_EQ(order.type, MsgType::kError);
  EXPECT_NE(decode_text(order.payload).find("out of order: expected 1"), std::string::npos)
      << decode_text(order.payload);
  c2.reset();

  // The backup still holds a commit: a connection that breaks without a
  // word (a primary killed as it connected) makes it take over from it.
  p.connect().reset();
  auto m = p.taken_over();
  ASSERT_TRUE(m);
  EXPECT_TRUE(memory_of(*m) == memory_of(*p.source)) << "second primary's checkpoint 0 is the commit";
}

TEST(Backup, APrimaryThatStopsOnPurposeIsNotTakenOver) {
  Pair p;
  auto c = p.connect();
  p.hello(*c);
  p.checkpoint(*c, 0);
  ASSERT_EQ(p.expect_reply(*c).type, MsgType::kAck);
  ASSERT_TRUE(c->send(MsgType::kError, 0, encode_text("the guest powered off")).ok());
  EXPECT_EQ(p.served.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_FALSE(p.served.get());
  EXPECT_EQ(p.serve_error, "");
}

// One page of the source machine, sent whole or as a diff against `base`
// (whose hash the message carries), with the state, as checkpoint `epoch`.
void page_checkpoint(Pair& p, Connection& c, uint64_t epoch, uint32_t page, const std::vector<uint8_t>* base) {
  ASSERT_TRUE(c.send(MsgType::kBegin, epoch).ok());
  const uint8_t* now = p.source->ram().page_host(page);
  state::BlockEncoder enc;
  End end;
  end.pages = 1;
  std::vector<uint32_t> pages = {page};
  if (base) {
    std::vector<uint8_t> diff;
    std::vector<uint16_t> sizes = {static_cast<uint16_t>(encode_page_diff(base->data(), now, diff))};
    std::vector<uint64_t> hashes = {page_hash(base->data())};
    ASSERT_TRUE(c.send(MsgType::kDiffs, epoch, encode_diffs(pages, bases_hash(hashes), sizes, diff, enc)).ok());
    end.diff_messages = 1;
  } else {
    state::EncodedBlock block;
    enc.encode(now, 1, block);
    ASSERT_TRUE(c.send(MsgType::kPages, epoch, encode_pages(pages, block)).ok());
    end.page_messages = 1;
  }
  ASSERT_TRUE(c.send(MsgType::kState, epoch, encode_state(state::capture_machine(*p.source))).ok());
  end.state_messages = 1;
  ASSERT_TRUE(c.send(MsgType::kEnd, epoch, encode_end(end)).ok());
}

std::vector<uint8_t> page_of(board::Machine& m, uint32_t page) {
  const uint8_t* p = m.ram().page_host(page);
  return {p, p + mem::kPageSize};
}

TEST(Backup, DiffsBuildOnTheCommittedVersionAndAWrongBaseIsAskedForWhole) {
  Pair p;
  auto c = p.connect();
  p.hello(*c, /*diff_after=*/2, /*diff_words=*/8);
  p.checkpoint(*c, 0);
  ASSERT_EQ(p.expect_reply(*c).type, MsgType::kAck);
  const uint32_t page = 300;  // 1.2 MiB into RAM: the scribbler's pages
  uint64_t* word = reinterpret_cast<uint64_t*>(p.source->ram().page_host(page)) + 17;
  // Two versions each a word apart: the page becomes a candidate.
  for (uint64_t epoch = 1; epoch <= 2; epoch++) {
    ++*word;
    page_checkpoint(p, *c, epoch, page, nullptr);
    Message ack = p.expect_reply(*c);
    ASSERT_EQ(ack.type, MsgType::kAck);
    EXPECT_EQ(ack.epoch, epoch);
  }
  Message fb = p.expect_reply(*c);
  ASSERT_EQ(fb.type, MsgType::kFeedback);
  auto f = decode_feedback(fb.payload, p.source->ram().page_count());
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(f->added, (std::vector<uint32_t>{page}));

  // A diff against the committed version lands.
  std::vector<uint8_t> sent = page_of(*p.source, page);
  ++*word;
  page_checkpoint(p, *c, 3, page, &sent);
  ASSERT_EQ(p.expect_reply(*c).type, MsgType::kAck);
  EXPECT_TRUE(std::memcmp(p.backup->committed_memory()->page_host(page), word - 17, mem::kPageSize) == 0);

  // A diff against a version the backup never had (the primary's copy
  // went wrong) is refused and the page asked for whole; the checkpoint
  // is held, not committed, until it comes.
  std::vector<uint8_t> wrong = page_of(*p.source, page);
  wrong[5] ^= 1;
  ++*word;
  page_checkpoint(p, *c, 4, page, &wrong);
  Message refused = p.expect_reply(*c);
  ASSERT_EQ(refused.type, MsgType::kFeedback);
  EXPECT_EQ(refused.epoch, 4u);
  f = decode_feedback(refused.payload, p.source->ram().page_count());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->refused, (std::vector<uint32_t>{page}));
  ++*word;
  page_checkpoint(p, *c, 5, page, nullptr);
  Message ack = p.expect_reply(*c);
  ASSERT_EQ(ack.type, MsgType::kAck) << "checkpoint 4 was acknowledged on its own";
  EXPECT_EQ(ack.epoch, 5u);
  const mem::GuestMemory* committed = p.backup->committed_memory();
  ASSERT_NE(committed, nullptr);
  EXPECT_EQ(std::memcmp(committed->host(), memory_of(*p.source).data(), committed->size()), 0);
  const ReplicationStatus st = p.backup->status();
  EXPECT_EQ(st.diff.diff_pages, 1u);
  EXPECT_EQ(st.diff.refused, 1u);
  EXPECT_EQ(st.diff.held, 1u);
  EXPECT_EQ(st.committed, 6u);
  ASSERT_TRUE(c->send(MsgType::kError, 0, encode_text("done")).ok());
  EXPECT_EQ(p.served.wait_for(std::chrono::seconds(20)), std::future_status::ready);
}

TEST(Backup, APeerOfAnotherProtocolVersionIsToldInItsOwn) {
  Pair p;
  auto c = p.connect();
  // An older primary's hello.
  ASSERT_TRUE(c->send(MsgType::kHello, 0, encode_hello(Hello()), kProtocolVersion - 1).ok());
  auto reply = c->receive(5000);
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  ASSERT_TRUE(*reply);
  EXPECT_EQ((*reply)->type, MsgType::kError);
  EXPECT_NE(decode_text((*reply)->payload).find("replication protocol version " + std::to_string(kProtocolVersion - 1)),
            std::string::npos)
      << decode_text((*reply)->payload);
  EXPECT_EQ(c->peer_version(), kProtocolVersion - 1) << "the backup did not answer in the peer's version";
  p.backup->request_stop();
}

}  // namespace
}  // namespace tandem::replication
