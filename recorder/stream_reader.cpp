#include "recorder/stream_reader.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "common/encoding.h"
#include "recorder/cast_crypto.h"
#include "recorder/stream_writer.h"
#include "recorder/zstd_codec.h"

namespace bastion::recorder {
namespace {

constexpr size_t kMaxHeaderLine = 64 * 1024;
// A zstd frame of kMaxStreamPayload bytes that did not compress is a little larger.
constexpr size_t kMaxStoredPayload = kMaxStreamPayload + 64 * 1024;

uint32_t read_u32(std::string_view b) {
  auto* p = reinterpret_cast<const unsigned char*>(b.data());
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Where the block at the start of `rest` ends and what it stores, or
// nullopt if the file ends inside it.
struct Block {
  size_t size = 0;           // on disk
  std::string_view payload;  // stored payload (unencrypted files)
};

Result<std::optional<Block>> next_plain_block(std::string_view rest) {
  if (rest.size() < 4) return std::optional<Block>();
  uint32_t len = read_u32(rest);
  if (len > kMaxStoredPayload)
    return make_error("block larger than a writer makes (" + std::to_string(len) + " bytes)");
  if (rest.size() - 4 < len) return std::optional<Block>();
  return std::optional<Block>(Block{4 + size_t{len}, rest.substr(4, len)});
}

Status visit_records(std::string_view plain, const StreamVisitor& each) {
  size_t pos = 0;
  while (pos < plain.size()) {
    auto id = static_cast<unsigned char>(plain[pos++]);
    uint64_t at = 0, len = 0;
    if (id > 2) return make_error("unknown stream id " + std::to_string(id));
    if (!read_uvarint(plain, pos, at) || !read_uvarint(plain, pos, len) || len > plain.size() - pos ||
        at > static_cast<uint64_t>(INT64_MAX)) {
      return make_error("malformed record");
    }
    StreamRecord r{static_cast<Micros>(at), static_cast<StreamId>(id), plain.substr(pos, len)};
    pos += len;
    if (auto st = each(r); !st) return st;
  }
  return {};
}

Result<std::string> open_sealed_command(const nlohmann::json& h, CastOpener& opener) {
  auto it = h.find("sealed_command");
  if (it == h.end() || !it->is_string()) return make_error("sealed command missing");
  auto frame = base64_decode(it->get<std::string>());
  if (!frame) return make_error("sealed command is not base64");
  std::string_view f(reinterpret_cast<const char*>(frame->data()), frame->size());
  auto size = sealed_frame_size(f);
  if (!size || *size != f.size()) return make_error("sealed command is not one frame");
  return opener.open(f, 0);
}

// Reads blocks one by one: decrypts, decompresses, hands over the records.
class BlockReader {
 public:
  BlockReader(std::string_view file, std::string name) : file_(file), name_(std::move(name)) {}
  Status setup(nlohmann::json& header, const std::string& key_path);
  Result<StreamScan> run(StreamScan scan, const StreamVisitor& each);

 private:
  Result<std::optional<std::string>> next_sealed_block(std::string_view rest, size_t& size, uint64_t counter);
  Error fail(int64_t block, const std::string& why) {
    return make_error(name_ + ": block " + std::to_string(block) + ": " + why);
  }

  std::string_view file_;
  std::string name_;
  bool zstd_ = false;
  std::unique_ptr<CastOpener> opener_;
  uint64_t first_counter_ = 0;  // 1 when the command is sealed (frame 0)
};

Status BlockReader::setup(nlohmann::json& h, const std::string& key_path) {
  std::string compression = h["compression"].is_string() ? h["compression"].get<std::string>() : "";
  std::string encryption = h["encryption"].is_string() ? h["encryption"].get<std::string>() : "";
  if (compression != "zstd" && compression != "none") return make_error(name_ + ": unknown compression");
  zstd_ = compression == "zstd";
  if (encryption == "none") return {};
  if (!is_encrypted_cast(encryption)) return make_error(name_ + ": unknown encryption");
  if (key_path.empty()) return make_error(name_ + " is encrypted: pass --key REVIEWER.key");
  auto o = CastOpener::create(encryption, key_path);
  if (!o) return o.error();
  opener_ = std::move(*o);
  if (!h.contains("sealed_command")) return {};
  auto command = open_sealed_command(h, *opener_);
  if (!command) return make_error(name_ + ": " + command.error().message);
  h["command"] = std::move(*command);
  first_counter_ = 1;
  return {};
}

Result<std::optional<std::string>> BlockReader::next_sealed_block(std::string_view rest, size_t& size,
                                                                  uint64_t counter) {
  auto n = sealed_frame_size(rest);
  if (!n) return n.error();
  if (*n == 0 || *n > rest.size()) return std::optional<std::string>();
  size = *n;
  auto plain = opener_->open(rest.substr(0, *n), counter);
  if (!plain) return plain.error();
  return std::optional<std::string>(std::move(*plain));
}

Result<StreamScan> BlockReader::run(StreamScan scan, const StreamVisitor& each) {
  size_t pos = file_.find('\n') + 1;
  while (pos < file_.size()) {
    std::string_view rest = file_.substr(pos);
    std::string opened;
    std::string_view payload;
    size_t size = 0;
    if (opener_) {
      auto b = next_sealed_block(rest, size, first_counter_ + static_cast<uint64_t>(scan.blocks));
      if (!b) return fail(scan.blocks, b.error().message);
      if (!*b) return (scan.cut_off = true, scan);
      opened = std::move(**b);
      payload = opened;
    } else {
      auto b = next_plain_block(rest);
      if (!b) return fail(scan.blocks, b.error().message);
      if (!*b) return (scan.cut_off = true, scan);
      size = (*b)->size;
      payload = (*b)->payload;
    }
    if (payload.size() > kMaxStoredPayload) return fail(scan.blocks, "payload too large");
    std::string inflated;
    if (zstd_) {
      auto d = decompress_frame(payload, kMaxStreamPayload);
      if (!d) return fail(scan.blocks, d.error().message);
      inflated = std::move(*d);
      payload = inflated;
    }
    if (auto st = visit_records(payload, each); !st) return fail(scan.blocks, st.message());
    ++scan.blocks;
    pos += size;
  }
  return scan;
}

}  // namespace

Result<nlohmann::json> parse_stream_header(std::string_view bytes, const std::string& name) {
  size_t eol = bytes.substr(0, kMaxHeaderLine).find('\n');
  if (eol == std::string_view::npos) return make_error(name + ": not a stream recording (no header line)");
  auto j = nlohmann::json::parse(bytes.substr(0, eol), nullptr, false);
  if (!j.is_object()) return make_error(name + ": not a stream recording (header is not a JSON object)");
  auto f = j.find("format"), v = j.find("version");
  if (f == j.end() || *f != kStreamFormat || v == j.end() || !v->is_number_integer()) {
    return make_error(name + ": not a stream recording");
  }
  if (v->get<int64_t>() != 1) return make_error(name + ": stream recording version " + v->dump() + " is not supported");
  for (const char* key : {"session", "command", "compression", "encryption"}) {
    if (auto it = j.find(key); it == j.end() || !it->is_string()) {
      return make_error(name + ": stream recording header lacks a string \"" + key + "\"");
    }
  }
  if (auto it = j.find("subsystem"); it != j.end() && !it->is_string()) {
    return make_error(name + ": stream recording header's \"subsystem\" is not a string");
  }
  return j;
}

Result<std::optional<nlohmann::json>> stream_header_of_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot open " + path + ": " + std::strerror(errno));
  std::string head(kMaxHeaderLine, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (!is_stream_recording(head)) return std::optional<nlohmann::json>();
  auto h = parse_stream_header(head, path);
  if (!h) return h.error();
  return std::optional<nlohmann::json>(std::move(*h));
}

bool is_stream_recording(std::string_view bytes) {
  return bytes.starts_with("{") && parse_stream_header(bytes, "").has_value();
}

Result<std::string> stream_command(const nlohmann::json& header, const std::string& key_path) {
  if (!header.contains("sealed_command")) return header.value("command", "");
  if (key_path.empty()) return make_error("the command line is encrypted: pass --key REVIEWER.key");
  auto opener = CastOpener::create(header.value("encryption", ""), key_path);
  if (!opener) return opener.error();
  return open_sealed_command(header, **opener);
}

Result<StreamScan> scan_stream(std::string_view bytes, const std::string& key_path, const StreamVisitor& each,
                               const std::string& name) {
  auto header = parse_stream_header(bytes, name);
  if (!header) return header.error();
  BlockReader reader(bytes, name);
  if (auto st = reader.setup(*header, key_path); !st) return st.error();
  StreamScan scan;
  scan.header = std::move(*header);
  return reader.run(std::move(scan), each);
}

Result<StreamSummary> summarize_stream(std::string_view bytes, const std::string& key_path, const std::string& name) {
  StreamSummary sum;
  auto scan = scan_stream(
      bytes, key_path,
      [&](const StreamRecord& r) -> Status {
        StreamStats& s = sum.streams[static_cast<size_t>(r.stream)];
        if (s.records++ == 0) s.first_at = r.at;
        s.last_at = r.at;
        s.bytes += static_cast<int64_t>(r.bytes.size());
        if (s.head.size() < 64) s.head.append(r.bytes.substr(0, 64 - s.head.size()));
        return {};
      },
      name);
  if (!scan) return scan.error();
  sum.scan = std::move(*scan);
  return sum;
}

std::string_view stream_name(StreamId s) {
  return s == StreamId::kStdin ? "stdin" : s == StreamId::kStdout ? "stdout" : "stderr";
}

bool parse_stream_name(std::string_view name, StreamId& out) {
  for (auto s : {StreamId::kStdin, StreamId::kStdout, StreamId::kStderr}) {
    if (name == stream_name(s)) {
      out = s;
      return true;
    }
  }
  return false;
}

}  // namespace bastion::recorder
