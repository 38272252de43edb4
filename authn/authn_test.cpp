// public_key and user_ca, checked against the real ssh-keygen.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "authn/public_key.h"
#include "authn/shell_test_support.h"
#include "authn/user_ca.h"
#include "common/encoding.h"
#include "common/ssh_wire.h"

namespace bastion::authn {
namespace {

using test_support::sh;
using test_support::slurp;

class AuthnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/authn-test-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string keygen(const std::string& name, const std::string& args) {
    sh("ssh-keygen -q -N '' -C c " + args + " -f " + dir + "/" + name);
    return dir + "/" + name;
  }
  std::string dir;
};

TEST_F(AuthnTest, ParsesRealKeysAndMatchesSshKeygenFingerprints) {
  for (const char* args : {"-t ed25519", "-t ecdsa -b 256", "-t rsa -b 2048"}) {
    std::string path = keygen(std::string("k") + std::to_string(args[4]), args);
    auto key = read_public_key_file(path + ".pub");
    ASSERT_TRUE(key) << args << ": " << key.error().message;
    std::string expected = sh("ssh-keygen -l -E sha256 -f " + path + ".pub");
    EXPECT_NE(expected.find(fingerprint_sha256(key->blob) + " "), std::string::npos) << expected;
    EXPECT_FALSE(is_security_key(key->type));
    EXPECT_EQ(key->comment, "c");
  }
}

TEST_F(AuthnTest, SecurityKeyBlobsAreAcceptedBySshKeygen) {
  WireWriter w;
  w.string(std::string_view("sk-ssh-ed25519@openssh.com"));
  w.string(std::vector<uint8_t>(32, 7));
  w.string(std::string_view("ssh:"));
  std::string line = "sk-ssh-ed25519@openssh.com " + base64_encode(w.bytes()) + " sk";
  auto key = parse_public_key_line(line);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_TRUE(is_security_key(key->type));
  std::ofstream(dir + "/sk.pub") << line << "\n";
  EXPECT_NE(sh("ssh-keygen -l -E sha256 -f " + dir + "/sk.pub").find(fingerprint_sha256(key->blob)), std::string::npos);
}

TEST_F(AuthnTest, RejectsMalformedKeysWithReasons) {
  std::string good = slurp(keygen("g", "-t ed25519") + ".pub");
  std::string b64 = good.substr(12, good.find(' ', 12) - 12);
  auto blob = *base64_decode(b64);
  struct Case {
    std::string line, message;
  };
  ASSERT_GT(blob.size(), 40u);
  std::vector<uint8_t> truncated(blob.begin(), blob.end() - 1);
  auto trailing = blob;
  trailing.push_back(0);
  std::vector<Case> cases = {
      {"garbage", "not an OpenSSH public key line"},
      {"ssh-dss AAAA", "unsupported key type 'ssh-dss'"},
      {"ssh-ed25519 !!!!", "base64 is invalid"},
      {"ecdsa-sha2-nistp256 " + b64, "key type mismatch: line says ecdsa-sha2-nistp256, key is ssh-ed25519"},
      {"ssh-ed25519 " + base64_encode(truncated), "bad Ed25519 key"},
      {"ssh-ed25519 " + base64_encode(trailing), "trailing bytes"},
  };
  for (const auto& c : cases) {
    auto k = parse_public_key_line(c.line);
    ASSERT_FALSE(k) << c.line;
    EXPECT_NE(k.error().message.find(c.message), std::string::npos) << c.line << " -> " << k.error().message;
  }
  std::ofstream(dir + "/empty.pub") << "# nothing\n\n";
  EXPECT_EQ(read_public_key_file(dir + "/empty.pub").error().message, "no public key in file");
  EXPECT_FALSE(read_public_key_file(dir + "/missing.pub"));
  std::string small = keygen("small", "-t rsa -b 1024");
  EXPECT_NE(read_public_key_file(small + ".pub").error().message.find("shorter than 2048"), std::string::npos);
}

TEST_F(AuthnTest, UserCaFileRules) {
  std::string path = dir + "/ca";
  auto ca = UserCa::create(path);
  ASSERT_TRUE(ca) << ca.error().message;
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string before = slurp(path);
  auto again = UserCa::create(path);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("refusing to overwrite"), std::string::npos);
  EXPECT_EQ(slurp(path), before);
  auto loaded = UserCa::load(path);
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->public_key_line(), ca->public_key_line());
  chmod(path.c_str(), 0644);
  auto open = UserCa::load(path);
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().message.find("permissions 0644 are too open"), std::string::npos);
}

TEST_F(AuthnTest, CertificatesParseWithSshKeygenAndVerify) {
  auto ca = UserCa::create(dir + "/ca");
  ASSERT_TRUE(ca);
  std::ofstream(dir + "/ca.pub") << ca->public_key_line() << "\n";
  std::string subject = keygen("user", "-t ed25519");
  auto key = read_public_key_file(subject + ".pub");
  ASSERT_TRUE(key);
  CertificateRequest req;
  req.subject_key_blob = key->blob;
  req.serial = 4242;
  req.key_id = "bastion person=alice session=s-1";
  req.principals = {"root", "deploy"};
  req.valid_after = 1900000000;
  req.valid_before = 1900000300;
  req.extensions = {"permit-pty", "permit-port-forwarding"};
  req.critical_options = {{"force-command", "/bin/true"}};
  auto cert = ca->sign_user_certificate(req);
  ASSERT_TRUE(cert) << cert.error().message;
  std::ofstream(subject + "-cert.pub") << UserCa::certificate_line(*cert, "c") << "\n";
  std::string shown = sh("ssh-keygen -L -f " + subject + "-cert.pub");
  EXPECT_NE(shown.find("ssh-ed25519-cert-v01@openssh.com user certificate"), std::string::npos) << shown;
  EXPECT_NE(shown.find("Key ID: \"bastion person=alice session=s-1\""), std::string::npos) << shown;
  EXPECT_NE(shown.find("Serial: 4242"), std::string::npos);
  EXPECT_NE(shown.find("root\n"), std::string::npos);
  EXPECT_NE(shown.find("deploy\n"), std::string::npos);
  EXPECT_NE(shown.find("force-command /bin/true"), std::string::npos) << shown;
  EXPECT_NE(shown.find("permit-port-forwarding"), std::string::npos);
  EXPECT_NE(shown.find("permit-pty"), std::string::npos);
  EXPECT_EQ(shown.find("permit-agent-forwarding"), std::string::npos);
  // ssh-keygen verifies the CA signature when it loads a certificate, so a
  // flipped signature bit must make it refuse (sshd's check runs in e2e).
  auto tampered = *cert;
  tampered[tampered.size() - 5] ^= 1;
  std::ofstream(subject + "-cert.pub", std::ios::trunc) << UserCa::certificate_line(tampered, "c") << "\n";
  EXPECT_NE(sh("ssh-keygen -L -f " + subject + "-cert.pub").find("invalid"), std::string::npos);
}

TEST_F(AuthnTest, CertificateRequestsAreValidated) {
  auto ca = UserCa::create(dir + "/ca");
  ASSERT_TRUE(ca);
  CertificateRequest req;
  req.subject_key_blob = read_public_key_file(keygen("u", "-t ed25519") + ".pub")->blob;
  req.valid_after = 10;
  req.valid_before = 20;
  EXPECT_FALSE(ca->sign_user_certificate(req));  // no principals
  req.principals = {"root"};
  req.valid_before = 10;
  EXPECT_FALSE(ca->sign_user_certificate(req));  // empty validity
  req.valid_before = 20;
  req.subject_key_blob = read_public_key_file(keygen("r", "-t rsa -b 2048") + ".pub")->blob;
  EXPECT_NE(ca->sign_user_certificate(req).error().message.find("cannot certify keys of type ssh-rsa"),
            std::string::npos);
}

}  // namespace
}  // namespace bastion::authn
