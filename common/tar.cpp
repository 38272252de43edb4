#include "common/tar.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace bastion {
namespace {

constexpr size_t kBlock = 512;
constexpr size_t kNameLen = 100, kPrefixLen = 155;
constexpr size_t kModeAt = 100, kUidAt = 108, kGidAt = 116, kSizeAt = 124, kMtimeAt = 136, kSumAt = 148;
constexpr size_t kTypeAt = 156, kMagicAt = 257, kVersionAt = 263, kPrefixAt = 345;
// 11 octal digits: sizes below 8 GiB; larger ones in GNU's base-256 form.
constexpr uint64_t kOctalMax = 077777777777ull;

using Block = std::array<char, kBlock>;

void put_octal(Block& b, size_t at, size_t width, uint64_t value) {
  // width - 1 digits and a NUL
  for (size_t i = width - 1; i-- > 0;) {
    b[at + i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  b[at + width - 1] = '\0';
}

void put_size(Block& b, uint64_t size) {
  if (size <= kOctalMax) {
    put_octal(b, kSizeAt, 12, size);
    return;
  }
  b[kSizeAt] = static_cast<char>(0x80);
  for (size_t i = 0; i < 11; ++i) b[kSizeAt + 11 - i] = static_cast<char>((size >> (8 * i)) & 0xff);
}

unsigned checksum(const Block& b) {
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    bool in_field = i >= kSumAt && i < kSumAt + 8;
    sum += in_field ? ' ' : static_cast<unsigned char>(b[i]);
  }
  return sum;
}

// An octal field (leading spaces, digits, then NUL or space), or GNU base-256.
Result<uint64_t> get_number(const Block& b, size_t at, size_t width, const char* what) {
  auto first = static_cast<unsigned char>(b[at]);
  if (first & 0x80) {
    uint64_t v = 0;
    for (size_t i = 1; i < width; ++i) {
      if (v >> 56) return make_error(std::string("tar: ") + what + " field too large");
      v = (v << 8) | static_cast<unsigned char>(b[at + i]);
    }
    if (first != 0x80) return make_error(std::string("tar: ") + what + " field too large");
    return v;
  }
  size_t i = at, end = at + width;
  while (i < end && b[i] == ' ') ++i;
  uint64_t v = 0;
  bool any = false;
  for (; i < end && b[i] >= '0' && b[i] <= '7'; ++i) {
    v = (v << 3) | static_cast<uint64_t>(b[i] - '0');
    any = true;
  }
  if (!any || (i < end && b[i] != '\0' && b[i] != ' ')) {
    return make_error(std::string("tar: corrupt ") + what + " field");
  }
  return v;
}

std::string field(const Block& b, size_t at, size_t width) {
  const char* p = b.data() + at;
  return {p, strnlen(p, width)};
}

}  // namespace

Status TarWriter::put(std::string_view bytes) {
  if (auto st = sink_(bytes); !st) return st;
  written_ += bytes.size();
  return {};
}

Status TarWriter::add(const TarEntry& e, const TarSource& data) {
  if (finished_) return make_error("tar: entry after the end of the archive");
  Block h{};
  std::string name = e.name, prefix;
  if (name.empty()) return make_error("tar: empty name");
  if (name.size() > kNameLen) {
    // Split at a '/' so that the prefix fits 155 bytes and the rest 100.
    size_t cut = name.rfind('/', kPrefixLen);  // the last that fits leaves the shortest rest
    if (cut == std::string::npos || cut == 0 || name.size() - cut - 1 > kNameLen) {
      return make_error("tar: name too long for the archive: " + e.name);
    }
    prefix = name.substr(0, cut);
    name = name.substr(cut + 1);
  }
  std::memcpy(h.data(), name.data(), name.size());
  std::memcpy(h.data() + kPrefixAt, prefix.data(), prefix.size());
  put_octal(h, kModeAt, 8, e.mode & 07777);
  put_octal(h, kUidAt, 8, 0);
  put_octal(h, kGidAt, 8, 0);
  put_size(h, e.size);
  put_octal(h, kMtimeAt, 12, static_cast<uint64_t>(std::max<int64_t>(e.mtime, 0)));
  h[kTypeAt] = '0';
  std::memcpy(h.data() + kMagicAt, "ustar", 6);
  std::memcpy(h.data() + kVersionAt, "00", 2);
  put_octal(h, kSumAt, 7, checksum(h));  // six digits, NUL; the eighth byte stays ' '
  h[kSumAt + 7] = ' ';
  if (auto st = put({h.data(), kBlock}); !st) return st;

  std::string buf(1 << 20, '\0');
  uint64_t left = e.size;
  while (left > 0) {
    auto n = data(buf.data(), static_cast<size_t>(std::min<uint64_t>(left, buf.size())));
    if (!n) return n.error();
    if (*n == 0) return make_error("tar: " + e.name + " ended " + std::to_string(left) + " bytes early");
    if (auto st = put({buf.data(), *n}); !st) return st;
    left -= *n;
  }
  if (size_t pad = (kBlock - e.size % kBlock) % kBlock; pad > 0) return put(std::string(pad, '\0'));
  return {};
}

Status TarWriter::add(const TarEntry& e, std::string_view bytes) {
  size_t at = 0;
  return add(e, [&](char* buf, size_t cap) -> Result<size_t> {
    size_t n = std::min(cap, bytes.size() - at);
    std::memcpy(buf, bytes.data() + at, n);
    at += n;
    return n;
  });
}

Status TarWriter::finish() {
  if (finished_) return {};
  finished_ = true;
  return put(std::string(2 * kBlock, '\0'));
}

Status TarReader::fill(char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    auto r = source_(buf + got, n - got);
    if (!r) return r.error();
    if (*r == 0) return make_error("tar: the archive is cut off (no end-of-archive marker)");
    got += *r;
  }
  return {};
}

Status TarReader::skip_rest() {
  std::string buf(64 * 1024, '\0');
  uint64_t rest = left_ + padding_;
  while (rest > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(rest, buf.size()));
    if (auto st = fill(buf.data(), n); !st) return st;
    rest -= n;
  }
  left_ = padding_ = 0;
  return {};
}

Result<std::optional<TarEntry>> TarReader::next() {
  if (ended_) return std::optional<TarEntry>{};
  if (auto st = skip_rest(); !st) return st.error();
  Block h{};
  if (auto st = fill(h.data(), kBlock); !st) return st.error();
  if (std::all_of(h.begin(), h.end(), [](char c) { return c == '\0'; })) {
    Block second{};
    if (auto st = fill(second.data(), kBlock); !st) return st.error();
    if (!std::all_of(second.begin(), second.end(), [](char c) { return c == '\0'; })) {
      return make_error("tar: corrupt end-of-archive marker");
    }
    ended_ = true;
    return std::optional<TarEntry>{};
  }
  auto sum = get_number(h, kSumAt, 8, "checksum");
  if (!sum) return sum.error();
  if (*sum != checksum(h)) return make_error("tar: header checksum mismatch (the archive is corrupt)");
  if (std::memcmp(h.data() + kMagicAt, "ustar", 5) != 0) return make_error("tar: not a ustar archive");
  TarEntry e;
  std::string name = field(h, 0, kNameLen), prefix = field(h, kPrefixAt, kPrefixLen);
  e.name = prefix.empty() ? name : prefix + "/" + name;
  char type = h[kTypeAt];
  if (type != '0' && type != '\0') {
    return make_error("tar: " + e.name + " is not a regular file (type '" + std::string(1, type) +
                      "'); only regular files are accepted");
  }
  auto mode = get_number(h, kModeAt, 8, "mode");
  auto size = get_number(h, kSizeAt, 12, "size");
  auto mtime = get_number(h, kMtimeAt, 12, "mtime");
  if (!mode) return mode.error();
  if (!size) return size.error();
  if (!mtime) return mtime.error();
  e.mode = static_cast<uint32_t>(*mode & 07777);
  e.size = *size;
  e.mtime = static_cast<int64_t>(std::min<uint64_t>(*mtime, INT64_MAX));
  left_ = e.size;
  padding_ = (kBlock - e.size % kBlock) % kBlock;
  return std::optional<TarEntry>{std::move(e)};
}

Result<size_t> TarReader::read(char* buf, size_t cap) {
  if (left_ == 0) return size_t{0};
  size_t n = static_cast<size_t>(std::min<uint64_t>(left_, cap));
  if (auto st = fill(buf, n); !st) return st.error();
  left_ -= n;
  return n;
}

Result<std::string> safe_relative_path(std::string_view name) {
  auto bad = [&](const std::string& why) { return make_error("unsafe path '" + std::string(name) + "': " + why); };
  if (name.empty() || name.size() > 4096) return bad("empty or too long");
  if (name.front() == '/') return bad("absolute");
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') return bad("control character or backslash");
  }
  size_t at = 0;
  while (at <= name.size()) {
    size_t slash = name.find('/', at);
    std::string_view part = name.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
    if (part.empty() || part == "." || part == "..") return bad("empty, '.' or '..' component");
    if (slash == std::string_view::npos) break;
    at = slash + 1;
  }
  return std::string(name);
}

}  // namespace bastion
