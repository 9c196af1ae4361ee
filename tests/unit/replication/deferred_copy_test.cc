#include "replication/deferred_copy.h"

#include <gtest/gtest.h>

#include <cstring>

namespace tandem::replication {
namespace {

constexpr uint64_t kBase = 0x80000000;

// A page written right after the stun is sent as it was at the stun, not
// as written after; the others as they are; every page ends unprotected.
TEST(DeferredCopy, APageWrittenAfterTheStunIsSentAsAtTheStun) {
  auto made = mem::GuestMemory::create(kBase, 64 * mem::kPageSize);
  ASSERT_TRUE(made.ok());
  mem::GuestMemory& ram = **made;
  for (uint32_t p = 0; p < 64; p++) std::memset(ram.page_host(p), static_cast<int>(p), mem::kPageSize);
  std::shared_ptr<DeferredCopy> dc;
  auto hook = ram.add_write_hook("replication", [&](size_t page) { dc->on_write(page); });
  dc = std::make_shared<DeferredCopy>(ram, *hook, std::vector<uint32_t>{3, 9, 40});
  hook->protect(dc->pages());

  const uint8_t after = 0xee;
  ASSERT_TRUE(ram.write(kBase + 9 * mem::kPageSize + 100, &after, 1).ok());   // a deferred page
  ASSERT_TRUE(ram.write(kBase + 10 * mem::kPageSize + 100, &after, 1).ok());  // not one of them
  ASSERT_TRUE(ram.write(kBase + 9 * mem::kPageSize + 200, &after, 1).ok());   // again: no second copy
  EXPECT_EQ(dc->faults(), 1u);

  const uint8_t* data = dc->finish();
  for (size_t i = 0; i < 3; i++) {
    const uint32_t p = dc->pages()[i];
    for (size_t b = 0; b < mem::kPageSize; b++)
      ASSERT_EQ(data[i * mem::kPageSize + b], static_cast<uint8_t>(p)) << "page " << p << " byte " << b;
    EXPECT_FALSE(hook->is_protected(p));
  }
  EXPECT_EQ(ram.page_host(9)[100], 0xee) << "the guest's write landed";
  // Writes after finish() call nothing and copy nothing.
  ASSERT_TRUE(ram.write(kBase + 40 * mem::kPageSize, &after, 1).ok());
  EXPECT_EQ(dc->faults(), 1u);
}

}  // namespace
}  // namespace tandem::replication
