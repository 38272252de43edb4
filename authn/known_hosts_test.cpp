// known_hosts parsing, checked against files the real ssh-keygen hashes.
#include "authn/known_hosts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "authn/shell_test_support.h"

namespace bastion::authn {
namespace {

using test_support::sh;
using test_support::slurp;

class KnownHostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/known-hosts-test-XXXXXX";
    dir = mkdtemp(tmpl);
    for (const char* k : {"a", "b", "c"}) {
      sh("ssh-keygen -q -N '' -t ed25519 -C comment -f " + dir + "/" + k);
      std::string line = slurp(dir + "/" + k + ".pub");
      line.pop_back();                            // newline
      keys[k] = line.substr(0, line.rfind(' '));  // without the comment
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  // The lines of the keys found, as "TYPE BASE64".
  std::vector<std::string> found(const std::string& text, const std::string& host, uint16_t port) {
    auto r = known_host_keys(text, host, port);
    EXPECT_TRUE(r) << r.error().message;
    std::vector<std::string> out;
    if (r) {
      for (const auto& k : *r) out.push_back(to_line(k.key));
    }
    return out;
  }
  std::string dir;
  std::map<std::string, std::string> keys;
};

TEST_F(KnownHostsTest, FindsPlainAndBracketedEntriesForTheRightPort) {
  std::string text =
      "# a comment\n\n"
      "gw.example.com,10.0.0.1 " +
      keys["a"] +
      " old\n"
      "[10.0.0.1]:2222 " +
      keys["b"] +
      "\n"
      "other.example.com " +
      keys["c"] +
      "\n"
      "10.0.0.1 " +
      keys["a"] + "\n";  // a duplicate is listed once
  EXPECT_EQ(found(text, "10.0.0.1", 22), std::vector<std::string>{keys["a"]});
  EXPECT_EQ(found(text, "10.0.0.1", 2222), std::vector<std::string>{keys["b"]});
  EXPECT_EQ(found(text, "GW.example.com", 22), std::vector<std::string>{keys["a"]});
  EXPECT_TRUE(found(text, "10.0.0.2", 22).empty());
  auto r = known_host_keys(text, "10.0.0.1", 2222);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].line, 4);
}

TEST_F(KnownHostsTest, MatchesNamesThatSshKeygenHashed) {
  std::string path = dir + "/known_hosts";
  std::ofstream(path) << "db1.example.com " << keys["a"] << "\n[db1.example.com]:2200 " << keys["b"] << "\n"
                      << "db2.example.com " << keys["c"] << "\n";
  std::string out = sh("ssh-keygen -H -f " + path);
  std::string hashed = slurp(path);
  ASSERT_EQ(hashed.find("db1.example.com"), std::string::npos) << out << hashed;
  ASSERT_NE(hashed.find("|1|"), std::string::npos) << hashed;
  EXPECT_EQ(found(hashed, "db1.example.com", 22), std::vector<std::string>{keys["a"]});
  EXPECT_EQ(found(hashed, "db1.example.com", 2200), std::vector<std::string>{keys["b"]});
  EXPECT_EQ(found(hashed, "db2.example.com", 22), std::vector<std::string>{keys["c"]});
  EXPECT_TRUE(found(hashed, "db3.example.com", 22).empty());
}

TEST_F(KnownHostsTest, WildcardsMatchAndANegatedPatternRejectsTheLine) {
  std::string text = "*.prod.example.com,!db9.prod.example.com " + keys["a"] +
                     "\n"
                     "db?.stage.example.com " +
                     keys["b"] + "\n";
  EXPECT_EQ(found(text, "db1.prod.example.com", 22), std::vector<std::string>{keys["a"]});
  EXPECT_TRUE(found(text, "db9.prod.example.com", 22).empty());
  EXPECT_EQ(found(text, "db4.stage.example.com", 22), std::vector<std::string>{keys["b"]});
  EXPECT_TRUE(found(text, "db10.stage.example.com", 22).empty());
  EXPECT_TRUE(known_hosts_glob("*", "anything"));
  EXPECT_TRUE(known_hosts_glob("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(known_hosts_glob("a*b*c", "aXXbYY"));
}

TEST_F(KnownHostsTest, RevokedKeysAreNeverReturnedAndCertificateAuthoritiesAreSkipped) {
  std::string text = "@cert-authority *.example.com " + keys["c"] +
                     "\n"
                     "db1.example.com " +
                     keys["a"] +
                     "\n"
                     "db1.example.com " +
                     keys["b"] +
                     "\n"
                     "@revoked * " +
                     keys["b"] + "\n";
  EXPECT_EQ(found(text, "db1.example.com", 22), std::vector<std::string>{keys["a"]});
  auto bad = known_host_keys("@trusted db1.example.com " + keys["a"] + "\n", "db1.example.com", 22);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "known_hosts line 1: unknown marker @trusted");
}

TEST_F(KnownHostsTest, AMalformedLineForTheHostIsAnErrorWithItsNumberOthersAreNotLookedAt) {
  std::string text =
      "other.example.com ssh-ed25519 not-base64!\n"
      "db1.example.com ssh-ed25519 AAAA\n";
  EXPECT_TRUE(found(text, "other2.example.com", 22).empty());
  auto r = known_host_keys(text, "db1.example.com", 22);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("known_hosts line 2: ", 0), 0U) << r.error().message;
  // A hashed entry with a broken salt matches nothing rather than crashing.
  EXPECT_TRUE(found("|1|%%%|abc " + keys["a"] + "\n|1|\n", "db1.example.com", 22).empty());
}

}  // namespace
}  // namespace bastion::authn
