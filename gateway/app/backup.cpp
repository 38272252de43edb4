#include "gateway/app/backup.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/files.h"
#include "common/openssl_handles.h"
#include "common/tar.h"
#include "common/unique_fd.h"
#include "recorder/cast_crypto.h"

namespace bastion::gateway {
namespace {

namespace fs = std::filesystem;

constexpr const char* kManifest = "MANIFEST.json";
constexpr const char* kFormat = "bastion-backup";
constexpr int kVersion = 1;
constexpr size_t kFrame = 1 << 20;             // plaintext bytes per sealed frame
constexpr size_t kMaxManifest = 256ull << 20;  // bytes
constexpr size_t kMaxSealedFrame = kFrame + 4096;

std::string errno_text() { return std::strerror(errno); }

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void update(std::string_view b) { EVP_DigestUpdate(ctx_.get(), b.data(), b.size()); }
  std::string hex() {
    unsigned char md[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    return hex_encode({md, len});
  }

 private:
  MdCtx ctx_;
};

// `path` (absolute) relative to `dir` when inside it, else nullopt.
std::optional<std::string> inside(const std::string& dir, const std::string& path) {
  std::error_code ec;
  fs::path d = fs::weakly_canonical(dir, ec), p = fs::weakly_canonical(path, ec);
  auto rel = p.lexically_relative(d);
  if (rel.empty() || rel == "." || *rel.begin() == "..") return std::nullopt;
  return rel.string();
}

// ---- writing -----------------------------------------------------------

// The backup file being written: OUT.partial, its bytes hashed as they go;
// sealed in frames when encrypting.
class BackupFile {
 public:
  static Result<std::unique_ptr<BackupFile>> create(const std::string& out, const std::string& encrypt_to) {
    std::unique_ptr<BackupFile> f(new BackupFile());
    f->out_ = out;
    f->partial_ = out + ".partial";
    if (!encrypt_to.empty()) {
      auto pub = recorder::load_reviewer_public_key(encrypt_to);
      if (!pub) return pub.error().prefixed("--encrypt-to: ");
      auto sealer = recorder::CastSealer::create(*pub, recorder::kBackupSeal);
      if (!sealer) return sealer.error();
      f->sealer_ = std::move(*sealer);
    }
    // SECURITY: 0600 from creation: the archive holds private keys.
    f->fd_ = UniqueFd(::open(f->partial_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!f->fd_) return make_error("cannot create " + f->partial_ + ": " + errno_text());
    if (f->sealer_) {
      if (auto st = f->raw(f->sealer_->file_header()); !st) return st.error();
    }
    return f;
  }
  ~BackupFile() {
    if (!done_) ::unlink(partial_.c_str());
  }
  BackupFile(const BackupFile&) = delete;
  BackupFile& operator=(const BackupFile&) = delete;

  Status write(std::string_view bytes) {
    pending_.append(bytes);
    while (pending_.size() >= kFrame) {
      if (auto st = emit(std::string_view(pending_).substr(0, kFrame)); !st) return st;
      pending_.erase(0, kFrame);
    }
    return {};
  }
  // Flushes, fsyncs and renames OUT.partial to OUT (refusing to replace one
  // made meanwhile), then fsyncs the directory.
  Status commit() {
    if (!pending_.empty()) {
      if (auto st = emit(pending_); !st) return st;
      pending_.clear();
    }
    if (::fsync(fd_.get()) != 0) return make_error("fsync " + partial_ + ": " + errno_text());
    fd_.reset();
    if (::link(partial_.c_str(), out_.c_str()) != 0) return make_error("cannot create " + out_ + ": " + errno_text());
    ::unlink(partial_.c_str());
    done_ = true;
    UniqueFd dir(::open(fs::path(out_).parent_path().empty() ? "." : fs::path(out_).parent_path().c_str(),
                        O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir) ::fsync(dir.get());
    return {};
  }
  [[nodiscard]] uint64_t size() const { return size_; }
  std::string sha256() { return sha_.hex(); }

 private:
  BackupFile() = default;
  Status emit(std::string_view plain) {
    if (!sealer_) return raw(plain);
    auto frame = sealer_->seal(plain);
    if (!frame) return frame.error();
    return raw(*frame);
  }
  Status raw(std::string_view bytes) {
    if (auto st = write_all(fd_.get(), bytes); !st) return st.error().prefixed("writing " + partial_ + ": ");
    sha_.update(bytes);
    size_ += bytes.size();
    return {};
  }

  std::string out_, partial_, pending_;
  UniqueFd fd_;
  std::unique_ptr<recorder::CastSealer> sealer_;
  Sha256 sha_;
  uint64_t size_ = 0;
  bool done_ = false;
};

struct Item {
  std::string source;  // absolute path
  std::string entry;   // name in the archive
};

// Adds one file to the archive: exactly the bytes it had when opened (a
// recording still being written may grow meanwhile; the rest is left out).
Status add_file(TarWriter& tar, const Item& item, nlohmann::json& files, BackupReport& report) {
  UniqueFd fd(::open(item.source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd) return make_error("cannot read " + item.source + ": " + errno_text());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return make_error(item.source + ": not a regular file");
  TarEntry e{item.entry, static_cast<uint32_t>(st.st_mode & 0777), static_cast<uint64_t>(st.st_size),
             static_cast<int64_t>(st.st_mtime)};
  Sha256 sha;
  auto source = [&](char* buf, size_t cap) -> Result<size_t> {
    ssize_t n = ::read(fd.get(), buf, cap);
    if (n < 0) return make_error("reading " + item.source + ": " + errno_text());
    if (n == 0) return make_error(item.source + " shrank while it was being backed up");
    sha.update({buf, static_cast<size_t>(n)});
    return static_cast<size_t>(n);
  };
  if (auto s = tar.add(e, source); !s) return s;
  files.push_back({{"entry", item.entry}, {"source", item.source}, {"size", e.size}, {"sha256", sha.hex()}});
  ++report.files;
  report.content_bytes += e.size;
  return {};
}

// Every regular file under `dir`, but those `skip` says to leave out
// (a directory skipped is not entered). Symbolic links are not followed.
Result<std::vector<std::string>> regular_files(const std::string& dir,
                                               const std::function<bool(const std::string&, bool)>& skip,
                                               std::vector<std::string>& notes) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return make_error("cannot list " + dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return make_error("cannot list " + dir + ": " + ec.message());
    const std::string path = it->path().string();
    auto status = it->symlink_status(ec);
    if (ec) return make_error("cannot stat " + path + ": " + ec.message());
    if (fs::is_directory(status)) {
      if (skip(path, true)) it.disable_recursion_pending();
      continue;
    }
    if (skip(path, false)) continue;
    if (fs::is_symlink(status)) {
      notes.push_back("left out " + path + ": a symbolic link (back up what it points to yourself)");
    } else if (fs::is_regular_file(status)) {
      out.push_back(path);
    }  // sockets (the control socket), FIFOs: nothing to keep
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<BackupReport> write_backup(Services& s, const BackupOptions& o) {
  const Config& cfg = s.config();
  BackupReport report;
  if (o.out.empty()) return make_error(ErrorCode::kInvalid, "--out: a file name is needed");
  std::error_code ec;
  const std::string out = fs::absolute(o.out, ec).string();
  if (fs::exists(fs::symlink_status(out, ec))) return make_error(ErrorCode::kInvalid, "refusing to overwrite " + out);
  if (inside(cfg.state_dir, out)) {
    return make_error(ErrorCode::kInvalid, "write the backup outside the state directory " + cfg.state_dir +
                                               " (the next backup would contain this one)");
  }
  const bool sqlite = !Database::is_postgres(cfg.database);

  // What goes in: the state directory (but the live database files, which a
  // snapshot replaces), and what the configuration names elsewhere.
  std::set<std::string> live_db;
  if (sqlite) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) live_db.insert(cfg.database + suffix);
  }
  auto skip = [&](const std::string& path, bool dir) {
    if (dir) return !o.recordings && path == cfg.recording_dir;
    return live_db.count(path) > 0;
  };
  auto state_files = regular_files(cfg.state_dir, skip, report.notes);
  if (!state_files) return state_files.error();
  std::vector<Item> items;
  std::set<std::string> entries;
  auto entry_for = [&](const std::string& path) {
    if (auto rel = inside(cfg.state_dir, path)) return "state/" + *rel;
    return "external" + fs::path(path).lexically_normal().string();
  };
  for (const auto& f : *state_files) {
    items.push_back({f, entry_for(f)});
    entries.insert(items.back().entry);
  }
  // Outside the state directory: the configuration, keys, certificates.
  nlohmann::json external_roots = nlohmann::json::array();
  auto add_external = [&](const std::string& path, bool optional) -> Status {
    if (path.empty() || inside(cfg.state_dir, path)) return {};
    std::error_code e2;
    if (!fs::is_regular_file(path, e2)) {
      if (optional) return {};
      return make_error(path + " (named by the configuration) is not a readable file");
    }
    std::string entry = entry_for(path);
    if (entries.insert(entry).second) {
      items.push_back({path, entry});
      external_roots.push_back(path);
    }
    return {};
  };
  for (const auto& k : cfg.host_keys) {
    if (auto st = add_external(k, false); !st) return st.error();
    if (auto st = add_external(k + ".pub", true); !st) return st.error();
  }
  for (const auto& [path, optional] : std::vector<std::pair<std::string, bool>>{{cfg.config_path, false},
                                                                                {cfg.user_ca_key, false},
                                                                                {cfg.user_ca_key + ".pub", true},
                                                                                {cfg.user_ca_key + ".next", true},
                                                                                {cfg.user_ca_key + ".previous", true},
                                                                                {cfg.audit_signing_key, false},
                                                                                {cfg.audit_signing_key + ".pub", false},
                                                                                {cfg.tls_cert, true},
                                                                                {cfg.tls_key, true},
                                                                                {cfg.encrypt_to, true},
                                                                                {cfg.syslog_ca, true},
                                                                                {cfg.syslog_cert, true},
                                                                                {cfg.syslog_key, true}}) {
    if (auto st = add_external(path, optional); !st) return st.error();
  }
  if (o.recordings && !inside(cfg.state_dir, cfg.recording_dir) && fs::is_directory(cfg.recording_dir, ec)) {
    auto recs = regular_files(
        cfg.recording_dir, [](const std::string&, bool) { return false; }, report.notes);
    if (!recs) return recs.error();
    for (const auto& f : *recs) items.push_back({f, entry_for(f)});
    external_roots.push_back(cfg.recording_dir);
  }
  if (!o.recordings) report.notes.push_back("left out the recordings in " + cfg.recording_dir + " (--no-recordings)");
  if (!inside(cfg.state_dir, cfg.hr_spool)) {
    report.notes.push_back("left out the HR spool " + cfg.hr_spool + " (outside the state directory)");
  }

  auto file = BackupFile::create(out, o.encrypt_to);
  if (!file) return file.error();
  TarWriter tar([&](std::string_view b) { return (*file)->write(b); });
  nlohmann::json files = nlohmann::json::array();
  for (const auto& item : items) {
    if (auto st = add_file(tar, item, files, report); !st) return st.error();
  }

  nlohmann::json database = {{"engine", sqlite ? "sqlite" : "postgresql"}};
  if (sqlite) {
    // The snapshot: SQLite's online backup into a file beside the output,
    // consistent however bastiond writes meanwhile.
    const std::string snapshot = out + ".db-snapshot";
    if (auto st = s.backup_database(snapshot); !st) return st.error().prefixed("database snapshot: ");
    struct Unlink {
      std::string path;
      ~Unlink() { ::unlink(path.c_str()); }
    } cleanup{snapshot};
    for (const char* suffix : {"-wal", "-shm"}) ::unlink((snapshot + suffix).c_str());
    Item db{snapshot, entry_for(cfg.database)};
    size_t before = files.size();
    if (auto st = add_file(tar, db, files, report); !st) return st.error();
    files[before]["source"] = cfg.database;
    database["entry"] = db.entry;
    report.database_included = true;
    report.database_bytes = files[before]["size"].get<uint64_t>();
  } else {
    report.notes.push_back("left out the database " + Database::display_name(cfg.database) +
                           ": back up PostgreSQL with pg_dump (or pg_basebackup); keys and configuration are here");
  }

  nlohmann::json manifest = {{"format", kFormat},
                             {"version", kVersion},
                             {"created_at", format_utc_seconds(s.clock().now())},
                             {"created_by", o.actor},
                             {"node", cfg.node_name},
                             {"state_dir", cfg.state_dir},
                             {"config_path", cfg.config_path},
                             {"config_entry", entry_for(cfg.config_path)},
                             {"external_roots", external_roots},
                             {"database", database},
                             {"recordings", o.recordings},
                             {"encrypted", !o.encrypt_to.empty()},
                             {"files", files}};
  std::string text = manifest.dump(2) + "\n";
  if (auto st = tar.add({kManifest, 0644, text.size(), s.clock().now() / kMicrosPerSecond}, text); !st) {
    return st.error();
  }
  if (auto st = tar.finish(); !st) return st.error();
  if (auto st = (*file)->commit(); !st) return st.error();
  report.file_bytes = (*file)->size();
  report.sha256 = (*file)->sha256();
  return report;
}

// ---- restoring -----------------------------------------------------------

namespace {

// The backup file's plaintext: the file itself, or its frames opened one by one.
class BackupSource {
 public:
  static Result<std::unique_ptr<BackupSource>> open(const std::string& path, const std::string& identity) {
    std::unique_ptr<BackupSource> s(new BackupSource());
    s->fd_ = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!s->fd_) return make_error("cannot open " + path + ": " + errno_text());
    std::string head(512, '\0');
    auto n = s->raw(head.data(), head.size());
    if (!n) return n.error();
    head.resize(*n);
    if (head.starts_with(recorder::kBackupSeal.magic)) {
      size_t eol = head.find('\n');
      if (eol == std::string::npos) return make_error(path + ": corrupt backup header");
      if (identity.empty()) {
        return make_error(ErrorCode::kInvalid,
                          path + " is encrypted: pass --identity with the X25519 private key it was encrypted to");
      }
      auto opener =
          recorder::CastOpener::create(std::string_view(head).substr(0, eol), identity, recorder::kBackupSeal);
      if (!opener) return opener.error();
      s->opener_ = std::move(*opener);
      s->raw_buf_ = head.substr(eol + 1);
      return s;
    }
    if (head.size() < 263 || head.compare(257, 5, "ustar") != 0) {
      return make_error(path + ": not a bastion backup (neither an encrypted backup nor a tar archive)");
    }
    if (!identity.empty()) return make_error(ErrorCode::kInvalid, path + " is not encrypted: --identity is not needed");
    s->plain_ = head;
    return s;
  }

  Result<size_t> read(char* buf, size_t cap) {
    if (plain_at_ >= plain_.size()) {
      plain_.clear();
      plain_at_ = 0;
      if (auto st = refill(); !st) return st.error();
      if (plain_.empty()) return size_t{0};
    }
    size_t n = std::min(cap, plain_.size() - plain_at_);
    std::memcpy(buf, plain_.data() + plain_at_, n);
    plain_at_ += n;
    return n;
  }

 private:
  BackupSource() = default;
  Result<size_t> raw(char* buf, size_t cap) {
    for (;;) {
      ssize_t n = ::read(fd_.get(), buf, cap);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return make_error(std::string("reading the backup: ") + errno_text());
    }
  }
  // raw_buf_ holds at least `n` bytes, or fewer at the end of the file.
  Status want(size_t n) {
    std::string chunk(64 * 1024, '\0');
    while (raw_buf_.size() < n) {
      auto got = raw(chunk.data(), std::min(chunk.size(), n - raw_buf_.size()));
      if (!got) return got.error();
      if (*got == 0) break;
      raw_buf_.append(chunk.data(), *got);
    }
    return {};
  }
  Status refill() {
    if (!opener_) {
      plain_.resize(1 << 20);
      auto n = raw(plain_.data(), plain_.size());
      if (!n) return n.error();
      plain_.resize(*n);
      return {};
    }
    if (auto st = want(4); !st) return st;
    if (raw_buf_.empty()) return {};
    auto size = recorder::sealed_frame_size(raw_buf_);
    if (!size) return size.error();
    if (*size == 0 || *size > kMaxSealedFrame) return make_error("the backup is cut off or corrupt");
    if (auto st = want(*size); !st) return st;
    if (raw_buf_.size() < *size) return make_error("the backup is cut off (its last frame is incomplete)");
    auto plain = opener_->open(std::string_view(raw_buf_).substr(0, *size), counter_++);
    if (!plain) return plain.error();
    raw_buf_.erase(0, *size);
    plain_ = std::move(*plain);
    return {};
  }

  UniqueFd fd_;
  std::unique_ptr<recorder::CastOpener> opener_;
  std::string raw_buf_, plain_;
  size_t plain_at_ = 0;
  uint64_t counter_ = 0;
};

struct Restored {
  uint64_t size = 0;
  std::string sha256;
};

// Replaces every quoted occurrence of `from` (the whole string, or a path
// under it) with `to` in TOML text; counts the lines changed.
int rewrite_paths(std::string& text, const std::string& from, const std::string& to) {
  int changed = 0;
  for (char q : {'"', '\''}) {
    for (const std::string& tail : {std::string(1, q), std::string("/")}) {
      std::string needle = std::string(1, q) + from + tail, repl = std::string(1, q) + to + tail;
      for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + repl.size())) {
        text.replace(at, needle.size(), repl);
        ++changed;
      }
    }
  }
  return changed;
}

Status restore_into(const RestoreOptions& o, const std::string& dir, RestoreReport& report) {
  auto source = BackupSource::open(o.file, o.identity);
  if (!source) return source.error();
  TarReader tar([&](char* buf, size_t cap) { return (*source)->read(buf, cap); });
  std::map<std::string, Restored> got;
  std::string manifest_text;
  std::string buf(1 << 20, '\0');
  for (;;) {
    auto next = tar.next();
    if (!next) return next.error();
    if (!*next) break;
    const TarEntry& e = **next;
    auto name = safe_relative_path(e.name);
    if (!name) return name.error();
    if (got.count(e.name) || (e.name == kManifest && !manifest_text.empty())) {
      return make_error("the backup names " + e.name + " twice");
    }
    if (e.name == kManifest) {
      if (e.size > kMaxManifest) return make_error("the backup's manifest is implausibly large");
      manifest_text.resize(e.size);
      size_t at = 0;
      while (at < e.size) {
        auto n = tar.read(manifest_text.data() + at, e.size - at);
        if (!n) return n.error();
        at += *n;
      }
      continue;
    }
    std::string rel;
    if (e.name.starts_with("state/")) {
      rel = e.name.substr(6);
    } else if (e.name.starts_with("external/")) {
      rel = e.name;
    } else {
      return make_error("the backup holds " + e.name + ", which is neither state/ nor external/");
    }
    fs::path dest = fs::path(dir) / rel;
    if (auto st = make_dirs(dest.parent_path().string(), 0700); !st) return st;
    // SECURITY: O_EXCL | O_NOFOLLOW: never through a link, never over a file
    // (safe_relative_path already keeps every name inside `dir`).
    UniqueFd fd(::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (e.mode & 0777) | 0600));
    if (!fd) return make_error("cannot create " + dest.string() + ": " + errno_text());
    Sha256 sha;
    for (;;) {
      auto n = tar.read(buf.data(), buf.size());
      if (!n) return n.error();
      if (*n == 0) break;
      std::string_view chunk(buf.data(), *n);
      sha.update(chunk);
      if (auto st = write_all(fd.get(), chunk); !st) return st.error().prefixed("writing " + dest.string() + ": ");
    }
    if (::fsync(fd.get()) != 0) return make_error("fsync " + dest.string() + ": " + errno_text());
    got[e.name] = {e.size, sha.hex()};
    ++report.files;
    report.bytes += e.size;
  }
  // Nothing may follow the end-of-archive marker but the zero padding tar(1) adds.
  for (;;) {
    auto n = (*source)->read(buf.data(), buf.size());
    if (!n) return n.error();
    if (*n == 0) break;
    if (std::any_of(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n), [](char c) { return c != '\0'; })) {
      return make_error("the backup has data after its end-of-archive marker");
    }
  }

  if (manifest_text.empty()) return make_error("the backup has no MANIFEST.json (not a bastion backup, or cut off)");
  nlohmann::json m = nlohmann::json::parse(manifest_text, nullptr, false);
  if (m.is_discarded() || !m.is_object() || m.value("format", "") != kFormat) {
    return make_error("the backup's MANIFEST.json is not a bastion backup manifest");
  }
  if (!m["version"].is_number_integer() || m["version"].get<int>() != kVersion) {
    return make_error("the backup is format version " + m["version"].dump() + "; this bastionctl reads version " +
                      std::to_string(kVersion));
  }
  // Every file the manifest names, as it names it; nothing else.
  std::set<std::string> listed;
  try {
    for (const auto& f : m.at("files")) {
      const std::string entry = f.at("entry").get<std::string>();
      listed.insert(entry);
      auto it = got.find(entry);
      if (it == got.end()) return make_error("the backup lacks " + entry + ", which its manifest lists");
      if (it->second.size != f.at("size").get<uint64_t>() || it->second.sha256 != f.at("sha256").get<std::string>()) {
        return make_error(entry + " does not match the backup's manifest (altered or corrupt)");
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return make_error(std::string("the backup's MANIFEST.json is malformed: ") + e.what());
  }
  for (const auto& [entry, r] : got) {
    if (!listed.count(entry)) return make_error("the backup holds " + entry + ", which its manifest does not list");
  }
  report.manifest = m;
  report.database_included = m["database"].contains("entry");

  // The configuration, in the new state directory, naming the restored files.
  const std::string config_entry = m.value("config_entry", "");
  const std::string old_state = m.value("state_dir", "");
  if (!got.count(config_entry) || old_state.empty()) return make_error("the backup's manifest names no configuration");
  fs::path restored_config =
      config_entry.starts_with("state/") ? fs::path(dir) / config_entry.substr(6) : fs::path(dir) / config_entry;
  auto text = read_file(restored_config.string(), 4 << 20);
  if (!text) return text.error();
  std::string config = *text;
  if (int n = rewrite_paths(config, old_state, dir); n > 0) {
    report.notes.push_back("configuration: " + old_state + " is now " + dir + " (" + std::to_string(n) + " place(s))");
  }
  if (m["external_roots"].is_array()) {
    for (const auto& r : m["external_roots"]) {
      if (!r.is_string()) continue;
      std::string from = r.get<std::string>(), to = dir + "/external" + from;
      if (int n = rewrite_paths(config, from, to); n > 0) {
        report.notes.push_back("configuration: " + from + " is now " + to);
      }
    }
  }
  // One that lived in the state directory stays where it was; another is
  // copied to the top of the new one.
  fs::path config_path = config_entry.starts_with("state/")
                             ? restored_config
                             : fs::path(dir) / fs::path(m.value("config_path", "bastion.toml")).filename();
  if (config_path != restored_config && fs::exists(config_path)) {
    return make_error("the backup's files include " + config_path.string() + " besides its configuration");
  }
  if (config_path != restored_config || config != *text) {
    if (auto st = write_file_atomic(config_path.string(), config, 0640, config_path == restored_config); !st) {
      return st;
    }
  }
  report.config_path = config_path.string();
  return {};
}

}  // namespace

Result<RestoreReport> restore_backup(const RestoreOptions& o) {
  RestoreReport report;
  if (o.state_dir.empty()) return make_error(ErrorCode::kInvalid, "--state-dir: a directory is needed");
  std::error_code ec;
  const std::string dir = fs::absolute(o.state_dir, ec).lexically_normal().string();
  std::string clean = dir;
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  if (fs::exists(fs::symlink_status(clean, ec))) {
    if (!fs::is_directory(fs::symlink_status(clean, ec))) {
      return make_error(ErrorCode::kInvalid, clean + " exists and is not a directory");
    }
    if (!fs::is_empty(clean, ec)) {
      return make_error(ErrorCode::kInvalid, clean + " is not empty: restore into a new or empty directory");
    }
  } else {
    if (::mkdir(clean.c_str(), 0700) != 0) return make_error("cannot create " + clean + ": " + errno_text());
    report.made_dir = true;
  }
  if (auto st = restore_into(o, clean, report); !st) {
    discard_restore(clean, report.made_dir);
    return st.error();
  }
  return report;
}

void discard_restore(const std::string& state_dir, bool made_dir) {
  std::error_code ec;
  if (made_dir) {
    fs::remove_all(state_dir, ec);
    return;
  }
  for (const auto& e : fs::directory_iterator(state_dir, ec)) fs::remove_all(e.path(), ec);
}

}  // namespace bastion::gateway
