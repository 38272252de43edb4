// public_key, checked against keys and fingerprints from the real ssh-keygen.
#include "authn/public_key.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

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
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The "SHA256:..." field of `ssh-keygen -l -E sha256 -f FILE`, or the error.
std::string keygen_fingerprint(const std::string& file) {
  Outcome r = run("ssh-keygen -l -E sha256 -f " + file);
  if (r.status != 0) return "ssh-keygen failed: " + r.out;
  std::istringstream fields(r.out);
  std::string bits, fingerprint;
  fields >> bits >> fingerprint;
  return fingerprint;
}

Bytes wire(const std::function<void(WireWriter&)>& fill) {
  WireWriter w;
  fill(w);
  return w.bytes();
}

std::string line_of(std::string_view type, const Bytes& blob) {
  return std::string(type) + " " + base64_encode(blob);
}

class PublicKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-public-key-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  // Generates a key with ssh-keygen; returns the path of its .pub file.
  std::string keygen(const std::string& name, const std::string& args) {
    std::string path = dir + "/" + name;
    Outcome r = run("ssh-keygen -q -N '' -C c " + args + " -f " + path);
    EXPECT_EQ(r.status, 0) << r.out;
    return path + ".pub";
  }
  PublicKey keygen_key(const std::string& name, const std::string& args) {
    auto key = read_public_key_file(keygen(name, args));
    EXPECT_TRUE(key) << key.error().message;
    return key ? *key : PublicKey{};
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name, std::ios::binary) << text;
    return dir + "/" + name;
  }

  std::string dir;
};

void expect_refused(const std::string& line, const std::string& message) {
  auto k = parse_public_key_line(line);
  ASSERT_FALSE(k) << "accepted: " << line;
  EXPECT_NE(k.error().message.find(message), std::string::npos) << line << "\n -> " << k.error().message;
  EXPECT_EQ(k.error().message.find('\n'), std::string::npos) << "not one line: " << k.error().message;
}

TEST_F(PublicKeyTest, ParsesSshKeygenKeysWithItsFingerprints) {
  struct Case {
    const char* args;
    const char* type;
  };
  for (const Case& c : {Case{"-t ed25519", "ssh-ed25519"}, Case{"-t ecdsa -b 256", "ecdsa-sha2-nistp256"},
                        Case{"-t rsa -b 2048", "ssh-rsa"}, Case{"-t rsa -b 3072", "ssh-rsa"}}) {
    std::string pub = keygen("k", c.args);
    auto key = read_public_key_file(pub);
    ASSERT_TRUE(key) << c.args << ": " << key.error().message;
    EXPECT_EQ(key->type, c.type);
    EXPECT_EQ(key->comment, "c");
    EXPECT_FALSE(is_security_key(key->type));
    EXPECT_EQ(fingerprint_sha256(key->blob), keygen_fingerprint(pub)) << c.args;
    EXPECT_EQ(to_line(*key) + "\n", slurp(pub)) << c.args;
    std::filesystem::remove(dir + "/k");
    std::filesystem::remove(pub);
  }
}

TEST_F(PublicKeyTest, SecurityKeyBlobsParseAndSshKeygenAgrees) {
  PublicKey ecdsa = keygen_key("e", "-t ecdsa -b 256");
  WireReader r(ecdsa.blob);
  ASSERT_TRUE(r.text() && r.text());
  auto point = r.string();
  ASSERT_TRUE(point);
  Bytes sk_ed = wire([](WireWriter& w) {
    w.string(std::string_view("sk-ssh-ed25519@openssh.com"));
    w.string(Bytes(32, 0x5a));
    w.string(std::string_view("ssh:"));
  });
  Bytes sk_ec = wire([&](WireWriter& w) {
    w.string(std::string_view("sk-ecdsa-sha2-nistp256@openssh.com"));
    w.string(std::string_view("nistp256"));
    w.string(*point);
    w.string(std::string_view("ssh:bastion"));
  });
  struct Case {
    std::string type;
    Bytes blob;
    std::string keygen_label;
  };
  for (const Case& c : {Case{"sk-ssh-ed25519@openssh.com", sk_ed, "(ED25519-SK)"},
                        Case{"sk-ecdsa-sha2-nistp256@openssh.com", sk_ec, "(ECDSA-SK)"}}) {
    auto key = parse_public_key_line(line_of(c.type, c.blob) + " alice@laptop");
    ASSERT_TRUE(key) << c.type << ": " << key.error().message;
    EXPECT_TRUE(is_security_key(key->type));
    EXPECT_EQ(key->comment, "alice@laptop");
    std::string file = write("sk.pub", to_line(*key) + "\n");
    EXPECT_EQ(fingerprint_sha256(key->blob), keygen_fingerprint(file));
    EXPECT_NE(run("ssh-keygen -l -f " + file).out.find(c.keygen_label), std::string::npos);
  }
}

TEST_F(PublicKeyTest, MalformedLinesAreRefusedWithReasons) {
  PublicKey ed = keygen_key("g", "-t ed25519");
  std::string b64 = base64_encode(ed.blob);
  Bytes trailing = ed.blob;
  trailing.push_back(0);
  Bytes short_key = wire([](WireWriter& w) {
    w.string(std::string_view("ssh-ed25519"));
    w.string(Bytes(31, 1));
  });
  Bytes dss_inside = wire([](WireWriter& w) {
    w.string(std::string_view("ssh-dss"));
    w.string(Bytes(32, 1));
  });
  expect_refused("garbage", "not an OpenSSH public key line");
  expect_refused("", "not an OpenSSH public key line");
  expect_refused("ssh-ed25519", "not an OpenSSH public key line");
  expect_refused("ssh-dss AAAAB3NzaC1kc3MAAACBAP c", "unsupported key type 'ssh-dss'");
  expect_refused("ssh-ed25519-cert-v01@openssh.com " + b64, "unsupported key type 'ssh-ed25519-cert-v01@openssh.com'");
  expect_refused("ssh-\x1b[31mred " + b64, "unsupported key type 'ssh-?[31mred'");
  expect_refused("ssh-ed25519 !!!!", "not an OpenSSH public key: base64 is invalid");
  expect_refused("ssh-ed25519 " + b64.substr(1), "not an OpenSSH public key: base64 is invalid");
  expect_refused("ecdsa-sha2-nistp256 " + b64, "key type mismatch: line says ecdsa-sha2-nistp256, key is ssh-ed25519");
  expect_refused(line_of("ssh-ed25519", dss_inside), "unsupported key type 'ssh-dss'");
  expect_refused(line_of("ssh-ed25519", trailing), "not an OpenSSH public key: trailing bytes after the key");
  expect_refused(line_of("ssh-ed25519", short_key), "bad Ed25519 key (31 bytes, expected 32)");
  expect_refused("from=\"10.0.0.1\" ssh-ed25519 " + b64, "authorized_keys options are not allowed");
  expect_refused("restrict ssh-ed25519 " + b64, "authorized_keys options are not allowed");
  expect_refused("ssh-ed25519 " + b64 + " evil\x1b]0;title\a", "comment contains control characters");
  expect_refused("ssh-ed25519 " + b64 + " a\nssh-ed25519 " + b64, "comment contains control characters");
  // What is left is accepted, so the cases above fail for the reason named.
  auto ok = parse_public_key_line("  ssh-ed25519\t" + b64 + "  alice  b\xc3\xa9  \r\n");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->comment, "alice  b\xc3\xa9");
}

TEST_F(PublicKeyTest, EveryTruncatedBlobIsRefused) {
  int i = 0;
  for (const char* args : {"-t ed25519", "-t ecdsa -b 256", "-t rsa -b 2048"}) {
    PublicKey key = keygen_key("t" + std::to_string(i++), args);
    ASSERT_FALSE(key.blob.empty());
    for (size_t cut = 1; cut < key.blob.size(); ++cut) {
      Bytes prefix(key.blob.begin(), key.blob.begin() + static_cast<std::ptrdiff_t>(cut));
      auto k = parse_public_key_line(line_of(key.type, prefix));
      ASSERT_FALSE(k) << args << " cut at " << cut;
      EXPECT_NE(k.error().message.find("not an OpenSSH public key"), std::string::npos) << k.error().message;
    }
  }
}

TEST_F(PublicKeyTest, EcdsaPointsAndCurvesAreChecked) {
  PublicKey key = keygen_key("e", "-t ecdsa -b 256");
  WireReader r(key.blob);
  ASSERT_TRUE(r.text() && r.text());
  auto q = r.string();
  ASSERT_TRUE(q && q->size() == 65);
  auto with = [](std::string_view curve, const Bytes& point) {
    return line_of("ecdsa-sha2-nistp256", wire([&](WireWriter& w) {
                     w.string(std::string_view("ecdsa-sha2-nistp256"));
                     w.string(curve);
                     w.string(point);
                   }));
  };
  Bytes point(q->begin(), q->end());
  ASSERT_TRUE(parse_public_key_line(with("nistp256", point)));
  expect_refused(with("nistp384", point), "ECDSA curve is 'nistp384', expected 'nistp256'");
  Bytes off_curve = point;
  off_curve[64] ^= 1;  // y changed: (x, y') is not on P-256
  expect_refused(with("nistp256", off_curve), "invalid P-256 point (not on the curve)");
  Bytes compressed(point.begin(), point.begin() + 33);
  compressed[0] = static_cast<uint8_t>(0x02 | (point[64] & 1));
  expect_refused(with("nistp256", compressed), "invalid P-256 point (expected 65 bytes, uncompressed)");
  expect_refused(with("nistp256", Bytes{0x00}), "invalid P-256 point");
  Bytes zeros(65, 0);
  zeros[0] = 0x04;
  expect_refused(with("nistp256", zeros), "invalid P-256 point (not on the curve)");
  expect_refused(slurp(keygen("p384", "-t ecdsa -b 384")), "unsupported key type 'ecdsa-sha2-nistp384'");
}

Bytes rsa_blob(const Bytes& e, const Bytes& n_raw) {
  return wire([&](WireWriter& w) {
    w.string(std::string_view("ssh-rsa"));
    w.mpint(e);
    w.string(n_raw);  // as given, so tests can write non-canonical forms
  });
}

TEST_F(PublicKeyTest, RsaKeysAreCheckedForSizeAndShape) {
  PublicKey key = keygen_key("r", "-t rsa -b 2048");
  WireReader r(key.blob);
  ASSERT_TRUE(r.text());
  auto e = r.mpint();
  auto n = r.mpint();
  ASSERT_TRUE(e && n && n->size() == 256);
  Bytes ev(e->begin(), e->end());
  Bytes mod(n->begin(), n->end());
  auto as_mpint = [](Bytes m) {
    if (!m.empty() && (m[0] & 0x80) != 0) m.insert(m.begin(), 0);
    return m;
  };
  ASSERT_EQ(rsa_blob(ev, as_mpint(mod)), key.blob);
  Bytes padded = as_mpint(mod);
  padded.insert(padded.begin(), 0);
  expect_refused(line_of("ssh-rsa", rsa_blob(ev, padded)), "bad RSA modulus (mpint has an unnecessary leading zero)");
  expect_refused(line_of("ssh-rsa", rsa_blob(ev, mod)), "bad RSA modulus (mpint is negative)");
  Bytes even = mod;
  even.back() &= 0xfe;
  expect_refused(line_of("ssh-rsa", rsa_blob(ev, as_mpint(even))), "invalid RSA key (rejected by OpenSSL)");
  expect_refused(line_of("ssh-rsa", rsa_blob(Bytes{4}, as_mpint(mod))), "invalid RSA key (rejected by OpenSSL)");
  // 2047 bits: n >> 1, made odd. One bit short is refused, not rounded up.
  Bytes half(mod.size());
  for (size_t i = 0; i < mod.size(); ++i) {
    half[i] = static_cast<uint8_t>((mod[i] >> 1) | (i > 0 ? (mod[i - 1] & 1) << 7 : 0));
  }
  half.back() |= 1;
  expect_refused(line_of("ssh-rsa", rsa_blob(ev, as_mpint(half))),
                 "RSA keys shorter than 2048 bits are refused (this one has 2047)");
  auto small = read_public_key_file(keygen("small", "-t rsa -b 1024"));
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().message, "RSA keys shorter than 2048 bits are refused (this one has 1024)");
}

TEST_F(PublicKeyTest, SecurityKeysNeedAnApplication) {
  auto sk = [](const std::vector<std::string>& tail) {
    return line_of("sk-ssh-ed25519@openssh.com", wire([&](WireWriter& w) {
                     w.string(std::string_view("sk-ssh-ed25519@openssh.com"));
                     w.string(Bytes(32, 3));
                     for (const auto& s : tail) w.string(s);
                   }));
  };
  EXPECT_TRUE(parse_public_key_line(sk({"ssh:"})));
  expect_refused(sk({}), "security key without an application string");
  expect_refused(sk({""}), "security key without an application string");
  expect_refused(sk({"ssh:", ""}), "trailing bytes after the key");
  Bytes nul_app = wire([](WireWriter& w) {
    w.string(std::string_view("sk-ssh-ed25519@openssh.com"));
    w.string(Bytes(32, 3));
    w.string(Bytes{'s', 's', 'h', ':', 0, 'x'});
  });
  expect_refused(line_of("sk-ssh-ed25519@openssh.com", nul_app), "security key without an application string");
}

TEST_F(PublicKeyTest, KeyFilesAreReadWithClearErrors) {
  PublicKey ed = keygen_key("k", "-t ed25519");
  std::string body = to_line(ed);
  auto k = read_public_key_file(write("c.pub", "# enrolled 2026-01-01\n\n  \t\r\n" + body + "\r\n# trailer\n"));
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->blob, ed.blob);
  EXPECT_EQ(k->comment, "c");

  EXPECT_EQ(read_public_key_file(write("empty.pub", "")).error().message, "file is empty");
  EXPECT_EQ(read_public_key_file(write("comments.pub", "# nothing\n\n")).error().message, "no public key in file");
  auto missing = read_public_key_file(dir + "/missing.pub");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("No such file or directory"), std::string::npos) << missing.error().message;
  EXPECT_FALSE(read_public_key_file(dir));  // a directory
  auto bad = read_public_key_file(write("bad.pub", "ssh-ed25519 AAAA*\n" + body + "\n"));
  ASSERT_FALSE(bad);  // the first key line decides; later lines do not rescue it
  EXPECT_EQ(bad.error().message, "not an OpenSSH public key: base64 is invalid");

  std::string padding = "#" + std::string(64 * 1024 - body.size() - 3, 'x') + "\n";
  auto at_limit = read_public_key_file(write("limit.pub", padding + body + "\n"));
  ASSERT_TRUE(at_limit) << at_limit.error().message;
  auto big = read_public_key_file(write("big.pub", "#" + padding + body + "\n"));
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("larger than 65536 bytes"), std::string::npos) << big.error().message;
}

TEST(PublicKeyLine, ToLineRoundTripsAndSecurityKeyTypesAreKnown) {
  PublicKey k{"sk-ssh-ed25519@openssh.com", wire([](WireWriter& w) {
                w.string(std::string_view("sk-ssh-ed25519@openssh.com"));
                w.string(Bytes(32, 9));
                w.string(std::string_view("ssh:"));
              }),
              ""};
  EXPECT_EQ(to_line(k), "sk-ssh-ed25519@openssh.com " + base64_encode(k.blob));
  auto back = parse_public_key_line(to_line(k));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->type, k.type);
  EXPECT_EQ(back->blob, k.blob);
  EXPECT_EQ(back->comment, "");
  EXPECT_TRUE(is_security_key("sk-ssh-ed25519@openssh.com"));
  EXPECT_TRUE(is_security_key("sk-ecdsa-sha2-nistp256@openssh.com"));
  for (auto t : {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", "sk-ssh-ed25519", "", "sk-ssh-dss@openssh.com"}) {
    EXPECT_FALSE(is_security_key(t)) << t;
  }
  // Fingerprint of a known blob: SHA-256("") is 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU.
  EXPECT_EQ(fingerprint_sha256({}), "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
}

}  // namespace
}  // namespace bastion::authn
