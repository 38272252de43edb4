#include "common/ssh_wire.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <functional>
#include <limits>
#include <random>

namespace bastion {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes written(const std::function<void(WireWriter&)>& fill) {
  WireWriter w;
  fill(w);
  EXPECT_TRUE(w.ok());
  return w.bytes();
}

TEST(WireWriter, EncodesIntegersBigEndianAndStringsWithLength) {
  EXPECT_EQ(written([](WireWriter& w) { w.u8(0xab); }), (Bytes{0xab}));
  EXPECT_EQ(written([](WireWriter& w) { w.u32(0x01020304); }), (Bytes{1, 2, 3, 4}));
  EXPECT_EQ(written([](WireWriter& w) { w.u64(0x0102030405060708); }), (Bytes{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(written([](WireWriter& w) { w.string(std::string_view("ssh")); }), (Bytes{0, 0, 0, 3, 's', 's', 'h'}));
  EXPECT_EQ(written([](WireWriter& w) { w.string(Bytes{}); }), (Bytes{0, 0, 0, 0}));
  EXPECT_EQ(written([](WireWriter& w) { w.raw(Bytes{9, 8}); }), (Bytes{9, 8}));
}

TEST(WireWriter, EncodesMpintsAsRfc4251Examples) {
  // RFC 4251 section 5 examples (non-negative ones).
  EXPECT_EQ(written([](WireWriter& w) { w.mpint(Bytes{}); }), (Bytes{0, 0, 0, 0}));
  EXPECT_EQ(written([](WireWriter& w) { w.mpint(Bytes{0, 0, 0}); }), (Bytes{0, 0, 0, 0}));
  EXPECT_EQ(written([](WireWriter& w) { w.mpint(Bytes{0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7}); }),
            (Bytes{0, 0, 0, 8, 0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7}));
  EXPECT_EQ(written([](WireWriter& w) { w.mpint(Bytes{0x80}); }), (Bytes{0, 0, 0, 2, 0x00, 0x80}));
  EXPECT_EQ(written([](WireWriter& w) { w.mpint(Bytes{0, 0, 0x80}); }), (Bytes{0, 0, 0, 2, 0x00, 0x80}));
}

TEST(WireWriter, RefusesAStringLongerThanALengthCanSay) {
  const size_t size = size_t{std::numeric_limits<uint32_t>::max()} + 1;
  // Address space only: the writer must refuse before touching the bytes.
  void* p = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) GTEST_SKIP() << "cannot reserve 4 GiB of address space";
  WireWriter w;
  w.u8(1);
  w.string(std::span<const uint8_t>(static_cast<const uint8_t*>(p), size));
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.bytes(), Bytes{1});  // nothing with a wrong length was written
  w.u8(2);
  EXPECT_FALSE(w.ok());  // sticky
  munmap(p, size);
}

TEST(WireReader, RoundTripsEveryType) {
  Bytes data = written([](WireWriter& w) {
    w.u8(7);
    w.u32(0xdeadbeef);
    w.u64(std::numeric_limits<uint64_t>::max());
    w.string(std::string_view("hello"));
    w.string(Bytes{0, 1, 2});
    w.mpint(Bytes{0x80, 1});
    w.mpint(Bytes{});
    w.string(std::string_view(""));
  });
  WireReader r(data);
  EXPECT_EQ(*r.u8(), 7);
  EXPECT_EQ(*r.u32(), 0xdeadbeefu);
  EXPECT_EQ(*r.u64(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*r.text(), "hello");
  auto s = r.string();
  ASSERT_TRUE(s);
  EXPECT_EQ(Bytes(s->begin(), s->end()), (Bytes{0, 1, 2}));
  auto m = r.mpint();
  ASSERT_TRUE(m);
  EXPECT_EQ(Bytes(m->begin(), m->end()), (Bytes{0x80, 1}));
  EXPECT_TRUE(r.mpint()->empty());
  EXPECT_FALSE(r.at_end());
  EXPECT_EQ(*r.text(), "");
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(r.offset(), data.size());
  EXPECT_FALSE(r.u8());
}

TEST(WireReader, EveryTruncationFailsCleanly) {
  Bytes data = written([](WireWriter& w) {
    w.u32(5);
    w.u64(6);
    w.string(std::string_view("principal"));
  });
  for (size_t cut = 0; cut < data.size(); ++cut) {
    WireReader r(std::span<const uint8_t>(data).first(cut));
    auto a = r.u32();
    auto b = a ? r.u64() : Result<uint64_t>(a.error());
    auto c = b ? r.text() : Result<std::string>(b.error());
    EXPECT_FALSE(c) << "cut at " << cut;
    EXPECT_LE(r.offset(), cut);
  }
}

TEST(WireReader, LengthLargerThanTheDataIsRefusedAndConsumesNothing) {
  for (uint32_t len : {4u, 5u, 0x7fffffffu, 0xffffffffu}) {
    Bytes data = written([&](WireWriter& w) {
      w.u32(len);
      w.raw(Bytes{1, 2, 3});
    });
    WireReader r(data);
    auto s = r.string();
    ASSERT_FALSE(s) << len;
    EXPECT_NE(s.error().message.find("exceeds the remaining 3 bytes"), std::string::npos) << s.error().message;
    EXPECT_EQ(r.offset(), 0u);
    EXPECT_FALSE(r.text());
    EXPECT_FALSE(r.mpint());
    EXPECT_EQ(*r.u32(), len);  // the failed reads left the position alone
  }
  WireReader short_int(Bytes{0, 0, 1});
  EXPECT_EQ(short_int.u32().error().message, "truncated data");
  EXPECT_EQ(short_int.remaining(), 3u);
}

TEST(WireReader, TextWithNulIsRefused) {
  Bytes data = written([](WireWriter& w) { w.string(Bytes{'r', 'o', 'o', 't', 0, 'x'}); });
  WireReader r(data);
  auto t = r.text();
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message, "string contains a NUL byte");
  EXPECT_EQ(r.offset(), 0u);
  EXPECT_EQ(r.string()->size(), 6u);  // still readable as bytes
}

TEST(WireReader, MpintMustBeNonNegativeAndMinimal) {
  struct Case {
    Bytes encoded;
    const char* error;
  };
  const std::vector<Case> cases = {
      {{0, 0, 0, 1, 0x80}, "mpint is negative"},
      {{0, 0, 0, 2, 0xff, 0x01}, "mpint is negative"},
      {{0, 0, 0, 1, 0x00}, "mpint has an unnecessary leading zero"},
      {{0, 0, 0, 2, 0x00, 0x7f}, "mpint has an unnecessary leading zero"},
  };
  for (const auto& c : cases) {
    WireReader r(c.encoded);
    auto m = r.mpint();
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message, c.error);
    EXPECT_EQ(r.offset(), 0u);
  }
  Bytes ok{0, 0, 0, 2, 0x00, 0x80};
  WireReader r(ok);
  auto m = r.mpint();
  ASSERT_TRUE(m);
  EXPECT_EQ(Bytes(m->begin(), m->end()), Bytes{0x80});
}

// Random input never makes a read go past the end or loop forever.
TEST(WireReader, RandomInputIsTotal) {
  std::mt19937 rng(7);
  for (int round = 0; round < 20000; ++round) {
    Bytes data(rng() % 24);
    for (auto& b : data) b = static_cast<uint8_t>(rng() % 4 == 0 ? rng() : rng() % 8);
    WireReader r(data);
    for (int step = 0; step < 16 && !r.at_end(); ++step) {
      size_t before = r.offset();
      bool ok = false;
      switch (rng() % 5) {
        case 0: ok = r.u8().has_value(); break;
        case 1: ok = r.u32().has_value(); break;
        case 2: ok = r.u64().has_value(); break;
        case 3: ok = r.text().has_value(); break;
        default: ok = r.mpint().has_value(); break;
      }
      ASSERT_LE(r.offset(), data.size());
      // Every successful read consumes at least one byte; a failed one none.
      if (ok) {
        ASSERT_GT(r.offset(), before);
      } else {
        ASSERT_EQ(r.offset(), before);
      }
    }
  }
}

}  // namespace
}  // namespace bastion
