// End-to-end: the command timeline of recordings (issue 14). A real terminal
// (tmux) runs a real ssh through the gateway to bash on the target; what the
// person types is edited on the way (tab completion, history recall,
// backspaces), and `sessions commands` must show the commands as they ran.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "fixture.h"
#include "tmux.h"

namespace bastion::e2e {
namespace {

class CommandTimeline : public DeploymentTest<CommandTimeline> {
 protected:
  static std::string newest_session() {
    auto all = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--json"}));
    return all.empty() ? "" : all[0]["id"].get<std::string>();
  }
  // bash without the account's start-up files (their prompts and tools vary
  // between machines) and without writing its history anywhere.
  static std::vector<std::string> bash_argv() {
    auto argv = d->ssh_argv(*alice, dest(), {"-tt"});
    argv.push_back("env HISTFILE=/dev/null PS1='tl$ ' bash --norc --noprofile -i");
    return argv;
  }
  static std::vector<std::string> commands_of(const std::string& id) {
    auto j = nlohmann::json::parse(d->ctl_ok({"sessions", "commands", id, "--json"}));
    std::vector<std::string> out;
    for (const auto& e : j) out.push_back(e["command"].get<std::string>());
    return out;
  }
  // Waits for the session's end record (written after the client has gone).
  static void wait_for_end(const std::string& id) { EXPECT_TRUE(d->wait_for_session_end(id)); }
};

TEST_F(CommandTimeline, LineEditingHistoryAndCompletionGiveTheCommandsAsTheyRan) {
  {
    Tmux term(d->dir(), bash_argv(), 30, 100);
    ASSERT_TRUE(term.shows("tl$")) << term.screen();  // capture-pane drops trailing blanks
    // Tab completion: "ech" becomes "echo ".
    term.type("ech");
    term.keys({"Tab"});
    term.type("tab-$((20+1))");
    term.keys({"Enter"});
    ASSERT_TRUE(term.shows("tab-21")) << term.screen();
    // Backspace: "fixd" corrected to "fixed".
    term.type("printf 'typo-%s\\n' fixd");
    term.keys({"BSpace"});
    term.type("ed");
    term.keys({"Enter"});
    ASSERT_TRUE(term.shows("typo-fixed")) << term.screen();
    // History recall: the previous command, its end edited.
    term.type("echo first-$((1+1))");
    term.keys({"Enter"});
    ASSERT_TRUE(term.shows("first-2")) << term.screen();
    term.keys({"Up", "BSpace", "BSpace", "BSpace"});
    term.type("5))");
    term.keys({"Enter"});
    ASSERT_TRUE(term.shows("first-6")) << term.screen();
    // Cursor movement: the start of the line, a word put in front.
    term.type("first-9");
    term.keys({"C-a"});
    term.type("echo ");
    term.keys({"Enter"});
    ASSERT_TRUE(term.shows("\nfirst-9")) << term.screen();
    term.type("exit");
    term.keys({"Enter"});
    EXPECT_TRUE(term.gone()) << term.screen();
  }
  std::string id = newest_session();
  ASSERT_FALSE(id.empty());
  wait_for_end(id);
  std::vector<std::string> want = {"echo tab-$((20+1))",  "printf 'typo-%s\\n' fixed",
                                   "echo first-$((1+1))", "echo first-$((1+5))",
                                   "echo first-9",        "exit"};
  EXPECT_EQ(commands_of(id), want);
  auto text = d->ctl({"sessions", "commands", id});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("ch1  echo first-$((1+5))"), std::string::npos) << text.out;

  // The index is vouched for by the audit chain: verify says so, and catches a change.
  auto v = d->ctl({"sessions", "verify", id});
  ASSERT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("command index intact"), std::string::npos) << v.out;
  auto show = nlohmann::json::parse(d->ctl_ok({"sessions", "show", id, "--json"}));
  std::string cast = show["recordings"][0]["path"].get<std::string>();
  std::string index = cast.substr(0, cast.size() - 5) + ".cmdidx";
  ASSERT_TRUE(std::filesystem::exists(index)) << index;
  std::string original = read_text(index);
  std::string tampered = original;
  size_t at = tampered.find("first-$((1+5))");
  ASSERT_NE(at, std::string::npos) << original;
  tampered[at + 11] = '4';
  write_text(index, tampered, 0600);
  auto bad = d->ctl({"sessions", "verify", id});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("command index altered"), std::string::npos) << bad.err;
  write_text(index, original, 0600);
  EXPECT_EQ(d->ctl({"sessions", "verify", id}).exit_code, 0);

  // Replay from a command's offset: the screen before it is shown at once.
  auto j = nlohmann::json::parse(d->ctl_ok({"sessions", "commands", id, "--json"}));
  for (const auto& e : j) EXPECT_EQ(e["source"], "index") << "read from the index file, not rebuilt: " << e;
  std::string offset = std::to_string(j[3]["offset"].get<double>());
  auto play = d->ctl({"sessions", "replay", id, "--at", offset, "--speed", "100", "--idle-limit", "0.05"});
  EXPECT_EQ(play.exit_code, 0) << play.err;
  EXPECT_NE(play.out.find("tab-21"), std::string::npos);
  EXPECT_NE(play.out.find("first-6"), std::string::npos);
  auto wrong = d->ctl({"sessions", "replay", id, "--at", "1:75"});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.err.find("not an offset"), std::string::npos) << wrong.err;
}

TEST_F(CommandTimeline, SearchFindsACommandAcrossSessions) {
  // Two terminal sessions and one exec channel run a command with the same word.
  for (int i = 1; i <= 2; ++i) {
    PtySession term(bash_argv(), 24, 80);
    ASSERT_TRUE(term.read_until("tl$ ")) << term.screen();
    term.type("echo needle-" + std::to_string(i) + "-$((40+2))\r");
    ASSERT_TRUE(term.read_until("-42")) << term.screen();
    term.type("exit\r");
    EXPECT_EQ(term.wait_exit(), 0);
    wait_for_end(newest_session());
  }
  auto exec = d->ssh(*alice, dest(), {"echo", "needle-3"});
  ASSERT_EQ(exec.exit_code, 0) << exec.err;
  wait_for_end(newest_session());

  auto found = d->ctl({"sessions", "search", "--command", "needle-[0-9]", "--json"});
  ASSERT_EQ(found.exit_code, 0) << found.err;
  auto hits = nlohmann::json::parse(found.out);
  ASSERT_EQ(hits.size(), 3u) << found.out;
  std::set<std::string> sessions, commands;
  for (const auto& h : hits) {
    sessions.insert(h["session"].get<std::string>());
    commands.insert(h["command"].get<std::string>());
    EXPECT_EQ(h["user"], "alice");
  }
  EXPECT_EQ(sessions.size(), 3u);
  EXPECT_EQ(commands, (std::set<std::string>{"echo needle-1-$((40+2))", "echo needle-2-$((40+2))", "echo needle-3"}));
  EXPECT_EQ(d->ctl({"sessions", "search", "--command", "needle-[0-9]", "--user", "nobody"}).exit_code, 1);
  auto text = d->ctl({"sessions", "search", "--command", "needle-2"});
  EXPECT_NE(text.out.find("alice@prod-db-1: echo needle-2-$((40+2))"), std::string::npos) << text.out;
  auto bad = d->ctl({"sessions", "search", "--command", "needle-("});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("not a regular expression"), std::string::npos) << bad.err;
  EXPECT_EQ(d->ctl({"sessions", "search"}).exit_code, 2);
}

}  // namespace
}  // namespace bastion::e2e
