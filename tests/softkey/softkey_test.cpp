// The software security key, driven through the real OpenSSH tools.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

class SoftKey : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/softkey-test-XXXXXX";
    dir = mkdtemp(tmpl);
    key = dir + "/key";
    ASSERT_EQ(sh("ssh-keygen -q -t " + GetParam() + " -w " + lib + " -N '' -C t -f " + key), 0);
    std::ofstream(dir + "/msg") << "hello";
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  static int sh(const std::string& cmd) {
    int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::string pub() {
    std::ifstream f(key + ".pub");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  int sign(const std::string& flags) {
    std::filesystem::remove(dir + "/msg.sig");
    return sh("BASTION_SOFTKEY_FLAGS=" + flags + " SSH_SK_PROVIDER=" + lib + " ssh-keygen -Y sign -n file -f " +
              key + " " + dir + "/msg");
  }
  int verify(const std::string& options) {
    std::ofstream(dir + "/allowed") << "t@example " << options << (options.empty() ? "" : " ") << pub();
    return sh("ssh-keygen -Y verify -n file -I t@example -f " + dir + "/allowed -s " + dir + "/msg.sig < " + dir +
              "/msg");
  }

  std::string lib = BASTION_SOFTKEY_PATH;
  std::string dir, key;
};

TEST_P(SoftKey, EnrollsASecurityKeyType) {
  std::string expected = GetParam() == "ed25519-sk" ? "sk-ssh-ed25519@openssh.com " : "sk-ecdsa-sha2-nistp256@openssh.com ";
  EXPECT_EQ(pub().rfind(expected, 0), 0u) << pub();
}

TEST_P(SoftKey, SignaturesVerifyWithOpenSsh) {
  // OpenSSH 9.2's sshsig ignores the sk flags; the e2e suite proves with a
  // real sshd that the flags reach the signature (SoftKeyFlags tests).
  for (const char* flags : {"up", "up,uv", "none"}) {
    ASSERT_EQ(sign(flags), 0) << flags;
    EXPECT_EQ(verify(""), 0) << flags;
  }
  std::ofstream(dir + "/msg", std::ios::app) << "tampered";
  EXPECT_NE(verify(""), 0);
}

TEST_P(SoftKey, BadControlValuesFailClosed) {
  EXPECT_NE(sign("maybe"), 0);
  EXPECT_NE(sh("BASTION_SOFTKEY_COUNTER=abc SSH_SK_PROVIDER=" + lib + " ssh-keygen -Y sign -n file -f " + key +
               " " + dir + "/msg"),
            0);
}

INSTANTIATE_TEST_SUITE_P(Types, SoftKey, ::testing::Values("ed25519-sk", "ecdsa-sk"));

TEST(SoftKeyAbi, RejectsForeignKeyHandles) {
  void* h = dlopen(BASTION_SOFTKEY_PATH, RTLD_NOW);
  ASSERT_NE(h, nullptr) << dlerror();
  using SignFn = int (*)(uint32_t, const uint8_t*, size_t, const char*, const uint8_t*, size_t, uint8_t,
                         const char*, void**, void**);
  auto sign = reinterpret_cast<SignFn>(dlsym(h, "sk_sign"));
  auto version = reinterpret_cast<uint32_t (*)()>(dlsym(h, "sk_api_version"));
  ASSERT_NE(sign, nullptr);
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version() & 0xffff0000u, 0x000a0000u);
  const uint8_t garbage[] = {'B', 'S', 'K', '1', 1, 0x30, 0x82, 0xff, 0xff};
  const uint8_t data[] = {1, 2, 3};
  void* resp = nullptr;
  EXPECT_EQ(sign(1, data, sizeof data, "ssh:", garbage, sizeof garbage, 1, nullptr, nullptr, &resp), -1);
  EXPECT_EQ(resp, nullptr);
  EXPECT_EQ(sign(1, data, sizeof data, "ssh:", garbage, 3, 1, nullptr, nullptr, &resp), -1);
  EXPECT_EQ(dlsym(h, "key_from_handle"), nullptr) << "only the sk_ ABI is exported";
  dlclose(h);
}

}  // namespace
