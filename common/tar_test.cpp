#include "common/tar.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

namespace bastion {
namespace {

// A reader over `bytes`, handing out at most `step` bytes per call (short reads).
TarSource over(const std::string& bytes, size_t step = 7) {
  auto at = std::make_shared<size_t>(0);
  return [&bytes, at, step](char* buf, size_t cap) -> Result<size_t> {
    size_t n = std::min({cap, step, bytes.size() - *at});
    std::memcpy(buf, bytes.data() + *at, n);
    *at += n;
    return n;
  };
}

std::string archive(const std::vector<std::pair<TarEntry, std::string>>& files) {
  std::string out;
  TarWriter w([&](std::string_view b) {
    out.append(b);
    return Status{};
  });
  for (const auto& [e, data] : files) EXPECT_TRUE(w.add(e, data));
  EXPECT_TRUE(w.finish());
  return out;
}

std::string read_all(TarReader& r) {
  std::string out;
  char buf[5];
  for (;;) {
    auto n = r.read(buf, sizeof buf);
    EXPECT_TRUE(n);
    if (!n || *n == 0) return out;
    out.append(buf, *n);
  }
}

TEST(TarTest, WhatIsWrittenReadsBackEntryByEntry) {
  std::string big(70000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
  const std::string long_name = "state/recordings/" + std::string(90, 'a') + "/" + std::string(80, 'b') + ".cast";
  std::string bytes = archive({{{"state/bastion.toml", 0640, 5, 1700000000}, "hello"},
                               {{"state/empty", 0600, 0, 0}, ""},
                               {{long_name, 0644, big.size(), 1}, big}});
  EXPECT_EQ(bytes.size() % 512, 0u);
  TarReader r(over(bytes));
  auto e = r.next();
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->name, "state/bastion.toml");
  EXPECT_EQ((*e)->mode, 0640u);
  EXPECT_EQ((*e)->mtime, 1700000000);
  EXPECT_EQ(read_all(r), "hello");
  e = r.next();
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->name, "state/empty");
  EXPECT_EQ((*e)->size, 0u);
  e = r.next();  // the rest of an entry need not be read
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->name, long_name);
  EXPECT_EQ(read_all(r), big);
  e = r.next();
  ASSERT_TRUE(e);
  EXPECT_FALSE(*e);  // the end-of-archive marker
}

TEST(TarTest, SystemTarListsAndUnpacksWhatIsWritten) {
  char tmpl[] = "/tmp/bastion-tar-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string bytes = archive({{{"state/keys/host_key", 0600, 3, 0}, "abc"}});
  FILE* f = std::fopen((dir + "/a.tar").c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  std::string cmd = "cd " + dir + " && tar xf a.tar && cat state/keys/host_key && stat -c %a state/keys/host_key";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char out[64] = {};
  size_t n = std::fread(out, 1, sizeof out - 1, p);
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(std::string(out, n), "abc600\n");
  std::filesystem::remove_all(dir);
}

TEST(TarTest, ACutOffArchiveIsAnError) {
  std::string bytes = archive({{{"a", 0644, 600, 0}, std::string(600, 'a')}});
  for (size_t cut : {size_t{100}, size_t{512}, size_t{700}, size_t{1024}, bytes.size() - 512}) {
    std::string part = bytes.substr(0, cut);
    TarReader r(over(part, 4096));
    Status st;
    for (;;) {
      auto e = r.next();
      if (!e) {
        st = e.error();
        break;
      }
      if (!*e) break;
      char buf[256];
      for (;;) {
        auto n = r.read(buf, sizeof buf);
        if (!n) {
          st = n.error();
          break;
        }
        if (*n == 0) break;
      }
      if (!st) break;
    }
    EXPECT_FALSE(st) << "cut at " << cut;
    if (!st) {
      EXPECT_NE(st.error().message.find("cut off"), std::string::npos) << st.error().message;
    }
  }
}

TEST(TarTest, AlteredHeadersAndNonRegularEntriesAreRefused) {
  std::string bytes = archive({{{"a", 0644, 1, 0}, "a"}});
  std::string flipped = bytes;
  flipped[3] ^= 1;  // in the name: the checksum no longer matches
  TarReader r1(over(flipped));
  auto e1 = r1.next();
  ASSERT_FALSE(e1);
  EXPECT_NE(e1.error().message.find("checksum"), std::string::npos);

  for (char type : {'1', '2', '3', '5', '6'}) {  // hard link, symlink, char dev, directory, FIFO
    std::string other = bytes;
    other[156] = type;
    unsigned sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(other[i]);
    std::snprintf(&other[148], 8, "%06o", sum);
    other[155] = ' ';
    TarReader r(over(other));
    auto e = r.next();
    ASSERT_FALSE(e) << type;
    EXPECT_NE(e.error().message.find("not a regular file"), std::string::npos) << e.error().message;
  }
}

TEST(TarTest, NamesThatCannotBeStoredAreRefused) {
  std::string out;
  TarWriter w([&](std::string_view b) {
    out.append(b);
    return Status{};
  });
  EXPECT_FALSE(w.add({"", 0644, 0, 0}, ""));
  EXPECT_FALSE(w.add({std::string(101, 'a'), 0644, 0, 0}, ""));  // no '/' to split at
  EXPECT_FALSE(w.add({"a", 0644, 5, 0}, "abc"));                 // shorter than its size
}

TEST(TarTest, SafeRelativePaths) {
  for (const char* ok : {"state/bastion.db", "external/etc/bastion/key", "a", "a.b/c..d"}) {
    EXPECT_TRUE(safe_relative_path(ok)) << ok;
  }
  for (const char* bad :
       {"", "/etc/passwd", "../x", "state/../../x", "a//b", "a/./b", "a/", "a\\b", "a\nb", "state/.."}) {
    EXPECT_FALSE(safe_relative_path(bad)) << bad;
  }
}

}  // namespace
}  // namespace bastion
