#include "gateway/web/cast_tail.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bastion::gateway {
namespace {

class CastTailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/bastion-cast-tail-XXXXXX";
    fd_ = ::mkstemp(name);
    ASSERT_GE(fd_, 0);
    ::unlink(name);
  }
  void TearDown() override { ::close(fd_); }
  void append(const std::string& text) {
    ASSERT_EQ(::write(fd_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  // The data of each SSE message in `sse`, parsed.
  static std::vector<nlohmann::json> messages(const std::string& sse) {
    std::vector<nlohmann::json> out;
    size_t at = 0;
    while ((at = sse.find("data: ", at)) != std::string::npos) {
      size_t end = sse.find("\n\n", at);
      out.push_back(nlohmann::json::parse(sse.substr(at + 6, end - at - 6)));
      at = end;
    }
    return out;
  }
  int fd_ = -1;
};

TEST_F(CastTailTest, AWatcherWhoJoinsLateGetsTheScreenSoFarThenEachEventAsItIsWritten) {
  append("{\"version\": 2, \"width\": 100, \"height\": 30}\n");
  append("[0.5, \"o\", \"fay$ \"]\n[0.9, \"i\", \"secret keystrokes\"]\n[1.0, \"o\", \"ls\\r\\n\"]\n");
  CastTail tail(fd_);
  auto first = tail.poll();
  ASSERT_TRUE(first) << first.error().message;
  auto m = messages(*first);
  ASSERT_EQ(m.size(), 1u) << *first;
  EXPECT_EQ(m[0]["cols"], 100);
  EXPECT_EQ(m[0]["rows"], 30);
  EXPECT_EQ(m[0]["time"], 1.0);
  EXPECT_EQ(m[0]["init"], "fay$ ls\r\n");  // output only: no keystrokes
  EXPECT_EQ(*tail.poll(), "");             // nothing new
  // A line still being written waits until it is whole.
  append("[1.5, \"o\", \"a\\u001b[1mb");
  EXPECT_EQ(*tail.poll(), "");
  append("\"]\n[2.0, \"r\", \"120x40\"]\n");
  auto next = tail.poll();
  ASSERT_TRUE(next);
  m = messages(*next);
  ASSERT_EQ(m.size(), 2u) << *next;
  EXPECT_EQ(m[0], nlohmann::json::parse(R"([1.5, "o", "a\u001b[1mb"])"));
  EXPECT_EQ(m[1], nlohmann::json::parse(R"([2.0, "r", {"cols": 120, "rows": 40}])"));
  EXPECT_EQ(next->find('\r'), std::string::npos);  // one data line per message
}

TEST_F(CastTailTest, AnEmptyFileSendsNothingUntilItsHeaderIsWhole) {
  CastTail tail(fd_);
  EXPECT_EQ(*tail.poll(), "");
  append("{\"version\": 2, \"width\": 80");
  EXPECT_EQ(*tail.poll(), "");
  append(", \"height\": 24}\n");
  auto m = messages(*tail.poll());
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["init"], "");
}

TEST_F(CastTailTest, ALongSessionSendsOnlyTheLastMegabyteOfItsScreen) {
  append("{\"version\": 2, \"width\": 80, \"height\": 24}\n");
  std::string line(1000, 'x');
  for (int i = 0; i < 1500; ++i) append("[1.0, \"o\", \"" + line + "\\r\\n\"]\n");
  append("[2.0, \"o\", \"the end\"]\n");
  CastTail tail(fd_);
  auto m = messages(*tail.poll());
  ASSERT_EQ(m.size(), 1u);
  const std::string init = m[0]["init"];
  EXPECT_LE(init.size(), CastTail::kMaxInit);
  EXPECT_GT(init.size(), CastTail::kMaxInit - 2000);
  EXPECT_EQ(init.substr(0, 1000), line);  // from a line's start
  EXPECT_EQ(init.substr(init.size() - 7), "the end");
}

TEST_F(CastTailTest, ResizesOutsideOneTo10000AreLeftOut) {
  append("{\"version\": 2, \"width\": 80, \"height\": 24}\n");
  CastTail tail(fd_);
  ASSERT_TRUE(tail.poll());
  append("[1.0, \"r\", \"0x10\"]\n[1.0, \"r\", \"100000x2\"]\n[1.0, \"r\", \"ax3\"]\n[1.0, \"r\", \"-5x3\"]\n");
  append("[1.0, \"r\", \"10000x1\"]\n");
  auto m = messages(*tail.poll());
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0], nlohmann::json::parse(R"([1.0, "r", {"cols": 10000, "rows": 1}])"));
}

TEST_F(CastTailTest, WhatIsNotATerminalRecordingIsRefused) {
  append("bastion-encrypted-cast v1 AAAA BBBB\n");
  CastTail sealed(fd_);
  EXPECT_FALSE(sealed.poll());
}

TEST_F(CastTailTest, AHeadersNumbersAreWholeAndWithinBounds) {
  // (found by fuzz_cast_tail: a version of 1e38 made an undefined conversion)
  append("{\"version\": 255555555555555555555555555555555555555, \"width\": 80, \"height\": 24}\n");
  CastTail huge(fd_);
  EXPECT_FALSE(huge.poll());
  ASSERT_EQ(::ftruncate(fd_, 0), 0);
  ASSERT_EQ(::lseek(fd_, 0, SEEK_SET), 0);
  append("{\"version\": 2, \"width\": 1e300, \"height\": 99999999999}\n");
  CastTail clamped(fd_);
  auto m = messages(*clamped.poll());
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["cols"], 80);  // not a whole number: the default
  EXPECT_EQ(m[0]["rows"], 10000);
}

TEST_F(CastTailTest, AnEventWithARawCarriageReturnNeverReachesTheStream) {
  // SSE takes CR for a line's end: a line written with one could forge
  // fields ("event: done"). JSON never has one raw; such a line is an error.
  append("{\"version\": 2, \"width\": 80, \"height\": 24}\n");
  CastTail tail(fd_);
  ASSERT_TRUE(tail.poll());
  append("[1.0, \"o\", \"a\revent: done\"]\n");
  EXPECT_FALSE(tail.poll());
}

TEST_F(CastTailTest, AnOutputEventIsExactlyTimeKindAndText) {
  // (found by fuzz_cast_tail: a fourth element went out as it was)
  append("{\"version\": 2, \"width\": 80, \"height\": 24}\n");
  CastTail tail(fd_);
  ASSERT_TRUE(tail.poll());
  append("[0.5, \"o\", \"a \\\"quoted\\\" text\"]\n");
  auto m = messages(*tail.poll());
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0][2], "a \"quoted\" text");
  append("[0.5, \"o\", \"r\", \"100x30\"]\n");
  EXPECT_FALSE(tail.poll());
}

TEST_F(CastTailTest, AMalformedEventIsAnError) {
  append("{\"version\": 2, \"width\": 80, \"height\": 24}\n[1.0, \"o\", \"ok\"]\n");
  CastTail tail(fd_);
  ASSERT_TRUE(tail.poll());
  append("[1.0, \"o\"]\n");
  EXPECT_FALSE(tail.poll());
}

}  // namespace
}  // namespace bastion::gateway
