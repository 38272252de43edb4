#include "recorder/channel_recording.h"

#include <ctime>

#include "common/database.h"
#include "recorder/stream_writer.h"

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
    SQLite::Statement q(db.sql(), "INSERT INTO recordings(session_id, channel, path, started_at) VALUES (?,?,?,?)");
    q.bind(1, tmpl.session_id);
    q.bind(2, channel);
    q.bind(3, o.path);
    q.bind(4, static_cast<int64_t>(now));
    q.exec();
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

Status end_recording(Database& db, AuditLog& audit, const Clock& clock, const AuditEvent& tmpl, int channel,
                     const std::string& path, const CastSummary& s) {
  auto st = with_transaction(db, [&]() -> Status {
    SQLite::Statement q(
        db.sql(), "UPDATE recordings SET ended_at = ?, size = ?, sha256 = ? WHERE session_id = ? AND channel = ?");
    q.bind(1, static_cast<int64_t>(clock.now()));
    q.bind(2, s.size);
    q.bind(3, s.sha256);
    q.bind(4, tmpl.session_id);
    q.bind(5, channel);
    q.exec();
    return {};
  });
  AuditEvent e = tmpl;
  e.action = "recording.end";
  e.outcome = Outcome::kInfo;
  e.details = {{"channel", channel}, {"path", path}, {"size", s.size}, {"sha256", s.sha256}};
  // Absent in records of older versions, which always mean kDigestWholeFile.
  if (s.digest != kDigestWholeFile) e.details["digest"] = s.digest;
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
  StreamHeader sh{h.session_id, channel_, h.cast.command, h.cast.started_at};
  auto w =
      StreamWriter::open(std::move(opened.file), sh, settings_.flush_interval, settings_.compress, std::move(sealer));
  if (!w) return w.error();
  writer_ = std::move(*w);
  return {};
}

Status ChannelRecording::sticky(const Status& st) {
  if (!st && status_.is_ok()) status_ = st;
  return status_;
}

Status ChannelRecording::output(std::string_view bytes) {
  return sticky(writer_->write(clock_.now(), StreamId::kStdout, bytes));
}

Status ChannelRecording::error_output(std::string_view bytes) {
  return sticky(writer_->write(clock_.now(), StreamId::kStderr, bytes));
}

Status ChannelRecording::input(std::string_view bytes) {
  if (!settings_.record_input) return status_;
  return sticky(writer_->write(clock_.now(), StreamId::kStdin, bytes));
}

Status ChannelRecording::resize(int cols, int rows) { return sticky(writer_->resize(clock_.now(), cols, rows)); }

Status ChannelRecording::digest() {
  CastChunk c = writer_->take_chunk();
  if (c.length == 0) return status_;
  return sticky(journal_.chunk(channel_, c));
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
  summary_ = *s;
  (void)sticky(journal_.end(channel_, *s));
  return *s;
}

Result<std::vector<RecordingInfo>> recordings_of(Database& db, const std::string& session_id) {
  try {
    SQLite::Statement q(db.sql(),
                        "SELECT session_id, channel, path, started_at, ended_at, size, COALESCE(sha256,'') "
                        "FROM recordings WHERE session_id = ? ORDER BY channel");
    q.bind(1, session_id);
    std::vector<RecordingInfo> out;
    while (q.executeStep()) {
      RecordingInfo r;
      r.session_id = q.getColumn(0).getString();
      r.channel = q.getColumn(1).getInt();
      r.path = q.getColumn(2).getString();
      r.started_at = q.getColumn(3).getInt64();
      if (!q.getColumn(4).isNull()) r.ended_at = q.getColumn(4).getInt64();
      if (!q.getColumn(5).isNull()) r.size = q.getColumn(5).getInt64();
      r.sha256 = q.getColumn(6).getString();
      out.push_back(std::move(r));
    }
    return out;
  } catch (const SQLite::Exception& e) {
    return database_error("database: ", e);
  }
}

}  // namespace bastion::recorder
