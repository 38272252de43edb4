// UserCa: key file rules, and certificates checked against the real
// ssh-keygen (as a reader, and as a reference encoder) and OpenSSL.
#include "authn/user_ca.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "authn/openssl_handles.h"
#include "authn/public_key.h"
#include "common/encoding.h"
#include "common/ssh_wire.h"

namespace bastion::authn {
namespace {

using Bytes = std::vector<uint8_t>;

struct Outcome {
  int status = -1;
  std::string out;  // stdout and stderr
};

Outcome run(const std::string& cmd) {
  Outcome r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  while (fgets(buf, sizeof buf, p) != nullptr) r.out += buf;
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

mode_t mode_of(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

// The fields of a certificate blob, read with our own reader.
struct ParsedCertificate {
  std::string type;
  Bytes nonce, key_fields;  // key_fields: the subject key's fields, raw
  uint64_t serial = 0;
  uint32_t cert_type = 0;
  std::string key_id;
  Bytes principals, critical, extensions, reserved, signature_key, signature;
  size_t signed_length = 0;  // bytes covered by the signature
};

Bytes copy(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

ParsedCertificate parse_certificate(std::span<const uint8_t> blob, size_t key_field_strings) {
  ParsedCertificate c;
  WireReader r(blob);
  c.type = r.text().value();
  c.nonce = copy(r.string().value());
  size_t key_start = r.offset();
  for (size_t i = 0; i < key_field_strings; ++i) (void)r.string().value();
  c.key_fields = copy(blob.subspan(key_start, r.offset() - key_start));
  c.serial = r.u64().value();
  c.cert_type = r.u32().value();
  c.key_id = r.text().value();
  c.principals = copy(r.string().value());
  (void)r.u64().value();
  (void)r.u64().value();
  c.critical = copy(r.string().value());
  c.extensions = copy(r.string().value());
  c.reserved = copy(r.string().value());
  c.signature_key = copy(r.string().value());
  c.signed_length = r.offset();
  c.signature = copy(r.string().value());
  EXPECT_TRUE(r.at_end());
  return c;
}

// Verifies the certificate's signature with OpenSSL directly against
// `ca_blob` (an ssh-ed25519 public key blob), independent of UserCa.
bool openssl_verifies(std::span<const uint8_t> cert, size_t key_field_strings, std::span<const uint8_t> ca_blob) {
  ParsedCertificate c = parse_certificate(cert, key_field_strings);
  if (c.signature_key != copy(ca_blob)) return false;
  WireReader ca(ca_blob);
  WireReader sig(c.signature);
  auto ca_type = ca.text();
  auto ca_key = ca.string();
  auto sig_type = sig.text();
  auto sig_bytes = sig.string();
  if (!ca_type || *ca_type != "ssh-ed25519" || !ca_key || !sig_type || *sig_type != "ssh-ed25519" || !sig_bytes ||
      !sig.at_end()) {
    return false;
  }
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, ca_key->data(), ca_key->size()));
  MdCtx ctx(EVP_MD_CTX_new());
  return key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), sig_bytes->data(), sig_bytes->size(), cert.data(), c.signed_length) == 1;
}

class UserCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-user-ca-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  // Generates a key with ssh-keygen; returns the path of the private key.
  std::string keygen(const std::string& name, const std::string& args) {
    std::string path = dir + "/" + name;
    Outcome r = run("ssh-keygen -q -N '' -C c " + args + " -f " + path);
    EXPECT_EQ(r.status, 0) << r.out;
    return path;
  }
  Bytes subject_blob(const std::string& key_path) {
    auto key = read_public_key_file(key_path + ".pub");
    EXPECT_TRUE(key) << key.error().message;
    return key ? key->blob : Bytes{};
  }
  UserCa make_ca(const std::string& name = "ca") {
    auto ca = UserCa::create(dir + "/" + name);
    EXPECT_TRUE(ca) << ca.error().message;
    return std::move(ca).value();
  }
  CertificateRequest request(const Bytes& subject) {
    CertificateRequest req;
    req.subject_key_blob = subject;
    req.serial = 4242;
    req.key_id = "bastion person=alice session=s-1";
    req.principals = {"root", "deploy"};
    req.valid_after = 1900000000;   // 2030-03-17T17:46:40Z
    req.valid_before = 1900000300;  // five minutes later
    req.extensions = {"permit-pty", "permit-port-forwarding"};
    req.critical_options = {{"source-address", "10.0.0.0/8"}, {"force-command", "/bin/true"}};
    return req;
  }
  // Writes KEY-cert.pub next to the key and returns `ssh-keygen -L` on it.
  Outcome show(const std::string& key_path, const Bytes& cert) {
    std::ofstream(key_path + "-cert.pub", std::ios::trunc) << UserCa::certificate_line(cert, "c") << "\n";
    return run("TZ=UTC ssh-keygen -L -f " + key_path + "-cert.pub");
  }

  std::string dir;
};

TEST_F(UserCaTest, CreateWritesPkcs8Mode0600EvenWithAPermissiveUmask) {
  mode_t old = umask(0);
  auto ca = UserCa::create(dir + "/ca");
  umask(old);
  ASSERT_TRUE(ca) << ca.error().message;
  EXPECT_EQ(mode_of(dir + "/ca"), 0600u);
  EXPECT_EQ(slurp(dir + "/ca").rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  Outcome text = run("openssl pkey -noout -text -in " + dir + "/ca");
  EXPECT_EQ(text.status, 0) << text.out;
  EXPECT_NE(text.out.find("ED25519 Private-Key"), std::string::npos) << text.out;
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);  // no temp file left
}

TEST_F(UserCaTest, CreateNeverOverwrites) {
  std::string path = dir + "/ca";
  std::ofstream(path) << "precious";
  auto again = UserCa::create(path);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, "refusing to overwrite existing key " + path);
  EXPECT_EQ(slurp(path), "precious");

  make_ca("real");
  std::string before = slurp(dir + "/real");
  EXPECT_FALSE(UserCa::create(dir + "/real"));
  EXPECT_EQ(slurp(dir + "/real"), before);

  // A dangling symlink is "something there" too: nothing is written through it.
  std::filesystem::create_symlink(dir + "/elsewhere", dir + "/link");
  auto via_link = UserCa::create(dir + "/link");
  ASSERT_FALSE(via_link);
  EXPECT_NE(via_link.error().message.find("refusing to overwrite existing"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/elsewhere"));
}

TEST_F(UserCaTest, LoadRefusesLoosePermissionsAndOtherKeys) {
  std::string path = dir + "/ca";
  UserCa ca = make_ca();
  auto loaded = UserCa::load(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->public_key_line(), ca.public_key_line());
  for (mode_t loose : {0644, 0640, 0604, 0660, 0602}) {
    ASSERT_EQ(chmod(path.c_str(), loose), 0);
    auto open = UserCa::load(path);
    ASSERT_FALSE(open) << std::oct << loose;
    char expected[16];
    std::snprintf(expected, sizeof expected, "%04o", static_cast<unsigned>(loose));
    EXPECT_EQ(open.error().message, path + ": permissions " + expected + " are too open; chmod 600 " + path);
  }
  ASSERT_EQ(chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(UserCa::load(path));

  Outcome ec = run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + dir + "/ec");
  ASSERT_EQ(ec.status, 0) << ec.out;
  ASSERT_EQ(chmod((dir + "/ec").c_str(), 0600), 0);
  EXPECT_EQ(UserCa::load(dir + "/ec").error().message, dir + "/ec: not an Ed25519 key");
  std::ofstream(dir + "/junk") << "not a key\n";
  ASSERT_EQ(chmod((dir + "/junk").c_str(), 0600), 0);
  EXPECT_EQ(UserCa::load(dir + "/junk").error().message, dir + "/junk: not a PEM private key");
  EXPECT_FALSE(UserCa::load(dir + "/missing"));
}

TEST_F(UserCaTest, PublicKeyLineIsTheCaKeyInOpenSshFormat) {
  UserCa ca = make_ca();
  std::string line = ca.public_key_line();
  EXPECT_EQ(line.rfind("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 0), 0u) << line;
  EXPECT_EQ(line.substr(line.size() - 16), " bastion-user-ca");
  auto key = parse_public_key_line(line);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->blob, ca.public_key_blob());
  // The same 32 bytes OpenSSL derives from the key file.
  Outcome der = run("openssl pkey -pubout -outform DER -in " + dir + "/ca | od -An -v -tx1 | tr -d ' \\n'");
  ASSERT_EQ(der.status, 0) << der.out;
  ASSERT_GE(der.out.size(), 64u);
  EXPECT_EQ(hex_encode(std::span<const uint8_t>(key->blob).last(32)), der.out.substr(der.out.size() - 64));
  std::ofstream(dir + "/ca.pub") << line << "\n";
  Outcome fp = run("ssh-keygen -l -E sha256 -f " + dir + "/ca.pub");
  EXPECT_EQ(fp.status, 0) << fp.out;
  EXPECT_NE(fp.out.find(fingerprint_sha256(key->blob) + " bastion-user-ca (ED25519)"), std::string::npos) << fp.out;
}

// `ssh-keygen -L` output as trimmed lines, without the first (file name) line.
std::vector<std::string> shown_lines(const std::string& out) {
  std::vector<std::string> lines;
  std::istringstream in(out);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    size_t a = line.find_first_not_of(' ');
    size_t b = line.find_last_not_of(' ');
    lines.push_back(a == std::string::npos ? "" : line.substr(a, b - a + 1));
  }
  return lines;
}

TEST_F(UserCaTest, Ed25519CertificateIsReadBySshKeygenAsRequested) {
  UserCa ca = make_ca();
  std::string user = keygen("user", "-t ed25519");
  Bytes subject = subject_blob(user);
  auto cert = ca.sign_user_certificate(request(subject));
  ASSERT_TRUE(cert) << cert.error().message;
  Outcome shown = show(user, *cert);
  ASSERT_EQ(shown.status, 0) << shown.out;
  std::vector<std::string> expected = {
      "Type: ssh-ed25519-cert-v01@openssh.com user certificate",
      "Public key: ED25519-CERT " + fingerprint_sha256(subject),
      "Signing CA: ED25519 " + fingerprint_sha256(ca.public_key_blob()) + " (using ssh-ed25519)",
      "Key ID: \"bastion person=alice session=s-1\"",
      "Serial: 4242",
      "Valid: from 2030-03-17T17:46:40 to 2030-03-17T17:51:40",
      "Principals:",
      "root",
      "deploy",
      "Critical Options:",
      "force-command /bin/true",
      "source-address 10.0.0.0/8",
      "Extensions:",
      "permit-port-forwarding",
      "permit-pty",
  };
  EXPECT_EQ(shown_lines(shown.out), expected) << shown.out;
}

// ssh-keygen as the reference encoder: signing the same request with its own
// CA must give the same fields, except the nonce and the CA's key and signature.
TEST_F(UserCaTest, CertificateMatchesOneSignedBySshKeygen) {
  UserCa ca = make_ca();
  std::string user = keygen("user", "-t ecdsa -b 256");
  auto ours = ca.sign_user_certificate(request(subject_blob(user)));
  ASSERT_TRUE(ours) << ours.error().message;
  std::string openssh_ca = keygen("openssh_ca", "-t ed25519");
  Outcome signed_by_keygen = run("ssh-keygen -q -s " + openssh_ca + " -I 'bastion person=alice session=s-1'" +
                                 " -n root,deploy -z 4242 -V 20300317174640Z:20300317175140Z -O clear" +
                                 " -O permit-pty -O permit-port-forwarding -O force-command=/bin/true" +
                                 " -O source-address=10.0.0.0/8 " + user + ".pub");
  ASSERT_EQ(signed_by_keygen.status, 0) << signed_by_keygen.out;
  std::string theirs_line = slurp(user + "-cert.pub");
  std::istringstream fields(theirs_line);
  std::string type, b64;
  fields >> type >> b64;
  auto theirs = base64_decode(b64);
  ASSERT_TRUE(theirs) << theirs_line;

  ParsedCertificate a = parse_certificate(*ours, 2);
  ParsedCertificate b = parse_certificate(*theirs, 2);
  EXPECT_EQ(a.type, "ecdsa-sha2-nistp256-cert-v01@openssh.com");
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.nonce.size(), 32u);
  EXPECT_EQ(a.key_fields, b.key_fields);
  EXPECT_EQ(a.serial, b.serial);
  EXPECT_EQ(a.cert_type, 1u);
  EXPECT_EQ(a.cert_type, b.cert_type);
  EXPECT_EQ(a.key_id, b.key_id);
  EXPECT_EQ(a.principals, b.principals);
  EXPECT_EQ(a.critical, b.critical);
  EXPECT_EQ(a.extensions, b.extensions);
  EXPECT_EQ(a.reserved, b.reserved);
  EXPECT_EQ(a.signature_key, ca.public_key_blob());
  // Byte for byte, from the nonce's end to the signature key's start.
  size_t from = 4 + a.type.size() + 4 + 32;
  size_t to = a.signed_length - 4 - a.signature_key.size();
  ASSERT_EQ(b.signed_length - 4 - b.signature_key.size() - to, b.nonce.size() - 32);
  EXPECT_TRUE(std::equal(ours->begin() + static_cast<std::ptrdiff_t>(from), ours->begin() + static_cast<std::ptrdiff_t>(to),
                         theirs->begin() + static_cast<std::ptrdiff_t>(from + b.nonce.size() - 32)));
  EXPECT_TRUE(openssl_verifies(*ours, 2, ca.public_key_blob()));
}

TEST_F(UserCaTest, EcdsaAndSecurityKeySubjectsGetTheirCertificateTypes) {
  UserCa ca = make_ca();
  std::string ecdsa = keygen("ecdsa", "-t ecdsa -b 256");
  Bytes ec_subject = subject_blob(ecdsa);
  WireReader r(ec_subject);
  ASSERT_TRUE(r.text() && r.text());
  Bytes point = copy(r.string().value());
  WireWriter sk_ed, sk_ec;
  sk_ed.string(std::string_view("sk-ssh-ed25519@openssh.com"));
  sk_ed.string(Bytes(32, 7));
  sk_ed.string(std::string_view("ssh:"));
  sk_ec.string(std::string_view("sk-ecdsa-sha2-nistp256@openssh.com"));
  sk_ec.string(std::string_view("nistp256"));
  sk_ec.string(point);
  sk_ec.string(std::string_view("ssh:"));
  struct Case {
    Bytes subject;
    std::string type_line, key_label;
    size_t key_strings;
  };
  for (const Case& c : {
           Case{ec_subject, "ecdsa-sha2-nistp256-cert-v01@openssh.com user certificate", "ECDSA-CERT", 2},
           Case{sk_ed.bytes(), "sk-ssh-ed25519-cert-v01@openssh.com user certificate", "ED25519-SK-CERT", 2},
           Case{sk_ec.bytes(), "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com user certificate", "ECDSA-SK-CERT", 3},
       }) {
    auto cert = ca.sign_user_certificate(request(c.subject));
    ASSERT_TRUE(cert) << cert.error().message;
    Outcome shown = show(dir + "/subject", *cert);
    ASSERT_EQ(shown.status, 0) << shown.out;
    std::vector<std::string> lines = shown_lines(shown.out);
    ASSERT_GE(lines.size(), 2u) << shown.out;
    EXPECT_EQ(lines[0], "Type: " + c.type_line);
    EXPECT_EQ(lines[1], "Public key: " + c.key_label + " " + fingerprint_sha256(c.subject));
    EXPECT_TRUE(openssl_verifies(*cert, c.key_strings, ca.public_key_blob()));
  }
}

TEST_F(UserCaTest, FlagsAndForeverValidityAreEncodedAsOpenSshExpects) {
  UserCa ca = make_ca();
  std::string user = keygen("user", "-t ed25519");
  CertificateRequest req = request(subject_blob(user));
  req.valid_after = 0;
  req.valid_before = UINT64_MAX;
  req.critical_options = {{"verify-required", ""}};
  req.extensions = {};
  req.principals = {"svc"};
  auto cert = ca.sign_user_certificate(req);
  ASSERT_TRUE(cert) << cert.error().message;
  Outcome shown = show(user, *cert);
  ASSERT_EQ(shown.status, 0) << shown.out;
  std::vector<std::string> lines = shown_lines(shown.out);
  std::vector<std::string> tail(lines.begin() + 5, lines.end());
  std::vector<std::string> expected = {"Valid: forever", "Principals:", "svc", "Critical Options:", "verify-required",
                                       "Extensions: (none)"};
  EXPECT_EQ(tail, expected) << shown.out;
  // A flag's data is empty, not an empty string inside it.
  ParsedCertificate c = parse_certificate(*cert, 1);
  WireWriter flag;
  flag.string(std::string_view("verify-required"));
  flag.string(std::string_view());
  EXPECT_EQ(c.critical, flag.bytes());
}

TEST_F(UserCaTest, SignatureCoversTheCertificateAndTamperingIsDetected) {
  UserCa ca = make_ca();
  UserCa other = make_ca("other");
  std::string user = keygen("user", "-t ed25519");
  auto cert = ca.sign_user_certificate(request(subject_blob(user)));
  auto second = ca.sign_user_certificate(request(subject_blob(user)));
  ASSERT_TRUE(cert && second);
  EXPECT_NE(parse_certificate(*cert, 1).nonce, parse_certificate(*second, 1).nonce);
  EXPECT_TRUE(openssl_verifies(*cert, 1, ca.public_key_blob()));
  EXPECT_FALSE(openssl_verifies(*cert, 1, other.public_key_blob()));

  Bytes bad_signature = *cert;
  bad_signature.back() ^= 0x01;  // the last byte belongs to the raw Ed25519 signature
  EXPECT_FALSE(openssl_verifies(bad_signature, 1, ca.public_key_blob()));
  // OpenSSH 9.2 checks the CA signature whenever it loads a certificate, so
  // ssh-keygen -L refuses the file rather than printing it.
  Outcome shown = show(user, bad_signature);
  EXPECT_NE(shown.status, 0) << shown.out;
  EXPECT_EQ(shown.out.find("user certificate"), std::string::npos) << shown.out;

  Bytes bad_body = *cert;
  std::string id = "alice";
  auto at = std::search(bad_body.begin(), bad_body.end(), id.begin(), id.end());
  ASSERT_NE(at, bad_body.end());
  *at = 'A';  // key id "... person=Alice ..."
  EXPECT_FALSE(openssl_verifies(bad_body, 1, ca.public_key_blob()));
  EXPECT_NE(show(user, bad_body).status, 0);
  EXPECT_EQ(show(user, *cert).status, 0);
}

TEST_F(UserCaTest, BadRequestsAreRefusedWithReasons) {
  UserCa ca = make_ca();
  Bytes subject = subject_blob(keygen("user", "-t ed25519"));
  Bytes rsa = subject_blob(keygen("rsa", "-t rsa -b 2048"));
  ASSERT_TRUE(ca.sign_user_certificate(request(subject)));
  struct Case {
    std::function<void(CertificateRequest&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.principals.clear(); }, "a certificate needs at least one principal"},
      {[](auto& r) { r.principals = {"root", ""}; }, "certificate principal #2 is empty or not printable"},
      {[](auto& r) { r.principals = {"root\nadmin"}; }, "certificate principal #1 is empty or not printable"},
      {[](auto& r) { r.key_id = ""; }, "certificate key id must be non-empty printable text"},
      {[](auto& r) { r.key_id = std::string("alice\0bob", 9); }, "certificate key id must be non-empty printable text"},
      {[](auto& r) { r.valid_before = r.valid_after; }, "certificate validity is empty"},
      {[](auto& r) { r.valid_before = r.valid_after - 1; }, "certificate validity is empty"},
      {[&](auto& r) { r.subject_key_blob = rsa; }, "cannot certify keys of type ssh-rsa"},
      {[](auto& r) { r.subject_key_blob.pop_back(); }, "subject key is invalid: not an OpenSSH public key"},
      {[](auto& r) { r.subject_key_blob.clear(); }, "subject key is invalid"},
      {[](auto& r) { r.critical_options = {{"no-pty", ""}}; }, "unsupported critical option 'no-pty'"},
      {[](auto& r) { r.critical_options = {{"force-command", ""}}; }, "critical option 'force-command' needs a value"},
      {[](auto& r) { r.critical_options = {{"verify-required", "yes"}}; },
       "critical option 'verify-required' takes no value"},
      {[](auto& r) { r.critical_options = {{"force-command", "a"}, {"force-command", "b"}}; },
       "duplicate critical option 'force-command'"},
      {[](auto& r) { r.extensions = {"permit-pty", "permit-X11-forwarding", "permit-pty"}; },
       "duplicate extension 'permit-pty'"},
      {[](auto& r) { r.extensions = {""}; }, "invalid extension name"},
  };
  for (const auto& c : cases) {
    CertificateRequest req = request(subject);
    c.change(req);
    auto cert = ca.sign_user_certificate(req);
    ASSERT_FALSE(cert) << c.message;
    EXPECT_NE(cert.error().message.find(c.message), std::string::npos) << cert.error().message;
  }
}

TEST(UserCaLine, CertificateLineNamesTheCertificateType) {
  WireWriter w;
  w.string(std::string_view("ssh-ed25519-cert-v01@openssh.com"));
  w.u32(0);
  EXPECT_EQ(UserCa::certificate_line(w.bytes(), "alice"),
            "ssh-ed25519-cert-v01@openssh.com " + base64_encode(w.bytes()) + " alice");
  EXPECT_EQ(UserCa::certificate_line(w.bytes(), ""), "ssh-ed25519-cert-v01@openssh.com " + base64_encode(w.bytes()));
}

}  // namespace
}  // namespace bastion::authn
