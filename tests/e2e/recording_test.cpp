// End-to-end: session recording, its review tools, and fail-closed behaviour.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <cstring>
#include <sstream>

#include "fixture.h"

namespace bastion::e2e {
namespace {

class Recording : public DeploymentTest<Recording> {
 protected:
  static std::string newest_session() {
    auto all = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--json"}));
    return all.empty() ? "" : all[0]["id"].get<std::string>();
  }
  static std::string recording_file(const std::string& id) {
    auto j = nlohmann::json::parse(d->ctl_ok({"sessions", "show", id, "--json"}));
    return j["recordings"].empty() ? "" : j["recordings"][0]["path"].get<std::string>();
  }
};

TEST_F(Recording, PtySessionIsRecordedAndReviewable) {
  {
    PtySession term(d->ssh_argv(*alice, dest(), {"-tt"}), 30, 100);
    term.type("echo marker-$((6*7))\n");
    ASSERT_TRUE(term.read_until("marker-42")) << term.screen();
    term.type("exit\n");
    EXPECT_EQ(term.wait_exit(), 0);
  }
  std::string id = newest_session();
  ASSERT_FALSE(id.empty());
  std::string cast = d->ctl_ok({"sessions", "export", id});
  std::istringstream lines(cast);
  std::string line;
  std::getline(lines, line);
  auto header = nlohmann::json::parse(line);
  EXPECT_EQ(header["version"], 2);
  EXPECT_EQ(header["width"], 100);
  EXPECT_EQ(header["height"], 30);
  EXPECT_EQ(header["title"], "alice: " + dest());
  std::string output, input;
  while (std::getline(lines, line)) {
    auto e = nlohmann::json::parse(line);
    ASSERT_TRUE(e.is_array() && e.size() == 3) << line;
    if (e[1] == "o") output += e[2].get<std::string>();
    if (e[1] == "i") input += e[2].get<std::string>();
  }
  EXPECT_NE(output.find("marker-42"), std::string::npos);
  EXPECT_NE(input.find("echo marker-$((6*7))"), std::string::npos) << "typed input is recorded";

  auto v = d->ctl({"sessions", "verify", id});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("channel 1: intact"), std::string::npos) << v.out;
  auto found = d->ctl({"sessions", "search", "marker-42", "--json"});
  ASSERT_EQ(found.exit_code, 0);
  auto hits = nlohmann::json::parse(found.out);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0]["session"], id);
  auto play = d->ctl({"sessions", "replay", id, "--speed", "50", "--idle-limit", "0.1"});
  EXPECT_NE(play.out.find("marker-42"), std::string::npos);
  // The end is recorded after the client has its exit status: wait for it.
  nlohmann::json end;
  EXPECT_TRUE(wait_for(
      [&] {
        end = nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--session", id, "--action", "session.end"}));
        return !end.empty();
      },
      15000));
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0]["details"]["recordings"][0]["size"].get<int64_t>(),
            static_cast<int64_t>(std::filesystem::file_size(recording_file(id))));
}

// A terminal recording (asciicast; its digest is over its chunks, as for streams):
// stream_recording_test.cpp has the streams.
TEST_F(Recording, VerifyCatchesAlteredAndTruncatedRecordings) {
  auto argv = d->ssh_argv(*alice, dest(), {"-tt"});
  argv.push_back("for i in 1 2 3; do echo line-$i; done");
  ASSERT_EQ(run(argv, {}, "", 30000).exit_code, 0);
  std::string id = newest_session();
  ASSERT_TRUE(wait_for(
      [&] {
        return !nlohmann::json::parse(
                    d->ctl_ok({"audit", "list", "--json", "--session", id, "--action", "recording.end"}))
                    .empty();
      },
      15000));
  std::string path = recording_file(id);
  std::string original = read_text(path);
  ASSERT_NE(original.find("line-2"), std::string::npos);
  std::string altered = original;
  altered.replace(altered.find("line-2"), 6, "line-X");
  write_text(path, altered, 0600);
  auto v = d->ctl({"sessions", "verify", id});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("recording altered"), std::string::npos) << v.err;
  write_text(path, original.substr(0, original.size() - 10), 0600);
  v = d->ctl({"sessions", "verify", id});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("truncated"), std::string::npos) << v.err;
  write_text(path, original, 0600);
  EXPECT_EQ(d->ctl({"sessions", "verify", id}).exit_code, 0);
}

TEST_F(Recording, KilledConnectionLeavesAReadableRecordingAndAValidChain) {
  auto argv = d->ssh_argv(*alice, dest());
  argv.push_back("echo before-the-crash; sleep 60");
  std::string log = d->dir() + "/crash-client.log";
  Process client(argv, log);
  ASSERT_TRUE(wait_for([&] { return read_text(log).find("before-the-crash") != std::string::npos; }, 15000));
  std::string id = newest_session();
  std::string path = recording_file(id);
  // The recording reaches the disk within the flush interval (1 s); it is
  // compressed, so ask the export.
  ASSERT_TRUE(wait_for(
      [&] {
        return d->ctl({"sessions", "export", id}).out.find("before-the-crash") != std::string::npos;
      },
      5000));
  pid_t conn = -1;
  for (pid_t k : connection_pids(d->bastiond().pid())) conn = k;
  ASSERT_GT(conn, 0);
  kill(conn, SIGKILL);
  client.wait(10000);
  // The monitor records the end when it reaps the child, which may be after the client noticed.
  nlohmann::json s;
  EXPECT_TRUE(wait_for(
      [&] {
        s = nlohmann::json::parse(d->ctl_ok({"sessions", "show", id, "--json"}));
        return !s["ended_at"].is_null();
      },
      15000));
  EXPECT_NE(s["end_reason"].get<std::string>().find("killed by signal"), std::string::npos) << s.dump();
  EXPECT_EQ(d->ctl({"audit", "verify"}).exit_code, 0);
  EXPECT_NE(d->ctl_ok({"sessions", "export", id}).find("before-the-crash"), std::string::npos);
  auto v = d->ctl({"sessions", "verify", id});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("incomplete"), std::string::npos) << v.out;
}

TEST_F(Recording, EncryptedRecordingsNeedTheReviewerKey) {
  std::string prefix = d->dir() + "/reviewer";
  auto kg = d->ctl({"recording", "keygen", "--out", prefix});
  ASSERT_EQ(kg.exit_code, 0) << kg.err;
  d->edit_config("# encrypt_to = \"reviewer.pub\"", "encrypt_to = \"" + prefix + ".pub\"");
  ASSERT_EQ(d->ssh(*alice, dest(), {"echo classified-output"}).exit_code, 0);
  std::string id = newest_session();
  EXPECT_EQ(read_text(recording_file(id)).find("classified-output"), std::string::npos);
  auto no_key = d->ctl({"sessions", "export", id});
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_NE(no_key.err.find("is encrypted: pass --key"), std::string::npos);
  auto with_key = d->ctl({"sessions", "export", id, "--key", prefix + ".key"});
  ASSERT_EQ(with_key.exit_code, 0) << with_key.err;
  EXPECT_NE(with_key.out.find("classified-output"), std::string::npos);
  EXPECT_EQ(d->ctl({"sessions", "verify", id}).exit_code, 0) << "integrity is checkable without the key";
  // A terminal's command index is sealed like its recording.
  {
    auto argv = d->ssh_argv(*alice, dest(), {"-tt"});
    argv.push_back("env HISTFILE=/dev/null PS1='rv$ ' bash --norc --noprofile -i");
    PtySession term(argv, 24, 80);
    // Typed at the prompt: keys typed before it are not told apart from the greeting.
    ASSERT_TRUE(term.read_until("rv$ ")) << term.screen();
    term.type("echo secret-cmd-$((6*7))\r");
    ASSERT_TRUE(term.read_until("secret-cmd-42")) << term.screen();
    term.type("exit\r");
    EXPECT_EQ(term.wait_exit(), 0);
  }
  std::string pty = newest_session();
  ASSERT_TRUE(wait_for(
      [&] {
        return d->ctl({"sessions", "verify", pty}).out.find("command index intact") != std::string::npos;
      },
      15000));
  std::string cast = recording_file(pty);
  std::string index = cast.substr(0, cast.size() - 5) + ".cmdidx";
  EXPECT_EQ(read_text(index).find("secret-cmd"), std::string::npos);
  auto commands_no_key = d->ctl({"sessions", "commands", pty});
  EXPECT_EQ(commands_no_key.exit_code, 1);
  EXPECT_NE(commands_no_key.err.find("is encrypted: pass --key"), std::string::npos) << commands_no_key.err;
  auto commands = d->ctl({"sessions", "commands", pty, "--key", prefix + ".key"});
  EXPECT_EQ(commands.exit_code, 0) << commands.err;
  EXPECT_NE(commands.out.find("echo secret-cmd-$((6*7))"), std::string::npos) << commands.out;
  d->edit_config("encrypt_to = \"" + prefix + ".pub\"", "# encrypt_to = \"reviewer.pub\"");
}

TEST_F(Recording, RetentionPurgeKeepsTheChainVerifiable) {
  ASSERT_EQ(d->ssh(*alice, dest(), {"echo old-session"}).exit_code, 0);
  std::string id = newest_session();
  std::string path = recording_file(id);
  ASSERT_TRUE(std::filesystem::exists(path));
  // A purge goes only as far as a signed checkpoint: sign once the session's end is on record.
  ASSERT_TRUE(wait_for(
      [&] {
        return !nlohmann::json::parse(
                    d->ctl_ok({"audit", "list", "--json", "--session", id, "--action", "session.end"}))
                    .empty();
      },
      10000));
  d->ctl_ok({"audit", "checkpoint"});
  auto dry = d->ctl({"audit", "purge", "--older-than", "0s", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would remove"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(path));
  auto p = d->ctl({"audit", "purge", "--older-than", "0s"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.out.find("signed purge anchor at seq"), std::string::npos) << p.out;
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(d->ctl({"sessions", "show", id}).exit_code, 1);
  auto v = d->ctl({"audit", "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("retention: records up to seq"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("signature verified"), std::string::npos) << v.out;
  ASSERT_EQ(d->ssh(*alice, dest(), {"true"}).exit_code, 0);
  EXPECT_EQ(d->ctl({"audit", "verify"}).exit_code, 0);
}

TEST_F(Recording, UnrecordableSessionIsRefusedUnlessTargetIsBestEffort) {
  std::string dir = d->dir() + "/state/recordings";
  std::filesystem::create_directories(dir);
  std::filesystem::rename(dir, dir + ".moved");
  write_text(dir, "not a folder\n");  // every open under it now fails
  auto r = d->ssh(*alice, dest(), {"echo should-not-run"});
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.out.find("should-not-run"), std::string::npos);
  EXPECT_NE(r.err.find("bastion: session refused: it cannot be recorded"), std::string::npos) << r.err;

  d->ctl_ok({"target", "add", "lab-1", "--address", "127.0.0.1:" + std::to_string(d->target_port()), "--host-key",
             d->target_host_pub(), "--label", "env=prod", "--recording", "best-effort"});
  auto lab = d->ssh(*alice, d->login() + "@lab-1", {"echo runs-anyway"});
  EXPECT_EQ(lab.exit_code, 0) << lab.err;
  EXPECT_EQ(lab.out, "runs-anyway\n");
  auto audit = nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--action", "recording"}));
  ASSERT_FALSE(audit.empty());
  EXPECT_NE(audit.back()["reason"].get<std::string>().find("best-effort"), std::string::npos);
  std::filesystem::remove(dir);
  std::filesystem::rename(dir + ".moved", dir);
}

TEST_F(Recording, FullDiskEndsTheSession) {
  std::string dir = d->dir() + "/state/recordings";
  std::filesystem::create_directories(dir);
  if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=256k") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): " << std::strerror(errno);
  }
  auto r = d->ssh(*alice, dest(), {"head -c 5000000 /dev/urandom | base64; sleep 5; echo not-reached"}, "", {}, 60000);
  umount2(dir.c_str(), MNT_DETACH);
  EXPECT_EQ(r.exit_code, 255);
  EXPECT_EQ(r.out.find("not-reached"), std::string::npos);
  // The reason is in the audit log whatever the client saw.
  auto why = nlohmann::json::parse(d->ctl_ok({"audit", "search", "No space left on device", "--json"}));
  EXPECT_FALSE(why.empty()) << d->ctl_ok({"audit", "list", "--json", "--limit", "20"});
  // The person is told why, unless the connection was reset under the
  // client first: it was still writing (window adjustments for the 5 MB it
  // receives) when the gateway closed, and a TCP reset drops what it had not
  // read yet, the message included. Seen once on a loaded CI-sized machine
  // (three tests at a time); a lingering close in the connection process
  // would fix it (issue note of stop 35).
  if (r.err.find("Broken pipe") == std::string::npos && r.err.find("reset by peer") == std::string::npos) {
    EXPECT_NE(r.err.find("bastion: session ended: the session can no longer be recorded"), std::string::npos)
        << r.err.substr(0, 2000);
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos);
  }
  EXPECT_TRUE(d->bastiond().running());
}

}  // namespace
}  // namespace bastion::e2e
