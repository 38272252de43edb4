// The console's Recordings pages: search, a recording's page (its
// verification against the audit log, its commands) and its file, which the
// monitor opens read-only and hands to the web process; the web process
// never sees the recordings folder. policy/console_access.h says who sees
// which: auditors every recording, approvers their customers'.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "gateway/app/console_detail.h"
#include "gateway/app/console_web.h"
#include "recorder/cast_crypto.h"
#include "recorder/channel_recording.h"
#include "recorder/command_index.h"
#include "recorder/review.h"
#include "recorder/stream_reader.h"

namespace bastion::gateway {

using console_detail::error;
using console_detail::kMaxName;
using console_detail::parse_day;
using console_detail::str;
using recorder::Outcome;

namespace {

// How many sessions a search lists (newest first), and how many commands a
// recording's page lists per channel.
constexpr int kSearchLimit = 200;
constexpr size_t kMaxCommands = 1000;
// How many of a session's commands a search by command shows.
constexpr int kHitsPerSession = 3;
// Larger recordings are verified with `bastionctl sessions verify`, not in
// the monitor while every session waits for it.
constexpr int64_t kMaxVerifiedHere = int64_t{32} << 20;

// What a recording file is: "terminal" (asciicast, plays in the browser),
// "encrypted" (a sealed asciicast: the reviewer's key opens it), "stream" (a
// byte-exact non-terminal channel: download, or bastionctl), or "elsewhere"
// (written by another node, not on this host), "missing" or "unreadable".
std::string kind_of(const recorder::RecordingInfo& r, const std::string& this_node, std::string& problem) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(r.path, ec))) {
    if (!r.node.empty() && r.node != this_node) {
      problem = "written by gateway node " + r.node + " and not on this host: open the console on " + r.node +
                ", or share [recording] dir between the nodes";
      return "elsewhere";
    }
    problem = "the file is missing: " + r.path;
    return "missing";
  }
  auto stream = recorder::stream_header_of_file(r.path);
  if (!stream) {
    problem = stream.error().message;
    return "unreadable";
  }
  if (*stream) return "stream";
  UniqueFd fd(::open(r.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  char head[512];
  ssize_t n = fd ? ::pread(fd.get(), head, sizeof head, 0) : -1;
  if (n < 0) {
    problem = "cannot read " + r.path;
    return "unreadable";
  }
  return recorder::is_encrypted_cast(std::string_view(head, static_cast<size_t>(n))) ? "encrypted" : "terminal";
}

nlohmann::json check_json(recorder::AuditLog& audit, const std::string& session, const recorder::RecordingInfo& r) {
  std::error_code ec;
  auto size = static_cast<int64_t>(std::filesystem::file_size(r.path, ec));
  if (ec) return {{"state", "unchecked"}, {"text", "not checked: the file cannot be read"}};
  if (size > kMaxVerifiedHere) {
    return {{"state", "unchecked"},
            {"text",
             "not checked here (" + std::to_string(size >> 20) + " MiB): run bastionctl sessions verify " + session}};
  }
  auto c = recorder::verify_recording(audit, session, r.channel, r.path);
  if (!c) return {{"state", "failed"}, {"text", "FAILED: " + c.error().message}};
  if (!c->ok) return {{"state", "failed"}, {"text", "FAILED: " + c->problem}};
  std::string text = "intact: " + std::to_string(c->file_size) + " bytes, " +
                     (c->complete ? "complete" : "incomplete (the session is live or ended abnormally)");
  if (!c->index_path.empty()) text += "; command index intact";
  if (!c->note.empty()) text += "; " + c->note;
  return {{"state", c->complete ? "intact" : "partial"}, {"text", text}};
}

// The commands of a terminal recording from its command index (none when
// there is no index, or it is encrypted: bastionctl sessions commands).
nlohmann::json commands_json(const recorder::RecordingInfo& r) {
  nlohmann::json out = nlohmann::json::array();
  std::string index_path = recorder::index_path_for(r.path);
  std::error_code ec;
  if (std::filesystem::file_size(index_path, ec) == 0 || ec) return out;
  auto index = recorder::read_command_index(index_path, "", size_t{16} << 20);
  if (!index) return out;
  for (const auto& e : index->entries) {
    if (out.size() >= kMaxCommands) break;
    out.push_back({{"offset", static_cast<double>(e.offset) / 1e6}, {"command", e.command}});
  }
  return out;
}

}  // namespace

// The session `id` with the customer of its target, if the person may see
// its recordings; otherwise the 404 answer in `refusal`.
std::optional<std::pair<recorder::SessionRecord, std::string>> ConsoleWeb::reviewable(const Signed& who,
                                                                                      const std::string& id,
                                                                                      WebReply& refusal) {
  auto v = console_detail::view_of(s_, who.person);
  if (!v) {
    refusal = error(500, v.error().message);
    return std::nullopt;
  }
  auto found =
      id.size() <= kMaxName ? s_.sessions().find(id) : Result<std::optional<recorder::SessionRecord>>(std::nullopt);
  if (!found) {
    refusal = error(500, "internal error: " + found.error().message);
    return std::nullopt;
  }
  std::string customer;
  if (*found) {
    auto t = s_.policy().find_target((*found)->target);
    if (t && *t) customer = (*t)->customer;
  }
  // SECURITY: one answer for "does not exist" and "not yours to see".
  if (!*found || !policy::may_view_recording(v->access, customer)) {
    refusal = error(404, "no recorded session " + id + " that you can see");
    return std::nullopt;
  }
  return std::make_pair(**found, customer);
}

WebReply ConsoleWeb::recordings_page(const Signed& who, const nlohmann::json& args) {
  auto v = console_detail::view_of(s_, who.person);
  if (!v) return error(500, v.error().message);
  nlohmann::json page = console_detail::page_of(who.person.name, who.cookie, *v);
  page["sessions"] = nlohmann::json::array();
  if (!policy::may_search_recordings(v->access)) {
    page["note"] = "Recordings are for auditors and for customers' approvers (theirs); you are neither.";
    return {200, page};
  }
  recorder::SessionFilter f;
  f.limit = kSearchLimit;
  f.user = str(args, "user").substr(0, kMaxName);
  f.target = str(args, "target").substr(0, kMaxName);
  f.command = str(args, "command").substr(0, kMaxName);
  // Shorter text has no trigram: every stored command would be read, which
  // on a large deployment takes longer than a page may.
  if (!f.command.empty() && !recorder::SessionLog::command_is_indexed(f.command)) {
    return error(400, "command: give at least 3 characters (bastionctl sessions search --command looks for shorter)");
  }
  const std::string customer = str(args, "customer").substr(0, kMaxName);
  auto since = parse_day(str(args, "since"), false);
  auto until = parse_day(str(args, "until"), true);
  if (!since) return error(400, since.error().message);
  if (!until) return error(400, until.error().message);
  f.since = *since;
  f.until = *until;
  auto targets = s_.policy().list_targets();
  if (!targets) return error(500, "internal error (targets unavailable)");
  std::map<std::string, std::string> customer_of;
  for (const auto& t : *targets) customer_of[t.name] = t.customer;
  // SECURITY: an approver's search is limited in the query to their
  // customers' targets (and to the one customer asked for), so a page of
  // results is never filled with rows they may not see.
  if (!v->access.auditor || !customer.empty()) {
    for (const auto& t : *targets) {
      bool asked = customer.empty() || t.customer == customer;
      if (asked && policy::may_view_recording(v->access, t.customer)) f.targets.push_back(t.name);
    }
    if (f.targets.empty()) return {200, page};
  }
  auto rows = s_.sessions().list(f);
  if (!rows) return error(500, "internal error: " + rows.error().message);
  for (const auto& r : *rows) {
    const std::string& c = customer_of[r.target];
    if (!policy::may_view_recording(v->access, c)) continue;
    nlohmann::json row = console_detail::session_json(r, c);
    if (!f.command.empty()) {
      // The commands found, each a link to its place in the recording.
      auto hits = s_.recordings().commands_containing(r.id, f.command, kHitsPerSession);
      if (!hits) return error(500, "internal error: " + hits.error().message);
      row["commands"] = nlohmann::json::array();
      for (const auto& h : *hits) {
        row["commands"].push_back(
            {{"channel", h.channel}, {"offset", static_cast<double>(h.offset) / 1e6}, {"command", h.command}});
      }
    }
    page["sessions"].push_back(std::move(row));
  }
  page["limited"] = rows->size() >= static_cast<size_t>(kSearchLimit);
  return {200, page};
}

WebReply ConsoleWeb::recording_page(const Signed& who, const nlohmann::json& args) {
  const std::string id = str(args, "id");
  WebReply refusal;
  auto found = reviewable(who, id, refusal);
  if (!found) return refusal;
  const auto& [session, customer] = *found;
  auto recs = s_.recordings().of(id);
  if (!recs) return error(500, "internal error: " + recs.error().message);
  nlohmann::json channels = nlohmann::json::array();
  for (const auto& r : *recs) {
    std::string problem;
    std::string kind = kind_of(r, s_.config().node_name, problem);
    nlohmann::json c = {{"channel", r.channel},
                        {"kind", kind},
                        {"size", r.size ? *r.size : -1},
                        {"started_at", format_utc(r.started_at)},
                        {"ended_at", r.ended_at ? format_utc(*r.ended_at) : ""}};
    if (!problem.empty()) c["problem"] = problem;
    if (kind == "terminal" || kind == "encrypted" || kind == "stream") c["check"] = check_json(s_.audit(), id, r);
    if (kind == "terminal") c["commands"] = commands_json(r);
    if (kind == "encrypted") {
      // Sealed: the page fetches and opens it with the reviewer's key.
      std::error_code ec;
      auto size = std::filesystem::file_size(recorder::index_path_for(r.path), ec);
      c["sealed_commands"] = !ec && size > 0;
    }
    channels.push_back(std::move(c));
  }
  auto v = console_detail::view_of(s_, who.person);
  nlohmann::json page = {{"user", who.person.name},
                         {"csrf", authn::console_csrf_token(who.cookie)},
                         {"session", console_detail::session_json(session, customer)},
                         {"recordings", channels}};
  if (v) page["roles"] = console_detail::roles_json(*v);
  return {200, page};
}

WebReply ConsoleWeb::recording_file(const Signed& who, const nlohmann::json& args) {
  const std::string id = str(args, "id");
  const std::string purpose = str(args, "purpose");
  if (purpose != "play" && purpose != "download" && purpose != "commands") {
    return error(400, "purpose: play, download or commands");
  }
  const nlohmann::json& ch = args.contains("channel") ? args["channel"] : nlohmann::json();
  if (!ch.is_number_integer() || ch.get<int64_t>() < 0 || ch.get<int64_t>() > 0xFFFF) {
    return error(400, "channel: a channel number");
  }
  const int channel = ch.get<int>();
  WebReply refusal;
  auto found = reviewable(who, id, refusal);
  if (!found) return refusal;
  auto recs = s_.recordings().of(id);
  if (!recs) return error(500, "internal error: " + recs.error().message);
  const recorder::RecordingInfo* rec = nullptr;
  for (const auto& r : *recs) {
    if (r.channel == channel) rec = &r;
  }
  if (rec == nullptr) return error(404, "session " + id + " has no recording of channel " + std::to_string(channel));
  std::string problem;
  std::string kind = kind_of(*rec, s_.config().node_name, problem);
  if (kind != "terminal" && kind != "encrypted" && kind != "stream") return error(409, problem);
  if (purpose == "play" && kind == "stream") {
    return error(409, "channel " + std::to_string(channel) +
                          " is not a terminal: download it, or bastionctl sessions "
                          "export " +
                          id + " --channel " + std::to_string(channel));
  }
  // The command index beside a terminal recording, sealed like it when it
  // is encrypted: the page opens it with the key it opened the recording with.
  const bool commands = purpose == "commands";
  if (commands && kind == "stream") {
    return error(409, "channel " + std::to_string(channel) + " is not a terminal: it has no commands");
  }
  const std::string path = commands ? recorder::index_path_for(rec->path) : rec->path;
  // SECURITY: opened here, read-only, not following a link; the web process
  // gets this descriptor and nothing else of the recordings folder.
  auto fd = std::make_shared<UniqueFd>(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (commands && (!*fd || ::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)) {
    return error(404, "channel " + std::to_string(channel) +
                          " has no command index (the session ended abnormally): bastionctl sessions commands " + id +
                          " --channel " + std::to_string(channel) +
                          " reads them from the recording itself (with --key REVIEWER.key if it is encrypted)");
  }
  if (!*fd || ::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return error(409, "cannot open the recording of channel " + std::to_string(channel));
  }
  audit(who.person.name, "console.recording", Outcome::kInfo,
        purpose == "play"       ? "replayed in the web console"
        : purpose == "commands" ? "its commands read in the web console"
                                : "downloaded from the web console",
        {{"session_id", id},
         {"channel", channel},
         {"purpose", purpose},
         {"kind", kind},
         {"bytes", static_cast<int64_t>(st.st_size)},
         {"console_session", who.session.short_id()}},
        who.source);
  const std::string ext = commands              ? ".cmdidx"
                          : kind == "stream"    ? ".stream"
                          : kind == "encrypted" ? ".cast.sealed"
                                                : ".cast";
  WebReply r{200,
             {{"kind", kind},
              {"size", static_cast<int64_t>(st.st_size)},
              {"name", id + "-ch" + std::to_string(channel) + ext}}};
  r.file = std::move(fd);
  return r;
}

// A live session's terminal, watched: the open recording of its newest live
// terminal channel, read-only, handed to the web process, which tails it to
// the browser; the session's process is told (Watch) to write it every
// 40 ms from now on, and its person that someone watches ([web]
// tell_watched). `check` only re-decides (the web process asks every few
// seconds while it streams): 200 {"live": true|false}, or the refusal.
WebReply ConsoleWeb::watch(const Signed& who, const nlohmann::json& args, bool check) {
  const std::string id = str(args, "id");
  WebReply refusal;
  // SECURITY: watching is replaying as it happens: who may replay a session's
  // recordings (auditors any, approvers their customers') may watch it.
  auto found = reviewable(who, id, refusal);
  if (!found) return refusal;
  const auto& [session, customer] = *found;
  if (!session.ended_at && !session.node.empty() && session.node != s_.config().node_name) {
    return error(
        409, "session " + id + " runs on gateway node " + session.node + ": watch it from the console of that node");
  }
  if (check) {
    // The watch page, and the stream's periodic re-decision.
    nlohmann::json page = {{"user", who.person.name},
                           {"live", !session.ended_at.has_value()},
                           {"told", hooks_.tell_watched},
                           {"session", console_detail::session_json(session, customer)}};
    if (auto v = console_detail::view_of(s_, who.person); v) page["roles"] = console_detail::roles_json(*v);
    return {200, page};
  }
  if (session.ended_at) {
    return error(409, "session " + id + " has ended: replay its recording at /console/recordings/" + id);
  }
  auto recs = s_.recordings().of(id);
  if (!recs) return error(500, "internal error: " + recs.error().message);
  const recorder::RecordingInfo* rec = nullptr;
  std::string kind, problem;
  for (const auto& r : *recs) {
    if (r.ended_at) continue;
    std::string p;
    std::string k = kind_of(r, s_.config().node_name, p);
    if (k == "stream") continue;  // not a terminal
    if (rec == nullptr || r.started_at >= rec->started_at) {
      rec = &r;
      kind = k;
      problem = p;
    }
  }
  if (rec == nullptr) {
    return error(409, "session " + id +
                          " has no live terminal to watch (its channels run commands or copy files; "
                          "their recordings are on its recording page once they end)");
  }
  if (kind == "encrypted") {
    return error(409, "session " + id +
                          " is recorded encrypted to the reviewers' key, which the gateway does not "
                          "hold: it cannot be watched live; replay it with your key once it ends");
  }
  if (kind != "terminal") return error(409, problem);
  // SECURITY: opened here, read-only, not following a link, as for a replay.
  auto fd = std::make_shared<UniqueFd>(::open(rec->path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!*fd || ::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return error(409, "cannot open the recording of session " + id);
  }
  const std::string notice = who.person.name + (customer.empty() ? "" : " (" + customer + ")") +
                             " is watching this session live in the bastion web console";
  if (!hooks_.watch_session || !hooks_.watch_session(id, hooks_.tell_watched ? notice : "")) {
    return error(409, "session " + id + " is not live on this gateway node any more");
  }
  audit(who.person.name, "console.watch", Outcome::kInfo,
        hooks_.tell_watched
            ? "watching live in the web console; " + session.user + " is told"
            : "watching live in the web console ([web] tell_watched = false: " + session.user + " is not told)",
        {{"session_id", id},
         {"channel", rec->channel},
         {"user", session.user},
         {"target", session.target},
         {"told", hooks_.tell_watched},
         {"console_session", who.session.short_id()}},
        who.source);
  WebReply r{200, {{"kind", kind}, {"channel", rec->channel}, {"user", session.user}, {"target", session.target}}};
  r.file = std::move(fd);
  return r;
}

}  // namespace bastion::gateway
