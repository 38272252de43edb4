// The software security key driven through OpenSSH's own tools: ssh-keygen
// (enroll, sign, verify, download) and ssh against a real sshd that runs in
// inetd mode as the ProxyCommand (no port, no daemon). Every process is waited
// for; nothing sleeps. The provider ABI and attestation have their own files.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "tests/softkey/test_support.h"

namespace bastion::softkey_test {
namespace {

// ---- the fixture: one software-key key pair per test -------------------------
class SoftKeyTools : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir.path().empty());
    auto r = run({"ssh-keygen", "-q", "-t", GetParam(), "-w", kLib, "-N", "", "-C", "t@example", "-f", key});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    write_text(msg, "a message to sign\n");
  }

  RunResult sign(const Env& env) {
    std::filesystem::remove(msg + ".sig");
    Env all = env;
    all.emplace_back("SSH_SK_PROVIDER", kLib);
    return run({"ssh-keygen", "-Y", "sign", "-n", "file", "-f", key, msg}, all);
  }
  // ssh-keygen -vv prints the verified signature's counter and flags.
  RunResult verify() {
    write_text(dir / "allowed_signers", "t@example " + read_text(key + ".pub"));
    return run({"ssh-keygen", "-vv", "-Y", "verify", "-n", "file", "-I", "t@example", "-f", dir / "allowed_signers",
                "-s", msg + ".sig"},
               {}, msg);
  }

  TempDir dir;
  std::string key = dir / "key";
  std::string msg = dir / "msg";
};

TEST_P(SoftKeyTools, EnrollsASecurityKeyOfTheRequestedType) {
  std::string expected =
      GetParam() == "ed25519-sk" ? "sk-ssh-ed25519@openssh.com " : "sk-ecdsa-sha2-nistp256@openssh.com ";
  std::string pub = read_text(key + ".pub");
  EXPECT_EQ(pub.rfind(expected, 0), 0u) << pub;
  EXPECT_EQ(sk_public_key(pub).size(), GetParam() == "ed25519-sk" ? 32u : 65u);
}

TEST_P(SoftKeyTools, SignaturesVerifyAndCarryTheRequestedFlagsAndCounter) {
  struct Case {
    const char* flags;
    const char* counter;
    const char* details;
  };
  for (const Case& c :
       {Case{"up", "1", "counter = 1, flags = 0x01"}, Case{"up,uv", "4294967295", "counter = 4294967295, flags = 0x05"},
        Case{"uv", "77", "counter = 77, flags = 0x04"}, Case{"none", "0", "counter = 0, flags = 0x00"}}) {
    auto s = sign({{"BASTION_SOFTKEY_FLAGS", c.flags}, {"BASTION_SOFTKEY_COUNTER", c.counter}});
    ASSERT_EQ(s.exit_code, 0) << c.flags << ": " << s.err;
    auto v = verify();
    EXPECT_EQ(v.exit_code, 0) << c.flags << ": " << v.err;
    // The flags and counter are inside the signed message: these are the
    // verified values, not what the client claimed.
    EXPECT_NE(v.err.find(std::string("signature details: ") + c.details), std::string::npos) << v.err;
  }
  write_text(msg, "a different message\n");
  EXPECT_NE(verify().exit_code, 0) << "a signature over other data must not verify";
}

TEST_P(SoftKeyTools, DefaultsAreUserPresentAndAnIncreasingCounter) {
  ASSERT_EQ(sign({}).exit_code, 0);
  auto v = verify();
  ASSERT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.err.find("flags = 0x01"), std::string::npos) << v.err;
  auto at = v.err.find("counter = ");
  ASSERT_NE(at, std::string::npos) << v.err;
  EXPECT_GE(std::stoull(v.err.substr(at + 10)), 1700000000ull) << "default counter: seconds since the epoch";
}

TEST_P(SoftKeyTools, UnknownControlValuesFailClosed) {
  const Env bad[] = {{{"BASTION_SOFTKEY_FLAGS", "maybe"}},   {{"BASTION_SOFTKEY_FLAGS", "up,"}},
                     {{"BASTION_SOFTKEY_FLAGS", "none,up"}}, {{"BASTION_SOFTKEY_FLAGS", ""}},
                     {{"BASTION_SOFTKEY_COUNTER", "abc"}},   {{"BASTION_SOFTKEY_COUNTER", "-1"}},
                     {{"BASTION_SOFTKEY_COUNTER", " 5"}},    {{"BASTION_SOFTKEY_COUNTER", "4294967296"}}};
  for (const Env& env : bad) {
    auto r = sign(env);
    EXPECT_NE(r.exit_code, 0) << env[0].first << "=" << env[0].second;
    EXPECT_NE(r.err.find("bastion-softkey: " + env[0].first), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(msg + ".sig"));
  }
  auto e = run({"ssh-keygen", "-q", "-t", GetParam(), "-w", kLib, "-N", "", "-f", dir / "other"},
               {{"BASTION_SOFTKEY_AAGUID", "not-hex"}});
  EXPECT_NE(e.exit_code, 0);
  EXPECT_NE(e.err.find("bastion-softkey: BASTION_SOFTKEY_AAGUID"), std::string::npos) << e.err;
}

TEST_P(SoftKeyTools, CorruptedKeyHandleInTheKeyFileIsRefused) {
  const std::string intact = read_text(key);
  const Bytes blob = read_openssh_private_blob(key);
  const Bytes magic = {'B', 'S', 'K', 'H'};
  auto at = std::search(blob.begin(), blob.end(), magic.begin(), magic.end());
  ASSERT_NE(at, blob.end()) << "key handle not found in the private key file";
  const auto handle = static_cast<size_t>(at - blob.begin());
  // magic, version, algorithm, private scalar (first, last), tag (first, last)
  for (size_t offset : {0u, 4u, 5u, 6u, 37u, 38u, 53u}) {
    Bytes corrupt = blob;
    corrupt[handle + offset] ^= 0x01;
    write_openssh_private_blob(key, corrupt);
    auto r = sign({});
    EXPECT_NE(r.exit_code, 0) << "byte " << offset;
    EXPECT_NE(r.err.find("bastion-softkey: key handle"), std::string::npos) << "byte " << offset << ": " << r.err;
    EXPECT_FALSE(std::filesystem::exists(msg + ".sig"));
  }
  write_openssh_private_blob(key, blob);
  EXPECT_EQ(read_text(key), intact) << "the test's own re-encoding must be faithful";
  EXPECT_EQ(sign({}).exit_code, 0) << "the intact key still signs";
}

TEST_P(SoftKeyTools, ResidentKeysAreRefusedAndNoneAreDownloaded) {
  auto r = run({"ssh-keygen", "-q", "-t", GetParam(), "-w", kLib, "-N", "", "-O", "resident", "-f", dir / "rk"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bastion-softkey: resident keys are not supported"), std::string::npos) << r.err;
  auto k = run({"ssh-keygen", "-K", "-w", kLib});
  EXPECT_EQ(k.exit_code, 0) << k.err;
  EXPECT_NE(k.err.find("No keys to download"), std::string::npos) << k.err;
}

// The flags where OpenSSH enforces them: sshd. It runs in inetd mode as the
// ProxyCommand of ssh, so there is no port, no daemon and nothing to wait for.
// (ssh-keygen -Y verify in 9.2 does not enforce them; allowed_signers has no
// no-touch-required or verify-required option.)
class SoftKeySshd : public SoftKeyTools {
 protected:
  int login(const std::string& authorized_keys_options, const char* flags, std::string* log = nullptr) {
    const passwd* pw = getpwuid(getuid());
    if (pw == nullptr) return -1;
    if (getuid() == 0) std::filesystem::create_directories("/run/sshd");  // sshd's privsep dir
    if (!std::filesystem::exists(dir / "host_key") &&
        run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir / "host_key"}).exit_code != 0) {
      return -1;
    }
    write_text(dir / "authorized_keys", authorized_keys_options + read_text(key + ".pub"));
    write_text(dir / "sshd_config", "HostKey " + dir / "host_key" + "\nAuthorizedKeysFile " + dir / "authorized_keys" +
                                        "\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                                        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
                                        "LogLevel VERBOSE\n");
    auto r = run({"ssh",
                  "-F",
                  "none",
                  "-o",
                  "BatchMode=yes",
                  "-o",
                  "StrictHostKeyChecking=no",
                  "-o",
                  "UserKnownHostsFile=/dev/null",
                  "-o",
                  "IdentitiesOnly=yes",
                  "-o",
                  "IdentityAgent=none",
                  "-o",
                  "SecurityKeyProvider=" + kLib,
                  "-i",
                  key,
                  "-o",
                  "ProxyCommand=/usr/sbin/sshd -i -e -f " + dir / "sshd_config",
                  "-l",
                  pw->pw_name,
                  "softkey-sshd",
                  "true"},
                 {{"BASTION_SOFTKEY_FLAGS", flags}});
    if (log != nullptr) *log = r.err;
    return r.exit_code;
  }
};

TEST_P(SoftKeySshd, RealSshdSeesTouchAndPinFlags) {
  ASSERT_TRUE(std::filesystem::exists("/usr/sbin/sshd")) << "openssh-server is needed for this test";
  std::string log;
  EXPECT_EQ(login("", "up", &log), 0) << log;
  EXPECT_NE(login("", "none", &log), 0);
  EXPECT_NE(log.find("user presence (authenticator touch) requirement not met"), std::string::npos) << log;
  EXPECT_EQ(login("no-touch-required ", "none", &log), 0) << log;
  EXPECT_NE(login("verify-required ", "up", &log), 0);
  EXPECT_NE(log.find("user verification requirement not met"), std::string::npos) << log;
  EXPECT_EQ(login("verify-required ", "up,uv", &log), 0) << log;
}

INSTANTIATE_TEST_SUITE_P(Types, SoftKeyTools, ::testing::Values("ed25519-sk", "ecdsa-sk"));
INSTANTIATE_TEST_SUITE_P(Types, SoftKeySshd, ::testing::Values("ed25519-sk", "ecdsa-sk"));

}  // namespace
}  // namespace bastion::softkey_test
