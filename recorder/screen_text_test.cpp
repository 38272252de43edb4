// ScreenText (the rendered text of a terminal session) and search_cast on
// top of it: what is found is what the screen showed, not the raw bytes.
#include "recorder/screen_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/encoding.h"
#include "recorder/review.h"

using namespace bastion;
using namespace bastion::recorder;

namespace {

constexpr Micros kSecond = 1'000'000;

std::vector<std::string> texts(const std::vector<ScreenLine>& lines) {
  std::vector<std::string> v;
  for (const auto& l : lines) v.push_back(l.text);
  return v;
}

// The lines of OUTPUT (one event at 1 s) on a COLS x ROWS screen, finished.
std::vector<std::string> rendered(std::string_view output, int cols = 80, int rows = 24) {
  ScreenText screen(cols, rows);
  screen.output(kSecond, output);
  screen.finish();
  return texts(screen.take());
}

using Lines = std::vector<std::string>;

TEST(ScreenText, BackspaceCorrectionsShowAsDisplayed) {
  EXPECT_EQ(rendered("helo\b\b\bello"), Lines{"hello"});
  EXPECT_EQ(rendered("$ lss\b \b -la\r\n"), Lines{"$ ls -la"});  // as readline echoes a Backspace
}

TEST(ScreenText, CarriageReturnProgressBarLeavesItsLastState) {
  EXPECT_EQ(rendered("10%\r50%\r100%\r\n$ "), (Lines{"100%", "$"}));
}

TEST(ScreenText, CursorPositioningAndTabs) {
  EXPECT_EQ(rendered("\x1b[5;10Hworld\x1b[5;4Hhello"), Lines{"   hello world"});
  EXPECT_EQ(rendered("a\tb\r\n"), Lines{"a       b"});
}

TEST(ScreenText, ColoursBetweenLettersAreNotText) {
  EXPECT_EQ(rendered("he\x1b[31mllo\x1b[0m \x1b]0;title\x07world\x1b[1;32m!"), Lines{"hello world!"});
}

TEST(ScreenText, ASoftWrappedLineIsOneLine) {
  EXPECT_EQ(rendered(std::string(25, 'a') + "bcd\r\nnext", 20, 5), (Lines{std::string(25, 'a') + "bcd", "next"}));
  // Its first row scrolled off, the rest still on the screen at the end.
  EXPECT_EQ(rendered(std::string(30, 'x') + "\r\n\r\n\r\n", 20, 4), Lines{std::string(30, 'x')});
}

TEST(ScreenText, ALineScrolledOffLongAgoKeepsTheTimeItWasWritten) {
  ScreenText screen(80, 24);
  screen.output(1 * kSecond, "needle: written at one second\r\n");
  for (int i = 0; i < 100; ++i) screen.output((100 + i) * kSecond, "filler " + std::to_string(i) + "\r\n");
  // Scrolled off at 123 s; still on the screen at the end: filler 77 and later.
  auto lines = screen.take();
  ASSERT_EQ(lines.size(), 78u);
  EXPECT_EQ(lines[0], (ScreenLine{1 * kSecond, "needle: written at one second"}));
  EXPECT_EQ(lines[1], (ScreenLine{100 * kSecond, "filler 0"}));
  screen.finish();
  auto rest = screen.take();
  ASSERT_EQ(rest.size(), 23u);
  EXPECT_EQ(rest.back(), (ScreenLine{199 * kSecond, "filler 99"}));
}

TEST(ScreenText, ALineTypedKeyByKeyHasTheTimeOfItsLastKey) {
  ScreenText screen(80, 24);
  screen.output(1 * kSecond, "$ ");
  screen.output(2 * kSecond, "l");
  screen.output(3 * kSecond, "s");
  screen.output(4 * kSecond, "\r\n");  // moves the cursor, writes nothing
  screen.finish();
  EXPECT_EQ(screen.take(), (std::vector<ScreenLine>{{3 * kSecond, "$ ls"}}));
}

TEST(ScreenText, ClearGivesWhatItErases) {
  ScreenText screen(80, 24);
  screen.output(1 * kSecond, "secret\r\n$ clear\r\n");
  screen.output(2 * kSecond, "\x1b[H\x1b[2J\x1b[3J$ ");
  EXPECT_EQ(texts(screen.take()), (Lines{"secret", "$ clear"}));
  screen.output(3 * kSecond, "\x1b[2J");
  EXPECT_EQ(texts(screen.take()), Lines{"$"});
  screen.output(3 * kSecond, "\x1b[2J");  // an empty screen: nothing
  EXPECT_TRUE(screen.take().empty());
  // Erase below the cursor, which is inside a row: that row is given whole.
  screen.output(4 * kSecond, "\x1b[H$ abc\r\nline two\x1b[1;2H\x1b[J");
  EXPECT_EQ(texts(screen.take()), (Lines{"$ abc", "line two"}));
  screen.finish();
  EXPECT_EQ(texts(screen.take()), Lines{"$"});
}

TEST(ScreenText, AlternateScreenTextIsGivenWhenLeft) {
  ScreenText screen(80, 24);
  screen.output(1 * kSecond, "$ vim notes\r\n");
  screen.output(2 * kSecond, "\x1b[?1049h\x1b[H\x1b[2Jthe file's text\x1b[24;1H\"notes\" 1L");
  EXPECT_TRUE(screen.take().empty());
  screen.output(3 * kSecond, "\x1b[?1049l");
  EXPECT_EQ(screen.take(), (std::vector<ScreenLine>{{2 * kSecond, "the file's text"}, {2 * kSecond, "\"notes\" 1L"}}));
  // Back on the main screen, with the cursor where it was.
  screen.output(4 * kSecond, "$ ");
  screen.finish();
  EXPECT_EQ(texts(screen.take()), (Lines{"$ vim notes", "$"}));
}

TEST(ScreenText, RowsScrolledOffTheAlternateScreenAreGiven) {
  // less, paging forward: new lines at the bottom push the top ones off.
  ScreenText screen(40, 5);
  std::string page = "\x1b[?1049h";
  for (int i = 0; i < 12; ++i) page += "page line " + std::to_string(i) + "\r\n";
  screen.output(1 * kSecond, page + ":");
  screen.output(2 * kSecond, "\r\x1b[K\x1b[?1049l");
  screen.finish();
  Lines want;
  for (int i = 0; i < 12; ++i) want.push_back("page line " + std::to_string(i));
  EXPECT_EQ(texts(screen.take()), want);
}

TEST(ScreenText, AProgramRedrawingManyTimesASecondGivesItsScreenOnce) {
  ScreenText screen(80, 24);
  for (int i = 0; i < 50; ++i) screen.output(i * kSecond / 10, "\x1b[H\x1b[2Jload average: 0.00\r\nuptime 1 day");
  screen.finish();
  EXPECT_EQ(texts(screen.take()), (Lines{"load average: 0.00", "uptime 1 day"}));
  // After the repeat window the same screen is given again.
  ScreenText slow(80, 24);
  for (int i = 0; i < 3; ++i) slow.output(i * 10 * kSecond, "\x1b[H\x1b[2Jsame");
  slow.finish();
  // The last screen was given, with the same text, at 20 s: not again.
  EXPECT_EQ(texts(slow.take()), (Lines{"same", "same"}));
}

TEST(ScreenText, ResizeGivesTheRowsItDropsOnceAndKeepsTimes) {
  ScreenText screen(40, 10);
  for (int i = 0; i < 8; ++i) screen.output((i + 1) * kSecond, "row " + std::to_string(i) + "\r\n");
  screen.resize(40, 4);  // the cursor is on row 8: rows 0-4 no longer fit
  EXPECT_EQ(texts(screen.take()), (Lines{"row 0", "row 1", "row 2", "row 3", "row 4"}));
  screen.finish();
  auto rest = screen.take();
  EXPECT_EQ(texts(rest), (Lines{"row 5", "row 6", "row 7"}));
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[0].offset, 6 * kSecond);
}

TEST(ScreenText, HeldTextIsCappedAndSaysSo) {
  ScreenText screen(80, 24, 100);
  for (int i = 0; i < 60; ++i) screen.output(i, "0123456789\r\n");
  EXPECT_TRUE(screen.truncated());
  auto lines = screen.take();
  EXPECT_EQ(lines.size(), 10u);  // 100 bytes of ten-byte lines; later ones were dropped
  screen.output(100, "more\r\n");
  EXPECT_TRUE(screen.truncated());
}

TEST(ScreenText, RandomBytesNeverCrash) {
  std::mt19937 rng(15);
  const std::string alphabet =
      "\x1b[]?;0123456789hlmHJKSTLMPr@ABCDfd\r\n\b\x7f \t~abc$#\xc3\xa9\xe4\xb8\xad\xff\x80\x9b\x90P\\";
  auto random_bytes = [&] {
    std::string b(rng() % 64, '\0');
    for (char& c : b) c = rng() % 4 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    if (rng() % 8 == 0) b += rng() % 2 == 0 ? "\x1b[?1049h" : "\x1b[?47l";
    return b;
  };
  for (int round = 0; round < 20; ++round) {
    ScreenText screen(static_cast<int>(rng() % 120) - 10, static_cast<int>(rng() % 40) - 5);
    for (int i = 0; i < 3000; ++i) {
      if (rng() % 10 == 0) {
        screen.resize(static_cast<int>(rng() % 200) - 20, static_cast<int>(rng() % 60) - 5);
      } else {
        screen.output(i, random_bytes());
      }
    }
    screen.finish();
    for (const auto& l : screen.take()) {
      ASSERT_FALSE(l.text.empty());
      ASSERT_TRUE(is_valid_utf8(l.text));
      ASSERT_NE(l.text.back(), ' ');
      for (char c : l.text) ASSERT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7F) << l.text;
      ASSERT_GE(l.offset, 0);
      ASSERT_LT(l.offset, 3000);
    }
  }
}

// search_cast: a recording's events through ScreenText.

CastFile cast_of(std::vector<CastEvent> events, int width = 80, int height = 24) {
  CastFile cast;
  cast.header = {{"version", 2}, {"width", width}, {"height", height}};
  cast.events = std::move(events);
  return cast;
}

TEST(SearchCast, FindsWhatTheScreenShowedNotTheBytes) {
  auto cast = cast_of({{0.5, "o", "$ helo\b\b\bello"}, {1.0, "o", "\r\n10%\r50%\r100%\r\n"}});
  auto hits = search_cast(cast, "hello");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].snippet, "$ hello");
  EXPECT_DOUBLE_EQ(hits[0].offset, 0.5);
  EXPECT_TRUE(search_cast(cast, "helo").empty());
  EXPECT_TRUE(search_cast(cast, "50%").empty());
  EXPECT_EQ(search_cast(cast, "100%").size(), 1u);
}

TEST(SearchCast, FindsTextDrawnWithCursorMovesAndOnTheAlternateScreen) {
  auto cast = cast_of({{1, "o", "$ less /etc/passwd\r\n"},
                       {2, "o", "\x1b[?1049h\x1b[H\x1b[2J\x1b[3;1Hroot:x:0:0\x1b[3;20Hroot:/root:/bin/bash"},
                       {3, "o", "\x1b[?1049l$ "}});
  auto hits = search_cast(cast, "root:x:0:0");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_DOUBLE_EQ(hits[0].offset, 2.0);
  EXPECT_EQ(hits[0].snippet, "root:x:0:0         root:/root:/bin/bash");
}

TEST(SearchCast, UsesTheHeaderSizeAndResizeEvents) {
  // 20 columns: the word wraps, and is still one line.
  std::string output = std::string(18, '-') + "needle\r\n";
  EXPECT_EQ(search_cast(cast_of({{1, "o", output}}, 20, 5), "needle").size(), 1u);
  // Text drawn past the margin lands where the size after the resize event
  // puts it; nonsense resizes are ignored.
  auto cast = cast_of({{0.5, "r", "20x5"}, {0.6, "r", "axb"}, {0.7, "r", "99999999x1"}, {1, "o", "\x1b[1;30Hneedle"}});
  auto hits = search_cast(cast, "needle");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].snippet, std::string(19, ' ') + "needle");
  hits = search_cast(cast_of({{1, "o", "\x1b[1;30Hneedle"}}), "needle");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].snippet, std::string(29, ' ') + "needle");
}

TEST(SearchCast, OneHitPerLineTheEarliestFirstAndSnippetsAroundTheMatch) {
  std::vector<CastEvent> events;
  std::string long_line = std::string(300, 'x') + "needle" + std::string(300, 'y') + "\r\n";
  events.push_back({1, "o", long_line});
  for (int i = 0; i < 30; ++i) events.push_back({2.0 + i, "o", "needle needle " + std::to_string(i) + "\r\n"});
  auto hits = search_cast(cast_of(events, 200, 24), "needle", 5);
  ASSERT_EQ(hits.size(), 5u);
  EXPECT_DOUBLE_EQ(hits[0].offset, 1.0);
  EXPECT_EQ(hits[0].snippet.size(), 120u);
  EXPECT_NE(hits[0].snippet.find("xneedley"), std::string::npos);
  for (size_t i = 1; i < hits.size(); ++i) {
    EXPECT_DOUBLE_EQ(hits[i].offset, 2.0 + static_cast<double>(i - 1));
    EXPECT_EQ(hits[i].snippet, "needle needle " + std::to_string(i - 1));
  }
}

TEST(SearchCast, HostileTimesAndHeadersAreHarmless) {
  CastFile cast;
  cast.header = {{"version", 2}, {"width", "wide"}, {"height", -5}};
  cast.events = {{-1e300, "o", "a\r\n"}, {1e300, "o", "b needle\r\n"}, {std::nan(""), "o", "c"}};
  auto hits = search_cast(cast, "needle");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_GT(hits[0].offset, 0);
  EXPECT_TRUE(search_cast(cast, "").empty());
  EXPECT_TRUE(search_cast(cast, "needle", 0).empty());
}

}  // namespace
