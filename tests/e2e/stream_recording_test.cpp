// End-to-end: non-terminal channels are recorded byte-exact (issue 14 step 1):
// what `ssh HOST cat FILE` or `ssh HOST 'cat > FILE'` moved can be exported
// bit for bit, streams stay apart, tampering is caught by chunk, and
// encryption and compression round-trip. Terminals stay asciicast.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <cstring>
#include <random>

#include "fixture.h"

namespace bastion::e2e {
namespace {

std::string random_blob(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(s.data() + i, &v, 8);
  }
  return s;
}

class StreamRecording : public DeploymentTest<StreamRecording> {
 protected:
  static std::string newest_session() {
    auto all = nlohmann::json::parse(d->ctl_ok({"sessions", "list", "--json"}));
    return all.empty() ? "" : all[0]["id"].get<std::string>();
  }
  static std::string recording_file(const std::string& id) {
    auto j = nlohmann::json::parse(d->ctl_ok({"sessions", "show", id, "--json"}));
    return j["recordings"].empty() ? "" : j["recordings"][0]["path"].get<std::string>();
  }
  // The recording's end is on record once the channel is finished; the client may return first.
  static bool wait_recording_end(const std::string& id) {
    return wait_for(
        [&] {
          return !nlohmann::json::parse(
                      d->ctl_ok({"audit", "list", "--json", "--session", id, "--action", "recording.end"}))
                      .empty();
        },
        15000);
  }
  static ProcResult export_stream(const std::string& id, const std::string& stream,
                                  const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"sessions", "export", id, "--channel", "1", "--stream", stream};
    args.insert(args.end(), extra.begin(), extra.end());
    return d->ctl(args);
  }
  // Writes `blob` to a file on the target (the target sshd runs on this host).
  static std::string stage(const std::string& name, const std::string& blob) {
    std::string path = d->dir() + "/" + name;
    write_text(path, blob, 0644);
    return path;
  }
};

TEST_F(StreamRecording, DownloadIsRecordedByteExact) {
  std::string blob = random_blob(8 << 20, 1);
  std::string src = stage("download.bin", blob);
  auto r = d->ssh(*alice, dest(), {"cat", src}, "", {}, 120000);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.size(), blob.size());
  EXPECT_TRUE(r.out == blob) << "the client got other bytes";
  std::string id = newest_session();
  ASSERT_TRUE(wait_recording_end(id));
  std::string path = recording_file(id);
  EXPECT_TRUE(path.ends_with(".stream")) << path;
  auto out = export_stream(id, "stdout");
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out.size(), blob.size());
  EXPECT_TRUE(out.out == blob) << "the export differs from what was sent";
  auto v = d->ctl({"sessions", "verify", id});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("channel 1: intact"), std::string::npos) << v.out;
  auto end =
      nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--session", id, "--action", "recording.end"}));
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0]["details"]["digest"], "chunks-sha256");
  // Incompressible output costs little more than itself on disk.
  EXPECT_LT(std::filesystem::file_size(path), blob.size() + blob.size() / 50);
  auto replay = d->ctl({"sessions", "replay", id});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  EXPECT_NE(replay.out.find("stdout: 8388608 bytes"), std::string::npos) << replay.out;
  EXPECT_NE(replay.out.find("stdin: nothing"), std::string::npos) << replay.out;
}

TEST_F(StreamRecording, UploadIsRecordedAsStdin) {
  std::string blob = random_blob(2 << 20, 2);
  std::string dst = d->dir() + "/uploaded.bin";
  auto r = d->ssh(*alice, dest(), {"cat > " + dst}, blob, {}, 120000);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(read_text(dst) == blob) << "the target got other bytes";
  std::string id = newest_session();
  ASSERT_TRUE(wait_recording_end(id));
  auto in = export_stream(id, "stdin");
  ASSERT_EQ(in.exit_code, 0) << in.err;
  EXPECT_EQ(in.out.size(), blob.size());
  EXPECT_TRUE(in.out == blob) << "the exported stdin differs from the upload";
  EXPECT_EQ(export_stream(id, "stdout").out, "");
}

TEST_F(StreamRecording, StderrIsKeptApart) {
  auto r = d->ssh(*alice, dest(), {"sh -c 'echo out; echo err >&2'"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = newest_session();
  ASSERT_TRUE(wait_recording_end(id));
  EXPECT_EQ(export_stream(id, "stdout").out, "out\n");
  EXPECT_EQ(export_stream(id, "stderr").out, "err\n");
  auto bad = d->ctl({"sessions", "export", id, "--stream", "stdlog"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  auto found = d->ctl({"sessions", "search", "echo err", "--json"});
  EXPECT_EQ(found.exit_code, 0) << found.err;
  EXPECT_NE(found.err.find("searched by command line only"), std::string::npos) << found.err;
  auto hits = nlohmann::json::parse(found.out);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0]["session"], id);
}

TEST_F(StreamRecording, VerifyNamesTheTamperedChunk) {
  std::string blob = random_blob(1 << 20, 3);
  auto r = d->ssh(*alice, dest(), {"cat", stage("tamper.bin", blob)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = newest_session();
  ASSERT_TRUE(wait_recording_end(id));
  std::string path = recording_file(id);
  std::string original = read_text(path);
  std::string altered = original;
  altered[altered.size() / 2] ^= 0x01;
  write_text(path, altered, 0600);
  auto v = d->ctl({"sessions", "verify", id});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("recording altered: chunk 1 "), std::string::npos) << v.err;
  write_text(path, original.substr(0, original.size() - 100), 0600);
  v = d->ctl({"sessions", "verify", id});
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_NE(v.err.find("truncated"), std::string::npos) << v.err;
  write_text(path, original, 0600);
  EXPECT_EQ(d->ctl({"sessions", "verify", id}).exit_code, 0);
}

TEST_F(StreamRecording, EncryptedAndCompressedRoundTripsWithTheReviewerKey) {
  std::string prefix = d->dir() + "/reviewer";
  auto kg = d->ctl({"recording", "keygen", "--out", prefix});
  ASSERT_EQ(kg.exit_code, 0) << kg.err;
  d->edit_config("# encrypt_to = \"reviewer.pub\"", "encrypt_to = \"" + prefix + ".pub\"");
  std::string blob = "classified " + random_blob(1 << 20, 4) + std::string(1 << 20, 'z');
  auto r = d->ssh(*alice, dest(), {"cat", stage("secret.bin", blob)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = newest_session();
  ASSERT_TRUE(wait_recording_end(id));
  std::string file = read_text(recording_file(id));
  EXPECT_EQ(file.find("classified"), std::string::npos);
  EXPECT_LT(file.size(), blob.size()) << "compressed before it was encrypted";
  auto no_key = export_stream(id, "stdout");
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_NE(no_key.err.find("is encrypted: pass --key"), std::string::npos) << no_key.err;
  auto with_key = export_stream(id, "stdout", {"--key", prefix + ".key"});
  ASSERT_EQ(with_key.exit_code, 0) << with_key.err;
  EXPECT_TRUE(with_key.out == blob) << "decrypted export differs";
  EXPECT_EQ(d->ctl({"sessions", "verify", id}).exit_code, 0) << "integrity is checkable without the key";
  d->edit_config("encrypt_to = \"" + prefix + ".pub\"", "# encrypt_to = \"reviewer.pub\"");
}

TEST_F(StreamRecording, TerminalsStayAsciicast) {
  auto argv = d->ssh_argv(*alice, dest(), {"-tt"});
  argv.push_back("echo pty-marker-$((6*7))");
  auto r = run(argv, {}, "", 30000);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = newest_session();
  ASSERT_TRUE(wait_recording_end(id));
  std::string path = recording_file(id);
  EXPECT_TRUE(path.ends_with(".cast")) << path;
  std::string cast = d->ctl_ok({"sessions", "export", id});
  auto header = nlohmann::json::parse(cast.substr(0, cast.find('\n')));
  EXPECT_EQ(header["version"], 2);
  EXPECT_NE(cast.find("pty-marker-42"), std::string::npos);
  auto v = d->ctl({"sessions", "verify", id});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  auto end =
      nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--session", id, "--action", "recording.end"}));
  ASSERT_EQ(end.size(), 1u);
  // Each byte is hashed once: a cast's final digest is over its chunks too
  // (older versions hashed the whole file again; old_recording_test.cpp keeps one).
  EXPECT_EQ(end[0]["details"]["digest"], "chunks-sha256");
  auto wrong = d->ctl({"sessions", "export", id, "--stream", "stdout"});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.err.find("terminal recording"), std::string::npos) << wrong.err;
}

// [recording] sftp_content: an sftp channel is recorded byte-exact too, and
// each file that passed can be taken out of the recording as it passed.
TEST_F(StreamRecording, SftpContentRecordsTheFilesThatPassed) {
  std::string up = stage("sftp-up.bin", random_blob(3'000'000, 7));
  std::string there = stage("sftp-there.bin", random_blob(1'500'000, 8));
  std::string back = d->dir() + "/sftp-back.bin";
  write_text(d->dir() + "/content.batch",
             "put " + up + " " + d->dir() + "/sftp-up.remote\nget " + there + " " + back + "\n");
  std::vector<std::string> argv = {"sftp", "-P", std::to_string(d->gateway_port()), "-b", d->dir() + "/content.batch"};
  auto opts = d->client_options(*alice);
  argv.insert(argv.end(), opts.begin(), opts.end());
  argv.push_back(dest() + "@127.0.0.1");

  // Off by default: the channel is audited per file but not recorded.
  ASSERT_EQ(run(argv).exit_code, 0);
  std::string id = newest_session();
  auto none = d->ctl({"sessions", "files", id});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("sftp_content"), std::string::npos) << none.err;

  d->edit_config("sftp_content = false", "sftp_content = true");
  auto r = run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  id = newest_session();
  ASSERT_TRUE(wait_recording_end(id));
  auto list = d->ctl({"sessions", "files", id, "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto files = nlohmann::json::parse(list.out);
  int upload = 0, download = 0;
  for (const auto& f : files) {
    if (f["path"] == d->dir() + "/sftp-up.remote" && f["uploaded"] == 3'000'000) upload = f["transfer"].get<int>();
    if (f["path"] == there && f["downloaded"] == 1'500'000) download = f["transfer"].get<int>();
  }
  ASSERT_GT(upload, 0) << list.out;
  ASSERT_GT(download, 0) << list.out;
  auto up_bytes = d->ctl({"sessions", "export", id, "--channel", "1", "--transfer", std::to_string(upload)});
  ASSERT_EQ(up_bytes.exit_code, 0) << up_bytes.err;
  EXPECT_TRUE(up_bytes.out == read_text(up))
      << "uploaded bytes as the client sent them (" << up_bytes.out.size() << ")";
  auto down_bytes = d->ctl({"sessions", "export", id, "--channel", "1", "--transfer", std::to_string(download)});
  ASSERT_EQ(down_bytes.exit_code, 0) << down_bytes.err;
  EXPECT_TRUE(down_bytes.out == read_text(there)) << "downloaded bytes as the target sent them";
  EXPECT_EQ(d->ctl({"sessions", "export", id, "--channel", "1", "--transfer", "99"}).exit_code, 1);
  auto v = d->ctl({"sessions", "verify", id});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  // The per-file audit records are still there.
  auto closes =
      nlohmann::json::parse(d->ctl_ok({"audit", "list", "--json", "--session", id, "--action", "file.close"}));
  EXPECT_GE(closes.size(), 2u);
  d->edit_config("sftp_content = true", "sftp_content = false");
}

}  // namespace
}  // namespace bastion::e2e
