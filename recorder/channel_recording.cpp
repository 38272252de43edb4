#include "recorder/channel_recording.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/database.h"
#include "common/database_sql.h"
#include "common/encoding.h"
#include "common/files.h"
#include "common/openssl_handles.h"
#include "recorder/cast_crypto.h"
#include "recorder/stream_writer.h"
#include "recorder/recorder_sql.h"
#include "recorder/text_match.h"

namespace bastion::recorder {

std::string recording_path(const std::string& dir, const std::string& session_id, int channel, Micros at,
                           RecordingFormat format) {
  time_t secs = static_cast<time_t>(at / kMicrosPerSecond);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char day[16];
  std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
  return dir + "/" + day + "/" + session_id + "-" + std::to_string(channel) +
         (format == RecordingFormat::kStream ? ".stream" : ".cast");
}

Result<RecordingJournal::Opened> begin_recording(Database& db, AuditLog& audit, const Clock& clock,
                                                 const std::string& dir, bool encrypted, const AuditEvent& tmpl,
                                                 int channel, RecordingFormat format) {
  Micros now = clock.now();
  RecordingJournal::Opened o;
  o.path = recording_path(dir, tmpl.session_id, channel, now, format);
  auto fd = CastWriter::create_file(o.path);
  if (!fd) return fd.error();
  o.file = std::move(*fd);
  auto st = with_transaction(db, [&]() -> Status {
    Statement q(db, "INSERT INTO recordings(session_id, channel, path, started_at) VALUES (?,?,?,?)");
    q.bind(1, tmpl.session_id);
    q.bind(2, channel);
    q.bind(3, o.path);
    q.bind(4, static_cast<int64_t>(now));
    q.run();
    return {};
  });
  if (!st) return st.error();
  AuditEvent e = tmpl;
  e.action = "recording.start";
  e.outcome = Outcome::kInfo;
  e.details = {{"channel", channel},
               {"path", o.path},
               {"encrypted", encrypted},
               {"format", format == RecordingFormat::kStream ? "bastion-stream" : "asciicast-v2"}};
  if (auto a = audit.append(e); !a) return a.error();
  return o;
}

Status record_chunk(AuditLog& audit, const AuditEvent& tmpl, int channel, const CastChunk& c) {
  AuditEvent e = tmpl;
  e.action = "recording.chunk";
  e.outcome = Outcome::kInfo;
  e.details = {{"channel", channel}, {"offset", c.offset}, {"length", c.length}, {"sha256", c.sha256}};
  auto a = audit.append(e);
  return a ? Status{} : a.status();
}

std::string index_path_for(const std::string& recording_path) {
  size_t slash = recording_path.rfind('/');
  size_t dot = recording_path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return recording_path + ".cmdidx";
  return recording_path.substr(0, dot) + ".cmdidx";
}

Result<RecordingJournal::Opened> begin_index(const std::string& recording_path) {
  RecordingJournal::Opened o;
  o.path = index_path_for(recording_path);
  auto fd = CastWriter::create_file(o.path);
  if (!fd) return fd.error();
  o.file = std::move(*fd);
  return o;
}

Result<IndexDigest> digest_index_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return make_error("cannot open the command index " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return make_error(path + " is not a regular file");
  if (st.st_size > kMaxIndexFileBytes) {
    return make_error("the command index " + path + " is larger than " + std::to_string(kMaxIndexFileBytes) + " bytes");
  }
  auto md = new_sha256();
  if (!md) return make_error("SHA-256 unavailable");
  IndexDigest d{path, 0, {}, {}};
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error("cannot read the command index " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    d.size += n;
    if (d.size > kMaxIndexFileBytes) return make_error("the command index " + path + " grew while it was read");
    EVP_DigestUpdate(md.get(), buf, static_cast<size_t>(n));
    d.content.append(buf, static_cast<size_t>(n));
  }
  std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  EVP_DigestFinal_ex(md.get(), out.data(), &len);
  out.resize(len);
  d.sha256 = hex_encode(out);
  return d;
}

// The commands of a plaintext command index, for the search by command.
// The connection process wrote the index: it is parsed as hostile input
// (bounded, never throws); a sealed or malformed one gives nothing.
void store_commands(Database& db, const std::string& session_id, int channel, const std::string& content) {
  if (content.empty() || is_encrypted_cast(content)) return;
  auto index = parse_command_index(content, "command index");
  if (!index) return;
  Statement q(db, "INSERT INTO recording_commands(session_id, channel, offset_us, command) VALUES (?, ?, ?, ?)");
  size_t stored = 0;
  for (const auto& e : index->entries) {
    if (stored++ == kMaxSearchableCommands) break;
    q.reset();
    q.bind(1, session_id);
    q.bind(2, channel);
    q.bind(3, static_cast<int64_t>(e.offset));
    q.bind(4, e.command);
    q.run();
  }
}

Status end_recording(Database& db, AuditLog& audit, const Clock& clock, const AuditEvent& tmpl, int channel,
                     const std::string& path, const CastSummary& s, const IndexDigest* index) {
  auto st = with_transaction(db, [&]() -> Status {
    Statement q(db, "UPDATE recordings SET ended_at = ?, size = ?, sha256 = ? WHERE session_id = ? AND channel = ?");
    q.bind(1, static_cast<int64_t>(clock.now()));
    q.bind(2, s.size);
    q.bind(3, s.sha256);
    q.bind(4, tmpl.session_id);
    q.bind(5, channel);
    q.run();
    if (index != nullptr) store_commands(db, tmpl.session_id, channel, index->content);
    return {};
  });
  AuditEvent e = tmpl;
  e.action = "recording.end";
  e.outcome = Outcome::kInfo;
  e.details = {{"channel", channel}, {"path", path}, {"size", s.size}, {"sha256", s.sha256}};
  // Absent in records of older versions, which always mean kDigestWholeFile.
  if (s.digest != kDigestWholeFile) e.details["digest"] = s.digest;
  if (index != nullptr) {
    e.details["index"] = index->path;
    e.details["index_size"] = index->size;
    e.details["index_sha256"] = index->sha256;
  }
  auto a = audit.append(e);
  if (!st) return st;
  return a ? Status{} : a.status();
}

ChannelRecording::ChannelRecording(RecordingJournal& journal, const Clock& clock, RecordingSettings s, int channel)
    : journal_(journal), clock_(clock), settings_(std::move(s)), channel_(channel) {}

Result<std::unique_ptr<ChannelRecording>> ChannelRecording::start(RecordingJournal& journal, const Clock& clock,
                                                                  const RecordingSettings& settings, int channel,
                                                                  const ChannelHeader& header) {
  std::unique_ptr<ChannelRecording> r(new ChannelRecording(journal, clock, settings, channel));
  std::unique_ptr<CastSealer> sealer;
  if (!settings.encrypt_to.empty()) {
    auto s = CastSealer::create(settings.encrypt_to);
    if (!s) return s.error();
    sealer = std::move(*s);
  }
  auto opened = journal.begin(channel, header.pty ? RecordingFormat::kAsciicast : RecordingFormat::kStream);
  if (!opened) return opened.error();
  if (auto st = r->open_writer(std::move(*opened), header, std::move(sealer)); !st) return st.error();
  if (header.pty) {
    if (auto st = r->open_index(header); !st) return st.error();
  }
  r->last_digest_ = header.cast.started_at;
  return r;
}

Status ChannelRecording::open_writer(RecordingJournal::Opened opened, const ChannelHeader& h,
                                     std::unique_ptr<CastSealer> sealer) {
  path_ = opened.path;
  if (h.pty) {
    auto w = CastWriter::open(std::move(opened.file), h.cast, settings_.flush_interval, std::move(sealer));
    if (!w) return w.error();
    writer_ = std::move(*w);
    return {};
  }
  StreamHeader sh{h.session_id, channel_, h.cast.command, h.cast.started_at, h.subsystem};
  auto w =
      StreamWriter::open(std::move(opened.file), sh, settings_.flush_interval, settings_.compress, std::move(sealer));
  if (!w) return w.error();
  writer_ = std::move(*w);
  return {};
}

Status ChannelRecording::open_index(const ChannelHeader& h) {
  auto opened = journal_.begin_index(channel_);
  if (!opened) return opened.error();
  index_file_ = std::move(opened->file);
  index_path_ = opened->path;
  size_t slash = path_.rfind('/');
  index_header_.recording = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  index_header_.started_at = h.cast.started_at;
  index_header_.cols = std::clamp(h.cast.width, CommandIndexer::kMinCols, CommandIndexer::kMaxCols);
  index_header_.rows = std::clamp(h.cast.height, CommandIndexer::kMinRows, CommandIndexer::kMaxRows);
  indexer_ = std::make_unique<CommandIndexer>(index_header_.cols, index_header_.rows, h.cast.started_at);
  return {};
}

// The index file, once: at most kMaxIndexFileBytes (the last entries are
// dropped past that, and the index says it is truncated), sealed like the
// recording when recordings are encrypted, then fsync'd.
Status ChannelRecording::write_index() {
  indexer_->finish();
  CommandIndex index{index_header_, indexer_->take()};
  index.header.truncated = indexer_->truncated();
  indexer_.reset();
  std::string text = format_command_index(index);
  // An estimate first (each entry line is about its command plus 40 bytes), then exact.
  while (text.size() > static_cast<size_t>(kMaxIndexFileBytes) - 4096 && !index.entries.empty()) {
    index.header.truncated = true;
    index.entries.resize(index.entries.size() * 3 / 4);
    text = format_command_index(index);
  }
  if (!settings_.encrypt_to.empty()) {
    auto sealer = CastSealer::create(settings_.encrypt_to);
    if (!sealer) return sealer.error();
    auto frame = (*sealer)->seal(text);
    if (!frame) return frame.error();
    text = (*sealer)->file_header() + *frame;
  }
  if (auto st = write_all(index_file_.get(), text); !st) {
    return st.error().prefixed("cannot write the command index " + index_path_ + ": ");
  }
  if (::fsync(index_file_.get()) != 0) {
    return make_error("cannot write the command index " + index_path_ + ": " + std::strerror(errno));
  }
  index_file_.reset();
  return {};
}

Status ChannelRecording::sticky(const Status& st) {
  if (!st && status_.is_ok()) status_ = st;
  return status_;
}

Status ChannelRecording::output(std::string_view bytes) {
  Micros now = clock_.now();
  if (indexer_) indexer_->output(now, bytes);
  return sticky(writer_->write(now, StreamId::kStdout, bytes));
}

Status ChannelRecording::error_output(std::string_view bytes) {
  return sticky(writer_->write(clock_.now(), StreamId::kStderr, bytes));
}

// The command index needs the Enter keys even when keystrokes are not
// recorded: it reads the command off the screen (what the output shows).
Status ChannelRecording::input(std::string_view bytes) {
  Micros now = clock_.now();
  if (indexer_) indexer_->input(now, bytes);
  if (!settings_.record_input) return status_;
  return sticky(writer_->write(now, StreamId::kStdin, bytes));
}

Status ChannelRecording::resize(int cols, int rows) {
  if (indexer_) indexer_->resize(cols, rows);
  return sticky(writer_->resize(clock_.now(), cols, rows));
}

Status ChannelRecording::digest() {
  CastChunk c = writer_->take_chunk();
  if (c.length == 0) return status_;
  return sticky(journal_.chunk(channel_, c));
}

void ChannelRecording::set_flush_interval(Micros interval) {
  settings_.flush_interval = interval;
  if (writer_) writer_->set_flush_interval(interval);
}

Status ChannelRecording::tick() {
  if (summary_) return status_;
  Micros now = clock_.now();
  if (!sticky(writer_->tick(now))) return status_;
  if (now - last_digest_ >= settings_.digest_interval) {
    last_digest_ = now;
    if (!sticky(writer_->flush())) return status_;
    return digest();
  }
  return status_;
}

Result<CastSummary> ChannelRecording::finish() {
  if (summary_) return *summary_;
  auto s = writer_->close();
  if (!s) {
    (void)sticky(s.status());
    return s.error();
  }
  (void)digest();
  if (indexer_) (void)sticky(write_index());
  summary_ = *s;
  (void)sticky(journal_.end(channel_, *s));
  return *s;
}

Result<std::vector<RecordingInfo>> recordings_of(Database& db, const std::string& session_id) {
  try {
    Statement q(db,
                "SELECT r.session_id, r.channel, r.path, r.started_at, r.ended_at, r.size, COALESCE(r.sha256,''), "
                "COALESCE(s.node,'') FROM recordings r LEFT JOIN sessions s ON s.id = r.session_id "
                "WHERE r.session_id = ? ORDER BY r.channel");
    q.bind(1, session_id);
    std::vector<RecordingInfo> out;
    while (q.step()) {
      RecordingInfo r;
      r.session_id = q.column(0).text();
      r.channel = q.column(1).int32();
      r.path = q.column(2).text();
      r.started_at = q.column(3).int64();
      if (!q.column(4).is_null()) r.ended_at = q.column(4).int64();
      if (!q.column(5).is_null()) r.size = q.column(5).int64();
      r.sha256 = q.column(6).text();
      r.node = q.column(7).text();
      out.push_back(std::move(r));
    }
    return out;
  } catch (const DatabaseError& e) {
    return database_error("database: ", e);
  }
}

Result<RecordingJournal::Opened> RecordingCatalog::begin(const std::string& dir, bool encrypted, const AuditEvent& tmpl,
                                                         int channel, RecordingFormat format) {
  return begin_recording(db_, audit_, clock_, dir, encrypted, tmpl, channel, format);
}

Status RecordingCatalog::end(const AuditEvent& tmpl, int channel, const std::string& path, const CastSummary& s,
                             const IndexDigest* index) {
  return end_recording(db_, audit_, clock_, tmpl, channel, path, s, index);
}

Result<std::vector<RecordingInfo>> RecordingCatalog::of(const std::string& session_id) {
  return recordings_of(db_, session_id);
}

Result<std::vector<CommandHit>> RecordingCatalog::commands_containing(const std::string& session_id,
                                                                      const std::string& text, int limit) {
  try {
    // One session's commands are few (kMaxSearchableCommands a channel at
    // most): read through its index, not the trigram index.
    Statement q(db_, std::string("SELECT channel, offset_us, command FROM recording_commands WHERE session_id = ? AND "
                                 "command ") +
                         (db_.postgres() ? "ILIKE" : "LIKE") + " ? ESCAPE '\\' ORDER BY channel, offset_us LIMIT ?");
    q.bind(1, session_id);
    q.bind(2, contains_pattern(text));
    q.bind(3, limit);
    std::vector<CommandHit> out;
    while (q.step()) out.push_back({q.column(0).int32(), q.column(1).int64(), q.column(2).text()});
    return out;
  } catch (const DatabaseError& e) {
    return database_error("database: ", e);
  }
}

}  // namespace bastion::recorder
