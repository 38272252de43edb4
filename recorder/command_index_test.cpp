// CommandIndexer against what bash 5.2 (readline, TERM=xterm, bracketed
// paste on) really sends over a PTY: the byte sequences below were recorded
// from `bash --norc -i` under a pseudo-terminal, key by key.
#include "recorder/command_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "common/files.h"
#include "recorder/terminal_sanitizer.h"

using namespace bastion;
using namespace bastion::recorder;

namespace {

// What bash prints before each prompt (bracketed paste on), then the prompt.
constexpr std::string_view kPrompt = "\x1b[?2004h\x1b[01;32muser@host\x1b[00m:~$ ";
// What bash echoes for Enter, before the command runs.
constexpr std::string_view kEnterEcho = "\r\n\x1b[?2004l\r";

constexpr Micros kStart = 1'700'000'000'000'000;

// A person at a bash prompt: each key goes in, then its echo comes out.
struct Session {
  CommandIndexer indexer;
  Micros now = kStart;

  explicit Session(int cols = 40, int rows = 10) : indexer(cols, rows, kStart) { out(kPrompt); }
  void out(std::string_view bytes) { indexer.output(now, bytes); }
  void in(std::string_view bytes) { indexer.input(now, bytes); }
  // One key, 0.1 s after the previous one, and what the shell echoed.
  void key(std::string_view k, std::string_view echo) {
    now += 100'000;
    in(k);
    out(echo);
  }
  // Types TEXT one key at a time; the shell echoes each character.
  void type(std::string_view text) {
    for (char c : text) key(std::string_view(&c, 1), std::string_view(&c, 1));
  }
  // Enter; the command prints RESULT; a new prompt. Returns Enter's offset.
  Micros enter(std::string_view result = "") {
    now += 100'000;
    Micros at = now - kStart;
    in("\r");
    out(kEnterEcho);
    out(result);
    out(kPrompt);
    return at;
  }
  std::vector<std::string> commands() const {
    std::vector<std::string> v;
    for (const auto& e : indexer.entries()) v.push_back(e.command);
    return v;
  }
};

using Commands = std::vector<std::string>;

TEST(CommandIndex, PlainTypedCommand) {
  Session s;
  s.type("echo hi");
  Micros at = s.enter("hi\r\n");
  ASSERT_EQ(s.indexer.entries().size(), 1u);
  EXPECT_EQ(s.indexer.entries()[0], (CommandEntry{at, "echo hi"}));
  EXPECT_EQ(at, 800'000);  // offsets are from the recording's start
}

TEST(CommandIndex, LineFeedEndsALineTooButNotAfterCarriageReturn) {
  Session s;
  s.type("echo one");
  s.now += 100'000;
  s.in("\n");  // Ctrl-J, or a client that sends LF for Enter
  s.out(kEnterEcho);
  s.out("one\r\n");
  s.out(kPrompt);
  s.type("echo two");
  s.now += 100'000;
  s.in("\r\n");  // one Enter, not an Enter and an empty line
  s.out(kEnterEcho);
  s.out("two\r\n");
  s.out(kPrompt);
  s.type("echo three");
  s.enter("three\r\n");
  EXPECT_EQ(s.commands(), (Commands{"echo one", "echo two", "echo three"}));
}

TEST(CommandIndex, LineReadWhenEnterEchoArrivesNotWhenPressed) {
  // A pasted line (no bracketed paste) or a slow link: Enter comes in before
  // the shell has echoed the text.
  Session s;
  s.in("ls -la /tmp\r");
  EXPECT_TRUE(s.indexer.entries().empty());
  s.out("ls -la /tmp");
  s.out(std::string(kEnterEcho) + "total 0\r\n" + std::string(kPrompt));
  EXPECT_EQ(s.commands(), Commands{"ls -la /tmp"});
}

TEST(CommandIndex, TabCompletion) {
  Session s;
  s.type("ech");
  s.key("\t", "o ");
  s.type("hi");
  s.enter("hi\r\n");
  EXPECT_EQ(s.commands(), Commands{"echo hi"});
}

TEST(CommandIndex, BackspaceAsReadlineEchoesIt) {
  Session s;
  s.type("lsx");
  s.key("\x7f", "\b\x1b[K");
  s.enter("file\r\n");
  EXPECT_EQ(s.commands(), Commands{"ls"});
}

TEST(CommandIndex, BackspaceAsTheTerminalDriverEchoesIt) {
  // Cooked mode with ECHOE (a `read` prompt, `cat`): "\b \b".
  Session s;
  s.type("lsx");
  s.key("\x7f", "\b \b");
  s.enter();
  EXPECT_EQ(s.commands(), Commands{"ls"});
}

TEST(CommandIndex, HistoryRecallGivesTheRecalledCommand) {
  Session s;
  s.type("echo first");
  s.enter("first\r\n");
  s.type("ls");
  s.enter("cap.py\r\n");
  s.key("\x1b[A", "ls");                                                // up: the previous line
  s.key("\x1b[A", "\b\becho first");                                    // up again: readline backs up and overwrites
  s.key("\x1b[B", "\r\x1b[K" + std::string(kPrompt.substr(8)) + "ls");  // down: line redrawn
  s.key("\x1b[A", "\b\becho first");
  s.enter("first\r\n");
  EXPECT_EQ(s.commands(), (Commands{"echo first", "ls", "echo first"}));
}

TEST(CommandIndex, ColouredAndMultiLinePromptsAreStripped) {
  Session s;
  s.out("\r\n\x1b[1;34m[user@host ~/src]\x1b[0m\r\n\x1b[01;31m#\x1b[00m ");
  s.type("id");
  s.enter("uid=0(root)\r\n");
  s.type("user@host:~$ is not a prompt here");
  s.enter();
  EXPECT_EQ(s.commands(), (Commands{"id", "user@host:~$ is not a prompt here"}));
}

TEST(CommandIndex, EmptyLinesAndPasswordsMakeNoEntry) {
  Session s;
  s.enter();
  s.type("sudo ls");
  s.in("\r");
  s.out(std::string(kEnterEcho) + "[sudo] password for user: ");
  for (char c : std::string("secret")) s.in(std::string_view(&c, 1));  // echo off: nothing shown
  s.in("\r");
  s.out("\r\n");
  s.out(std::string("file\r\n") + std::string(kPrompt));
  EXPECT_EQ(s.commands(), Commands{"sudo ls"});
}

TEST(CommandIndex, SilentReadThenPromptOnTheSameRow) {
  // `read -s -p 'pw: ' P`: the answer is not echoed, nor is its Enter; bash
  // prints its next prompt right after "pw: ".
  Session s;
  s.type("read -s -p 'pw: ' P");
  s.in("\r");
  s.out(std::string(kEnterEcho) + "pw: ");
  s.in("hunter2");
  s.in("\r");
  s.out(kPrompt);
  s.type("echo done");
  s.enter("done\r\n");
  s.indexer.finish();
  EXPECT_EQ(s.commands(), (Commands{"read -s -p 'pw: ' P", "echo done"}));
}

TEST(CommandIndex, AlternateScreenEntersAreNotCommands) {
  Session s;
  s.type("less /etc/passwd");
  s.in("\r");
  s.out(std::string(kEnterEcho) +
        "\x1b[?1049h\x1b[22;0;0t\x1b[?1h\x1b=\rroot:x:0:0:root:/root:/bin/bash\r\n"
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/ \x08nologin\r\n\x1b[7m/etc/passwd\x1b[27m\x1b[K");
  s.key("\r", "\r\x1b[Knologin\r\n:\x1b[K");
  s.key("/root\r", "/root\r\x1b[K:\x1b[K");
  s.key("q", "\r\x1b[K\x1b[?1l\x1b>\x1b[?1049l\x1b[23;0;0t" + std::string(kPrompt));
  s.type("pwd");
  s.enter("/root\r\n");
  EXPECT_EQ(s.commands(), (Commands{"less /etc/passwd", "pwd"}));
}

TEST(CommandIndex, LongLineWrapsAsReadlineWrapsIt) {
  // 40 columns, a 13-column prompt: readline writes " \r" at the margin.
  Session s;
  std::string text = "echo 123456789012345678901234567";
  for (size_t i = 0; i < text.size(); ++i) {
    std::string k(1, text[i]);
    s.key(k, i == 26 ? k + " \r" : k);
  }
  s.enter("123456789012345678901234567\r\n");
  // All in one output (a paste): the terminal wraps by itself.
  s.type("echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbb");
  s.enter();
  EXPECT_EQ(s.commands(), (Commands{text, "echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbb"}));
}

TEST(CommandIndex, WrappedLineAtTheBottomScrollsAndCursorMayBeInside) {
  Session s(20, 4);
  for (int i = 0; i < 6; ++i) s.out("output line\r\n");
  s.out("$ ");
  std::string text = "cat aaaaaaaa bbbbbbbbbbbbbbbbbb cccccccccc";  // 2 + 41 columns: three rows, two scrolls
  s.type(text);
  s.key("\x1b[D", "\b");
  s.key("\x01", "\r\x1b[A\x1b[A\x1b[C\x1b[C");  // Ctrl-A: the cursor goes to the first row
  s.now += 100'000;
  s.in("\r");
  s.out("\x1b[B\x1b[B\r\n");  // readline moves to the line's end before the newline
  s.out("$ ");
  s.type("x");
  s.in("\r");
  s.out("\r\n");
  EXPECT_EQ(s.commands(), (Commands{text, "x"}));
}

TEST(CommandIndex, EnterWithCursorInsideWrappedLineReadsItWhole) {
  Session s(20, 6);
  s.out("$ ");
  std::string text = "echo 0123456789abcdefghijklmnop";
  s.type(text);
  s.key("\x01", "\r\x1b[A\x1b[C\x1b[C");
  s.in("\r");
  s.indexer.finish();  // no echo came: read now, the cursor on the first row
  EXPECT_EQ(s.commands(), Commands{text});
}

TEST(CommandIndex, BracketedPasteNewlineIsNotEnter) {
  Session s;
  s.in("\x1b[200~echo pasted\r\x1b[201~");
  s.out("\x1b[7mecho pasted\x1b[27m\r\n\r");
  EXPECT_TRUE(s.indexer.entries().empty());
  s.now += 100'000;
  s.in("\r");
  s.out(
      "\x1b[A\x1b[C\x1b[C\x1b[C\x1b[C\x1b[C\x1b[C\x1b[C\x1b[C\x1b[C\x1b[C\x1b[C\x1b[C\x1b[C"
      "echo pasted\r\n\r\x1b[A\r\n\x1b[?2004l\rpasted\r\n");
  s.out(kPrompt);
  EXPECT_EQ(s.commands(), Commands{"echo pasted"});
}

TEST(CommandIndex, TypeAheadWhileACommandRuns) {
  // The person types the next command before the prompt is back.
  Session t;
  t.type("sleep 1");
  t.in("\r");
  t.out(kEnterEcho);
  t.in("pwd");
  t.out("pwd");                                  // the terminal driver echoes type-ahead at once
  t.out("\r\n" + std::string(kPrompt) + "pwd");  // sleep ends; readline shows the prompt and the line
  t.in("\r");
  t.out(std::string(kEnterEcho) + "/root\r\n" + std::string(kPrompt));
  EXPECT_EQ(t.commands(), (Commands{"sleep 1", "pwd"}));
}

TEST(CommandIndex, ResizeChangesWhereLinesWrap) {
  Session s(20, 5);
  // Each time, readline redraws its line (SIGWINCH).
  auto resize = [&](int cols, int rows) {
    s.indexer.resize(cols, rows);
    s.out("\r\x1b[K" + std::string(kPrompt));
  };
  resize(80, 24);
  s.type("echo this line is longer than twenty columns");
  s.enter();
  resize(16, 3);  // 3 columns after the prompt: the line wraps over rows that scroll
  s.type("echo narrow terminal now");
  s.enter();
  resize(0, -5);  // clamped, not refused
  resize(1 << 30, 1 << 30);
  s.type("ls");
  s.enter();
  EXPECT_EQ(s.commands(), (Commands{"echo this line is longer than twenty columns", "echo narrow terminal now", "ls"}));
}

TEST(CommandIndex, ResizeReadsAnEnterStillWaiting) {
  Session s;
  s.type("vim");
  s.in("\r");
  s.indexer.resize(100, 30);  // vim redraws; the line was read before
  s.out("\r\n\x1b[?1049h\x1b[Hvim screen");
  EXPECT_EQ(s.commands(), Commands{"vim"});
}

TEST(CommandIndex, TakeEmptiesAndOffsetsAreMonotonic) {
  Session s;
  s.type("a");
  s.enter();
  s.type("b");
  s.enter();
  auto first = s.indexer.take();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_LT(first[0].offset, first[1].offset);
  EXPECT_TRUE(s.indexer.entries().empty());
  s.type("c");
  s.enter();
  EXPECT_EQ(s.commands(), Commands{"c"});
}

TEST(CommandIndex, CommandsAreCutAt4KiB) {
  Session s(CommandIndexer::kMaxCols, CommandIndexer::kMaxRows);
  std::string line = "echo " + std::string(6000, 'x') + "\xc3\xa9";
  s.in(line);
  s.out(line);
  s.enter();
  ASSERT_EQ(s.indexer.entries().size(), 1u);
  EXPECT_EQ(s.indexer.entries()[0].command, line.substr(0, CommandIndexer::kMaxCommandBytes));
}

TEST(CommandIndex, StopsAfterMaxEntriesAndSaysSo) {
  CommandIndexer ix(20, 3);
  for (size_t i = 0; i <= CommandIndexer::kMaxEntries; ++i) {
    ix.output(0, "$ ");
    ix.input(0, "x");
    ix.output(0, "x");
    ix.input(0, "\r");
    ix.output(0, "\r\n");
  }
  EXPECT_EQ(ix.entries().size(), CommandIndexer::kMaxEntries);
  EXPECT_TRUE(ix.truncated());
}

TEST(CommandIndex, RandomBytesNeverCrash) {
  std::mt19937 rng(14);
  const std::string alphabet = "\x1b[]?;0123456789hlmHJKABCD\r\n\b\x7f \t~abc$#\xc3\xa9\xff\x80\x9b\x90P\\";
  auto random_bytes = [&] {
    std::string b(rng() % 64, '\0');
    for (char& c : b) c = rng() % 4 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    return b;
  };
  for (int round = 0; round < 20; ++round) {
    CommandIndexer ix(static_cast<int>(rng() % 120) - 10, static_cast<int>(rng() % 40) - 5, 1000);
    for (int i = 0; i < 3000; ++i) {
      switch (rng() % 7) {
        case 0: ix.resize(static_cast<int>(rng() % 200) - 20, static_cast<int>(rng() % 60) - 5); break;
        case 1:
        case 2: ix.input(static_cast<Micros>(i), random_bytes()); break;
        default: ix.output(static_cast<Micros>(i), random_bytes()); break;
      }
    }
    ix.finish();
    for (const auto& e : ix.entries()) {
      EXPECT_FALSE(e.command.empty());
      EXPECT_LE(e.command.size(), CommandIndexer::kMaxCommandBytes);
      EXPECT_TRUE(is_valid_utf8(e.command));
      EXPECT_GE(e.offset, 0);
    }
  }
}

TEST(CommandIndex, TabsInPromptAndOutput) {
  CommandIndexer ix(80, 24);
  ix.output(0, "a\tb\r\n#\t");
  ix.input(1, "ls");
  ix.output(1, "ls");
  ix.input(2, "\r");
  ix.output(2, "\r\n");
  ASSERT_EQ(ix.entries().size(), 1u);
  EXPECT_EQ(ix.entries()[0].command, "ls");
}

std::string sanitized(std::initializer_list<std::string_view> parts) {
  TerminalSanitizer s;
  std::string out;
  for (auto p : parts) s.feed(p, out);
  return out;
}

TEST(TerminalSanitizer, KeepsTextAndTheWhitelistOnly) {
  EXPECT_EQ(sanitized({"\x1b[01;32muser@host\x1b[00m:~$ "}), "user@host:~$ ");
  EXPECT_EQ(sanitized({"\x1b]0;title\x07"
                       "a\x1b]2;t\x1b\\b\x1bPdcs\x1b\\c"}),
            "abc");
  EXPECT_EQ(sanitized({"\x1b[K\x1b[2J\x1b[H\x1b[3;5H\x1b[12C\x1b[?1049h\x1b[?1049l\x1b[4h\x1b[1@\x1b[2P"}),
            "\x1b[K\x1b[2J\x1b[H\x1b[3;5H\x1b[12C\x1b[?1049h\x1b[?1049l\x1b[4h\x1b[1@\x1b[2P");
  EXPECT_EQ(sanitized({"\x1b"
                       "7\x1b"
                       "8\x1bM\r\n\b\t"}),
            "\x1b"
            "7\x1b"
            "8\x1bM\r\n\b\t");
  // Dropped: line attributes, charsets, cursor style, soft reset, tab stops,
  // other modes, sub-parameters, other controls.
  EXPECT_EQ(
      sanitized({"\x1b#8\x1b#3x\x1b(B\x1b[2 q\x1b[!p\x1bH\x1b[3g\x1b[Z\x1b[?25l\x1b[?69h\x1b[38:2:1m\x07\x0e\x7fy"}),
      "xy");
  EXPECT_EQ(sanitized({"\v\f"}), "\n\n");
}

TEST(TerminalSanitizer, ClampsNumbersAndSurvivesSplits) {
  EXPECT_EQ(sanitized({"\x1b[99999999999;5H"}), "\x1b[9999;5H");
  EXPECT_EQ(sanitized({"\x1b[1;2;3;4;5;6;7;8;9H", "ok"}), "ok");  // too many numbers: dropped
  EXPECT_EQ(sanitized({"\x1b", "[", "1", "0C"}), "\x1b[10C");
  EXPECT_EQ(sanitized({"\x1b]0;ti", "tle\x1b", "\\after"}), "after");
  EXPECT_EQ(sanitized({"\xc3", "\xa9", "\xe2\x9c", "\x93"}), "\xc3\xa9\xe2\x9c\x93");
}

TEST(TerminalSanitizer, InvalidUtf8AndC1BecomeReplacementCharacters) {
  const std::string r = "\xef\xbf\xbd";
  EXPECT_EQ(sanitized({"\xff"}), r);
  EXPECT_EQ(sanitized({"\x9b"
                       "31m"}),
            r + "31m");                                          // 8-bit CSI is not a control here
  EXPECT_EQ(sanitized({"\xc2\x9b"}), r);                         // nor is U+009B
  EXPECT_EQ(sanitized({"\xc3(", "\xed\xa0\x80"}), r + "(" + r);  // cut short; a surrogate
  EXPECT_EQ(sanitized({"\xe2\x9c\x1b[K"}), r + "\x1b[K");
}

// The index file.

class CommandIndexFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("bastion-cmdidx-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

CommandIndex sample() {
  CommandIndex index;
  index.header = {"alice-prod-db-1.cast", kStart, 120, 40, true};
  index.entries = {{1'234'000, "ls -la"},
                   {2'000'001, "echo \"quoted\" \\ tab\there"},
                   {2'000'001, "h\xc3\xa9 \xe2\x9c\x93"},
                   {3'600'000'000, "cat <<EOF\nmulti\nEOF"}};
  return index;
}

TEST_F(CommandIndexFile, RoundTripAndDigest) {
  CommandIndex index = sample();
  auto digest = write_command_index(path("a.cmdidx"), index);
  ASSERT_TRUE(digest) << digest.error().message;
  auto bytes = read_file(path("a.cmdidx"));
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*digest, hex_encode(sha256(as_bytes(*bytes))));
  EXPECT_TRUE(bytes->starts_with("{\"format\":\"bastion-command-index\",\"version\":1,"));
  EXPECT_NE(bytes->find("\n{\"t\":1.234000,\"cmd\":\"ls -la\"}\n"), std::string::npos);
  EXPECT_EQ(std::filesystem::status(path("a.cmdidx")).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  auto back = read_command_index(path("a.cmdidx"));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->header, index.header);
  EXPECT_EQ(back->entries, index.entries);

  EXPECT_FALSE(write_command_index(path("a.cmdidx"), index));  // never overwrites
}

TEST_F(CommandIndexFile, InvalidUtf8IsReplacedNotWrittenRaw) {
  CommandIndex index;
  index.entries = {{0, "bad \xff byte"}};
  auto back = parse_command_index(format_command_index(index), "x");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->entries[0].command, "bad \xef\xbf\xbd byte");
}

TEST_F(CommandIndexFile, ReaderErrorsNameTheLine) {
  const std::string head = "{\"format\":\"bastion-command-index\",\"version\":1}\n";
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"", "idx: empty, not a command index"},
      {"not json\n", "idx line 1: not valid JSON"},
      {"[1,2]\n", "idx line 1: the header is not a JSON object"},
      {"{\"format\":\"asciicast\",\"version\":1}\n",
       "idx line 1: not a command index (\"format\" is not \"bastion-command-index\")"},
      {"{\"format\":\"bastion-command-index\",\"version\":2}\n",
       "idx line 1: unsupported version (this reader knows version 1)"},
      {"{\"format\":\"bastion-command-index\",\"version\":1,\"cols\":0}\n", "idx line 1: \"cols\" is out of range"},
      {head + "{\"cmd\":\"ls\"}\n", "idx line 2: no time (\"t\", seconds)"},
      {head + "{\"t\":-1,\"cmd\":\"ls\"}\n", "idx line 2: \"t\" is out of range"},
      {head + "{\"t\":1,\"cmd\":7}\n", "idx line 2: no command (\"cmd\", a string)"},
      {head + "{\"t\":1,\"cmd\":\"\"}\n", "idx line 2: the command is empty"},
      {head + "{\"t\":2,\"cmd\":\"a\"}\n{\"t\":1,\"cmd\":\"b\"}\n", "idx line 3: out of time order"},
      {head + "{\"t\":1,\"cmd\":\"a\"}", "idx line 2: cut off (no newline at the end): the file is incomplete"},
      {head + "\n", "idx line 2: not valid JSON"},
      {head + "{\"t\":1,\"cmd\":\"" + std::string(5000, 'x') + "\"}\n", "idx line 2: the command is longer than 4 KiB"},
  };
  for (const Case& c : cases) {
    auto r = parse_command_index(c.text, "idx");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().message, c.error);
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  }
  EXPECT_TRUE(parse_command_index(head, "idx"));  // no commands is fine
  auto missing = read_command_index(path("none"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot read the command index"), std::string::npos);
}

}  // namespace
