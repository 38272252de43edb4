// bastionctl sessions show | replay | export | verify | search
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <regex>
#include <thread>

#include "common/encoding.h"
#include "common/files.h"
#include "common/strings.h"
#include "gateway/ctl/ctl.h"
#include "recorder/audit_chain.h"
#include "recorder/cast_crypto.h"
#include "recorder/channel_recording.h"
#include "recorder/command_index.h"
#include "recorder/review.h"
#include "recorder/sftp_content.h"
#include "recorder/stream_reader.h"

namespace bastion::gateway {
namespace {

// The options of every `sessions` review command (one runs per invocation).
struct Args {
  std::string id, text, since, key, stream, command, at;
  int channel = 1;
  int only_channel = 0;  // `sessions commands`, `sessions files`: 0 for every channel
  int transfer = 0;      // `export --transfer`: an SFTP channel's file transfer, 1-based
  double speed = 1.0, idle_limit = 0;
  Micros at_offset = 0;  // `replay --at`, parsed
  bool json = false;
  recorder::SessionFilter f;
};

// Several gateway nodes: a recording is on the host of the node that wrote
// it unless [recording] dir is shared. A missing file from another node is
// said as such (it is not lost, it is elsewhere).
Status on_this_host(Services& s, const recorder::RecordingInfo& r) {
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(r.path, ec)) || r.node.empty() ||
      r.node == s.config().node_name) {
    return {};
  }
  return make_error(ErrorCode::kNotFound, "recording " + r.path + " was written by gateway node " + r.node +
                                              " and is not on this host: run this on " + r.node +
                                              ", or share [recording] dir between the nodes (README: Several "
                                              "gateways on one database)");
}

// The session and its recording for `channel`.
Result<recorder::RecordingInfo> find_recording(Services& s, const std::string& id, int channel) {
  auto sess = s.sessions().find(id);
  if (!sess) return sess.error();
  if (!*sess) return make_error("no such session: " + id);
  auto recs = s.recordings().of(id);
  if (!recs) return recs.error();
  for (const auto& r : *recs) {
    if (r.channel != channel) continue;
    if (auto st = on_this_host(s, r); !st) return st.error();
    return r;
  }
  return make_error("session " + id + " has no recording for channel " + std::to_string(channel) +
                    (recs->empty() ? " (nothing recorded: sftp, forwarding or refused)" : ""));
}

// `sessions show --json`: the session with its recordings, grant and audit records.
nlohmann::json session_details(Services& s, const recorder::SessionRecord& sess) {
  nlohmann::json j = session_json(sess);
  j["recordings"] = nlohmann::json::array();
  if (auto recs = s.recordings().of(sess.id); recs) {
    for (const auto& r : *recs) {
      j["recordings"].push_back({{"channel", r.channel},
                                 {"path", r.path},
                                 {"size", r.size ? *r.size : -1},
                                 {"sha256", r.sha256},
                                 {"node", r.node}});
    }
  }
  if (!sess.grant_id.empty()) {
    if (auto e = s.policy().find_elevation(sess.grant_id); e && *e) {
      j["grant"] = elevation_json(**e, s.clock().now());
    }
  }
  recorder::AuditFilter f;
  f.session_id = sess.id;
  j["audit"] = nlohmann::json::array();
  if (auto rows = s.audit().query(f); rows) {
    for (const auto& r : *rows) j["audit"].push_back(recorder::to_json(r));
  }
  return j;
}

void print_grant(const nlohmann::json& gr) {
  std::string approvers = join(gr["approved_by"].get<std::vector<std::string>>(), ", ");
  std::cout << "grant:     " << gr["grant_id"].get<std::string>() << " (request " << gr["id"].get<std::string>()
            << (gr["break_glass"].get<bool>() ? ", BREAK-GLASS" : "") << ") approved by " << approvers << ", "
            << gr["starts_at"].get<std::string>() << " .. " << gr["ends_at"].get<std::string>() << ", "
            << gr["state"].get<std::string>() << "\n"
            << "reason:    " << gr["reason"].get<std::string>() << "\n";
}

void print_session(const std::string& id, const nlohmann::json& j) {
  std::cout << "session:   " << id << "\n"
            << "person:    " << j["user"].get<std::string>() << "\n"
            << "target:    " << j["login"].get<std::string>() << "@" << j["target"].get<std::string>() << "\n"
            << "from:      " << j["source"].get<std::string>() << "\n"
            << "started:   " << j["started_at"].get<std::string>() << "\n"
            << "ended:     " << (j["ended_at"].is_null() ? "live" : j["ended_at"].get<std::string>())
            << (j["end_reason"].get<std::string>().empty() ? "" : " (" + j["end_reason"].get<std::string>() + ")")
            << "\n"
            << "bytes:     " << j["bytes_in"] << " in, " << j["bytes_out"] << " out\n";
  if (j.contains("grant")) print_grant(j["grant"]);
  for (const auto& r : j["recordings"]) {
    std::cout << "recording: channel " << r["channel"] << "  " << r["path"].get<std::string>() << "\n";
  }
  std::cout << "audit:\n";
  for (const auto& r : j["audit"]) {
    std::cout << "  " << r["seq"] << " " << r["time"].get<std::string>() << " " << r["action"].get<std::string>() << " "
              << r["outcome"].get<std::string>() << " " << r["reason"].get<std::string>() << "\n";
  }
}

Status show(Services& s, const Args& a) {
  auto sess = s.sessions().find(a.id);
  if (!sess) return sess.error();
  if (!*sess) return make_error("no such session: " + a.id);
  nlohmann::json j = session_details(s, **sess);
  ctl_print(a.json, j, [&] { print_session(a.id, j); });
  return {};
}

// Whether the recording at PATH is a byte-exact stream (not a terminal).
Result<bool> is_stream(const std::string& path) {
  auto h = recorder::stream_header_of_file(path);
  if (!h) return h.error();
  return h->has_value();
}

// "7f454c46 ... |.ELF...|": hex and the printable bytes of `head`.
std::string hex_and_text(std::string_view head) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex, text;
  for (char ch : head) {
    auto c = static_cast<unsigned char>(ch);
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
    text += c >= 0x20 && c < 0x7f ? ch : '.';
  }
  return hex + " |" + text + "|";
}

void print_stream_summary(const recorder::StreamSummary& sum, const std::string& id, int channel) {
  std::string command = sum.scan.header.value("command", "");
  std::printf("channel %d: byte-exact stream recording (no terminal), %lld block(s)%s\ncommand: %s\n", channel,
              static_cast<long long>(sum.scan.blocks),
              sum.scan.cut_off ? ", cut off (the session ended abnormally)" : "", clean_text(command).c_str());
  for (auto sid : {recorder::StreamId::kStdout, recorder::StreamId::kStderr, recorder::StreamId::kStdin}) {
    const auto& st = sum.streams[static_cast<size_t>(sid)];
    std::string name(recorder::stream_name(sid));
    if (st.records == 0) {
      std::printf("%s: nothing\n", name.c_str());
      continue;
    }
    std::printf("%s: %lld bytes in %lld frame(s), +%.6fs .. +%.6fs\n  first %zu bytes: %s\n", name.c_str(),
                static_cast<long long>(st.bytes), static_cast<long long>(st.records),
                static_cast<double>(st.first_at) / 1e6, static_cast<double>(st.last_at) / 1e6, st.head.size(),
                hex_and_text(st.head).c_str());
  }
  std::printf("the bytes: bastionctl sessions export %s --channel %d --stream stdout|stderr|stdin > FILE\n", id.c_str(),
              channel);
}

Status replay_stream(const std::string& path, const Args& a) {
  auto bytes = read_file(path, size_t{8} << 30);
  if (!bytes) return bytes.error();
  auto sum = recorder::summarize_stream(*bytes, a.key, path);
  if (!sum) return sum.error();
  print_stream_summary(*sum, a.id, a.channel);
  return {};
}

Status replay(Services& s, const Args& a) {
  auto rec = find_recording(s, a.id, a.channel);
  if (!rec) return rec.error();
  auto stream = is_stream(rec->path);
  if (!stream) return stream.error();
  if (*stream) {
    if (!a.at.empty()) {
      return make_error(ErrorCode::kInvalid, "--at is for terminal recordings; channel " + std::to_string(a.channel) +
                                                 " of " + a.id + " is a byte-exact stream (summarized, not played)");
    }
    return replay_stream(rec->path, a);
  }
  auto cast = recorder::read_cast(rec->path, a.key);
  if (!cast) return cast.error();
  // --at: what came before OFFSET is written at once (the terminal then
  // shows the screen as it was), the rest with its timing.
  const double at = static_cast<double>(a.at_offset) / 1e6;
  double prev = at;
  for (const auto& e : cast->events) {
    if (e.kind != "o") continue;
    if (e.t < at) {
      std::fwrite(e.data.data(), 1, e.data.size(), stdout);
      continue;
    }
    double wait = (e.t - prev) / a.speed;
    if (a.idle_limit > 0 && wait > a.idle_limit) wait = a.idle_limit;
    if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    prev = e.t;
    std::fwrite(e.data.data(), 1, e.data.size(), stdout);
    std::fflush(stdout);
  }
  if (cast->cut_off)
    std::fprintf(stderr, "\nbastionctl: the recording ends mid-event (the session ended abnormally)\n");
  return {};
}

// The raw bytes of one stream of a stream recording, to stdout.
Status export_stream(const std::string& path, const Args& a) {
  recorder::StreamId want = recorder::StreamId::kStdout;
  if (!a.stream.empty()) (void)recorder::parse_stream_name(a.stream, want);  // checked by the option
  auto bytes = read_file(path, size_t{8} << 30);
  if (!bytes) return bytes.error();
  auto write_out = [&](const recorder::StreamRecord& r) -> Status {
    if (r.stream != want) return {};
    if (std::fwrite(r.bytes.data(), 1, r.bytes.size(), stdout) != r.bytes.size()) {
      return make_error(std::string("cannot write to stdout: ") + std::strerror(errno));
    }
    return {};
  };
  auto scan = recorder::scan_stream(*bytes, a.key, write_out, path);
  if (std::fflush(stdout) != 0 && scan)
    scan = make_error(std::string("cannot write to stdout: ") + std::strerror(errno));
  if (!scan) return scan.error();
  if (scan->cut_off) std::fprintf(stderr, "bastionctl: the recording ends mid-block (the session ended abnormally)\n");
  return {};
}

// Replays the SFTP conversation recorded at PATH through `replay`.
Status replay_sftp(const std::string& path, const std::string& key, recorder::SftpReplay& replay) {
  auto bytes = read_file(path, size_t{8} << 30);
  if (!bytes) return bytes.error();
  auto feed = [&](const recorder::StreamRecord& r) -> Status {
    if (r.stream == recorder::StreamId::kStdin) return replay.client(r.bytes);
    if (r.stream == recorder::StreamId::kStdout) return replay.server(r.bytes);
    return {};
  };
  auto scan = recorder::scan_stream(*bytes, key, feed, path);
  if (!scan) return scan.error();
  if (scan->cut_off) std::fprintf(stderr, "bastionctl: the recording ends mid-block (the session ended abnormally)\n");
  return replay.finish();
}

// Whether the recording at PATH is an SFTP channel's (recorded with sftp_content).
Result<bool> is_sftp(const std::string& path) {
  auto h = recorder::stream_header_of_file(path);
  if (!h) return h.error();
  return h->has_value() && (**h).value("subsystem", "") == "sftp";
}

// `export --transfer K`: one file of an SFTP channel, as it passed.
Status export_transfer(const recorder::RecordingInfo& rec, const Args& a) {
  auto sftp = is_sftp(rec.path);
  if (!sftp) return sftp.error();
  if (!*sftp) {
    return make_error(ErrorCode::kInvalid,
                      "--transfer is for SFTP channels recorded with [recording] sftp_content = "
                      "true; channel " +
                          std::to_string(a.channel) + " of " + a.id + " is not one (see `sessions files`)");
  }
  recorder::SftpReplay replay(a.transfer, [](std::string_view b) -> Status {
    if (std::fwrite(b.data(), 1, b.size(), stdout) != b.size()) {
      return make_error(std::string("cannot write to stdout: ") + std::strerror(errno));
    }
    return {};
  });
  auto st = replay_sftp(rec.path, a.key, replay);
  if (std::fflush(stdout) != 0 && st) st = make_error(std::string("cannot write to stdout: ") + std::strerror(errno));
  return st;
}

Status export_recording(Services& s, const Args& a) {
  auto rec = find_recording(s, a.id, a.channel);
  if (!rec) return rec.error();
  if (a.transfer > 0) return export_transfer(*rec, a);
  auto stream = is_stream(rec->path);
  if (!stream) return stream.error();
  if (*stream) return export_stream(rec->path, a);
  if (!a.stream.empty()) {
    return make_error(ErrorCode::kInvalid, "channel " + std::to_string(a.channel) + " of " + a.id +
                                               " is a terminal recording (asciicast): --stream is for non-terminal "
                                               "channels; export it without --stream");
  }
  bool cut_off = false;
  auto text = recorder::cast_text(rec->path, a.key, cut_off);
  if (!text) return text.error();
  std::fwrite(text->data(), 1, text->size(), stdout);
  return {};
}

// `replay --at OFFSET`: seconds ("90", "90.5") or [H:]MM:SS[.fff].
Status parse_offset(const std::string& text, Micros& out) {
  auto bad = [&] {
    return make_error(
        ErrorCode::kInvalid,
        "--at: \"" + text + "\" is not an offset (seconds such as 90 or 90.5, or [H:]MM:SS such as 1:30)");
  };
  std::string_view rest = text;
  if (!rest.empty() && rest.front() == '+') rest.remove_prefix(1);
  double total = 0;
  int fields = 0;
  while (!rest.empty() || fields == 0) {
    size_t colon = rest.find(':');
    std::string part(rest.substr(0, colon));
    if (part.empty() || part.find_first_not_of("0123456789.") != std::string::npos || part.size() > 12) return bad();
    char* end = nullptr;
    double v = std::strtod(part.c_str(), &end);
    if (end != part.c_str() + part.size() || (colon != std::string_view::npos && part.find('.') != std::string::npos)) {
      return bad();
    }
    if (fields > 0 && v >= 60) return bad();
    total = total * 60 + v;
    if (++fields > 3) return bad();
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
    if (rest.empty()) return bad();
  }
  out = static_cast<Micros>(total * 1e6);
  return {};
}

Status check_replay(Args& a) {
  if (a.at.empty()) return {};
  return parse_offset(a.at, a.at_offset);
}

// One command a person ran, as `sessions commands` and `search --command` show it.
struct Ran {
  int channel = 0;
  Micros offset = 0;
  std::string command;
  std::string source;  // "index", "recording" (index rebuilt), "exec" (a non-terminal channel's command line)
};

// The commands of one recorded channel: a terminal's command index (or, when
// its index file is missing or empty, the index rebuilt from the recording),
// a non-terminal channel's exec command line. `note` says what was special.
Result<std::vector<Ran>> channel_commands(const recorder::RecordingInfo& r, const std::string& key, std::string& note) {
  std::vector<Ran> out;
  auto header = recorder::stream_header_of_file(r.path);
  if (!header) return header.error();
  if (*header) {
    auto command = recorder::stream_command(**header, key);
    if (!command) return command.error();
    if (!command->empty()) out.push_back({r.channel, 0, *command, "exec"});
    return out;
  }
  std::string index_path = recorder::index_path_for(r.path);
  std::error_code ec;
  std::optional<recorder::CommandIndex> index;
  if (std::filesystem::file_size(index_path, ec) > 0 && !ec) {
    auto read = recorder::read_command_index(index_path, key);
    if (!read) return read.error();
    index = std::move(*read);
  } else {
    auto cast = recorder::read_cast(r.path, key);
    if (!cast) return cast.error();
    // Older versions recorded exec channels as asciicast too: the command is in the header.
    const auto& h = cast->header;
    if (h.is_object() && h.contains("command") && h["command"].is_string() &&
        !h["command"].get<std::string>().empty()) {
      out.push_back({r.channel, 0, h["command"].get<std::string>(), "exec"});
    }
    index = recorder::index_from_cast(*cast, std::filesystem::path(r.path).filename());
    note = "channel " + std::to_string(r.channel) +
           ": no command index was written (the session ended abnormally, or was recorded by an older version): "
           "rebuilt from the recording (keystrokes are needed: with record_input = false nothing is found)";
  }
  if (index->header.truncated) {
    note = "channel " + std::to_string(r.channel) + ": the command index is truncated (later commands are not in it)";
  }
  for (auto& e : index->entries) {
    out.push_back({r.channel, e.offset, std::move(e.command), note.empty() ? "index" : "recording"});
  }
  return out;
}

// "+1:02:03.4", the offset of a command in its recording.
std::string offset_text(Micros offset) {
  int64_t tenths = offset / 100'000;
  char buf[48];
  std::snprintf(buf, sizeof buf, "+%lld:%02lld:%02lld.%lld", static_cast<long long>(tenths / 36000),
                static_cast<long long>(tenths / 600 % 60), static_cast<long long>(tenths / 10 % 60),
                static_cast<long long>(tenths % 10));
  return buf;
}

// A command for a terminal: control characters made harmless, and a
// multi-line command's further lines indented under the first.
std::string command_text(const std::string& command, size_t indent) {
  std::string out;
  size_t from = 0;
  for (;;) {
    size_t nl = command.find('\n', from);
    out += clean_text(std::string_view(command).substr(from, nl == std::string::npos ? nl : nl - from));
    if (nl == std::string::npos) return out;
    out += "\n" + std::string(indent, ' ');
    from = nl + 1;
  }
}

nlohmann::json ran_json(const Ran& r) {
  return {{"channel", r.channel},
          {"offset", static_cast<double>(r.offset) / 1e6},
          {"command", r.command},
          {"source", r.source}};
}

// `sessions commands`: what the person ran, in each recorded channel.
Status commands(Services& s, const Args& a) {
  auto sess = s.sessions().find(a.id);
  if (!sess) return sess.error();
  if (!*sess) return make_error(ErrorCode::kNotFound, "no such session: " + a.id);
  auto recs = s.recordings().of(a.id);
  if (!recs) return recs.error();
  std::vector<Ran> all;
  bool any = false;
  for (const auto& r : *recs) {
    if (a.only_channel != 0 && r.channel != a.only_channel) continue;
    any = true;
    if (auto st = on_this_host(s, r); !st) return st.error().prefixed("channel " + std::to_string(r.channel) + ": ");
    std::string note;
    auto ran = channel_commands(r, a.key, note);
    if (!ran) return ran.error().prefixed("channel " + std::to_string(r.channel) + ": ");
    if (!note.empty()) std::fprintf(stderr, "bastionctl: %s\n", note.c_str());
    all.insert(all.end(), ran->begin(), ran->end());
  }
  if (!any) {
    return make_error(ErrorCode::kNotFound,
                      "session " + a.id + " has no recording" +
                          (a.only_channel != 0 ? " for channel " + std::to_string(a.only_channel)
                                               : " (nothing recorded: sftp, forwarding or refused)"));
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : all) out.push_back(ran_json(r));
  ctl_print(a.json, out, [&] {
    for (const auto& r : all) {
      std::string at = offset_text(r.offset);
      std::printf("%-12s ch%-2d %s%s\n", at.c_str(), r.channel, r.source == "exec" ? "(exec) " : "",
                  command_text(r.command, 18).c_str());
    }
    if (all.empty()) std::printf("no commands recorded\n");
  });
  return {};
}

// `sessions files`: the file transfers of a session's SFTP channels recorded
// with sftp_content (without it, `sessions show` has their file.* records).
Status files(Services& s, const Args& a) {
  auto recs = s.recordings().of(a.id);
  if (!recs) return recs.error();
  nlohmann::json out = nlohmann::json::array();
  int sftp_channels = 0;
  for (const auto& r : *recs) {
    if (a.only_channel != 0 && r.channel != a.only_channel) continue;
    if (auto st = on_this_host(s, r); !st) return st.error().prefixed("channel " + std::to_string(r.channel) + ": ");
    auto sftp = is_sftp(r.path);
    if (!sftp) return sftp.error();
    if (!*sftp) continue;
    ++sftp_channels;
    recorder::SftpReplay replay;
    if (auto st = replay_sftp(r.path, a.key, replay); !st)
      return st.error().prefixed("channel " + std::to_string(r.channel) + ": ");
    for (const auto& t : replay.transfers()) {
      out.push_back({{"channel", r.channel},
                     {"transfer", t.number},
                     {"path", t.path},
                     {"uploaded", t.uploaded},
                     {"downloaded", t.downloaded},
                     {"closed", t.closed}});
    }
  }
  if (sftp_channels == 0) {
    return make_error(ErrorCode::kNotFound,
                      "session " + a.id +
                          " has no SFTP channel recorded with its content ([recording] sftp_content = "
                          "true); its file.* audit records are in `sessions show`");
  }
  ctl_print(a.json, out, [&] {
    for (const auto& t : out) {
      std::printf("ch%d transfer %d: %s  %llu bytes uploaded, %llu downloaded%s\n", t["channel"].get<int>(),
                  t["transfer"].get<int>(), clean_text(t["path"].get<std::string>()).c_str(),
                  static_cast<unsigned long long>(t["uploaded"].get<uint64_t>()),
                  static_cast<unsigned long long>(t["downloaded"].get<uint64_t>()),
                  t["closed"].get<bool>() ? "" : " (never closed)");
    }
    std::printf("a file's bytes: bastionctl sessions export %s --channel N --transfer K > FILE\n", a.id.c_str());
  });
  return {};
}

// Checks the audit log itself with the gateway's audit public key.
Status verify_audit_chain(Services& s) {
  auto key_text = read_file(s.config().audit_signing_key + ".pub", 4096);
  if (!key_text) return key_text.error().prefixed("audit public key: ");
  auto key = recorder::parse_audit_public_key(*key_text);
  if (!key) return key.error();
  auto chain = s.chain().verify(*key);
  if (!chain) return chain.error();
  if (!chain->ok) return make_error("the audit log itself fails verification: " + chain->problem);
  return {};
}

// `sessions verify`: one line per recorded channel; exit 1 if any failed.
Status verify(Services& s, const Args& a) {
  if (auto st = verify_audit_chain(s); !st) return st;
  auto recs = s.recordings().of(a.id);
  if (!recs) return recs.error();
  if (recs->empty()) return make_error("session " + a.id + " has no recordings");
  Status result;
  for (const auto& r : *recs) {
    if (auto st = on_this_host(s, r); !st) {
      std::fprintf(stderr, "channel %d: not checked: %s\n", r.channel, st.message().c_str());
      result = ctl_explained();
      continue;
    }
    auto c = recorder::verify_recording(s.audit(), a.id, r.channel, r.path);
    if (!c) {
      std::fprintf(stderr, "channel %d: FAILED: %s\n", r.channel, c.error().message.c_str());
      result = ctl_explained();
    } else if (!c->ok) {
      std::fprintf(stderr, "channel %d: FAILED: %s\n", r.channel, c->problem.c_str());
      result = ctl_explained();
    } else {
      std::printf("channel %d: intact (%lld bytes, %s)%s%s%s\n", r.channel, static_cast<long long>(c->file_size),
                  c->complete ? "complete" : "incomplete", c->index_path.empty() ? "" : "; command index intact",
                  c->note.empty() ? "" : "; ", c->note.c_str());
    }
  }
  return result;
}

Status check_search(Args& a) {
  if (a.text.empty() == a.command.empty()) {
    return make_error(ErrorCode::kInvalid, "sessions search: give TEXT (output) or --command REGEX, one of them");
  }
  if (!a.command.empty()) {
    try {
      std::regex re(a.command, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return make_error(ErrorCode::kInvalid,
                        "--command: not a regular expression: " + a.command + " (" + e.what() + ")");
    }
  }
  return ctl_parse_time(a.since, a.f.since);
}

// `search --command`: the commands of one session that match, appended to `out`.
void search_commands(Services& s, const recorder::SessionRecord& sess, const std::regex& re, const Args& a,
                     nlohmann::json& out) {
  auto recs = s.recordings().of(sess.id);
  if (!recs) return;
  for (const auto& r : *recs) {
    if (auto st = on_this_host(s, r); !st) {
      std::fprintf(stderr, "bastionctl: skipping %s\n", st.message().c_str());
      continue;
    }
    std::string note;
    auto ran = channel_commands(r, a.key, note);
    if (!ran) {
      std::fprintf(stderr, "bastionctl: skipping %s: %s\n", r.path.c_str(), ran.error().message.c_str());
      continue;
    }
    for (const auto& c : *ran) {
      if (!std::regex_search(c.command, re)) continue;
      nlohmann::json j = ran_json(c);
      j["session"] = sess.id;
      j["user"] = sess.user;
      j["target"] = sess.target;
      out.push_back(std::move(j));
    }
  }
}

Status search_for_commands(Services& s, const Args& a, const std::vector<recorder::SessionRecord>& sessions) {
  std::regex re(a.command, std::regex::ECMAScript);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& sess : sessions) search_commands(s, sess, re, a, out);
  ctl_print(a.json, out, [&] {
    for (const auto& h : out) {
      std::printf("%s ch%d %s %s@%s: %s\n", h["session"].get<std::string>().c_str(), h["channel"].get<int>(),
                  offset_text(std::llround(h["offset"].get<double>() * 1e6)).c_str(),
                  h["user"].get<std::string>().c_str(), h["target"].get<std::string>().c_str(),
                  command_text(h["command"].get<std::string>(), 4).c_str());
    }
  });
  return out.empty() ? ctl_explained() : Status{};
}

// The hits for `text` in one session's recordings, appended to `out`.
// Returns how many of its recordings were byte-exact streams (searched by command line only).
int search_session(Services& s, const recorder::SessionRecord& sess, const Args& a, nlohmann::json& out) {
  auto recs = s.recordings().of(sess.id);
  if (!recs) return 0;
  int streams = 0;
  for (const auto& r : *recs) {
    if (auto st = on_this_host(s, r); !st) {
      std::fprintf(stderr, "bastionctl: skipping %s\n", st.message().c_str());
      continue;
    }
    auto header = recorder::stream_header_of_file(r.path);
    if (header && *header) {  // binary content is not searched: only its command line
      ++streams;
      auto command = recorder::stream_command(**header, a.key);
      if (!command) {
        std::fprintf(stderr, "bastionctl: skipping %s: %s\n", r.path.c_str(), command.error().message.c_str());
        continue;
      }
      if (command->find(a.text) == std::string::npos) continue;
      out.push_back({{"session", sess.id},
                     {"user", sess.user},
                     {"target", sess.target},
                     {"channel", r.channel},
                     {"offset", 0.0},
                     {"snippet", "command: " + clean_text(*command)}});
      continue;
    }
    auto cast = recorder::read_cast(r.path, a.key);
    if (!cast) {
      std::fprintf(stderr, "bastionctl: skipping %s: %s\n", r.path.c_str(), cast.error().message.c_str());
      continue;
    }
    for (const auto& hit : recorder::search_cast(*cast, a.text)) {
      out.push_back({{"session", sess.id},
                     {"user", sess.user},
                     {"target", sess.target},
                     {"channel", r.channel},
                     {"offset", hit.offset},
                     {"snippet", hit.snippet}});
    }
  }
  return streams;
}

// `sessions search`: exit 1 when nothing was found.
Status search(Services& s, const Args& a) {
  auto sessions = s.sessions().list(a.f);
  if (!sessions) return sessions.error();
  if (!a.command.empty()) return search_for_commands(s, a, *sessions);
  nlohmann::json out = nlohmann::json::array();
  int streams = 0;
  for (const auto& sess : *sessions) streams += search_session(s, sess, a, out);
  if (streams > 0) {
    std::fprintf(stderr, "bastionctl: %d non-terminal (byte-exact stream) recording(s) searched by command line only\n",
                 streams);
  }
  if (a.json) {
    print_json(out);
    return {};
  }
  for (const auto& h : out) {
    // The offset as `sessions commands` prints it and `replay --at` takes it.
    std::printf("%s ch%d %s %s@%s: %s\n", h["session"].get<std::string>().c_str(), h["channel"].get<int>(),
                offset_text(std::llround(h["offset"].get<double>() * 1e6)).c_str(),
                h["user"].get<std::string>().c_str(), h["target"].get<std::string>().c_str(),
                h["snippet"].get<std::string>().c_str());
  }
  return out.empty() ? ctl_explained() : Status{};
}

struct KeygenArgs {
  std::string prefix;
};

// `recording keygen`: opens no store.
Status keygen(const CtlTools&, const KeygenArgs& a) {
  if (auto st = recorder::generate_reviewer_keys(a.prefix); !st) return st;
  std::cout << "wrote " << a.prefix << ".key (mode 0600: keep it away from the gateway) and " << a.prefix
            << ".pub\nset [recording] encrypt_to = \"" << a.prefix << ".pub\" in bastion.toml\n";
  return {};
}

}  // namespace

void register_recording_commands(CLI::App& app, CtlGlobals& g) {
  auto* rec = app.add_subcommand("recording", "recording encryption keys");
  rec->require_subcommand(1);
  auto* kg = rec->add_subcommand("keygen", "make a reviewer key pair: PREFIX.key (keep offline) and PREFIX.pub");
  auto a = std::make_shared<KeygenArgs>();
  kg->add_option("--out", a->prefix, "file prefix")->required();
  ctl_offline_command(kg, g, a, keygen);
}

void register_review_commands(CLI::App* sessions, CtlGlobals& g) {
  auto a = std::make_shared<Args>();
  auto* sh = sessions->add_subcommand("show", "a session's metadata, recordings and audit records");
  sh->add_option("ID", a->id)->required();
  sh->add_flag("--json", a->json, "machine-readable output");
  ctl_command(sh, g, a, show);

  auto* rp = sessions->add_subcommand("replay",
                                      "play a terminal recording with its real timing; for a non-terminal "
                                      "(byte-exact stream) recording, summarize each stream instead");
  rp->add_option("ID", a->id)->required();
  rp->add_option("--channel", a->channel, "which recorded channel of the session")->capture_default_str();
  rp->add_option("--speed", a->speed, "playback speed factor")->check(CLI::PositiveNumber)->capture_default_str();
  rp->add_option("--idle-limit", a->idle_limit, "cap pauses at this many seconds (0: no cap)");
  rp->add_option("--key", a->key, "reviewer private key, for encrypted recordings");
  rp->add_option("--at", a->at,
                 "start at this offset (seconds, or [H:]MM:SS, as `sessions commands` shows it): what came "
                 "before is shown at once");
  ctl_command(rp, g, a, replay, check_replay);

  auto* cm = sessions->add_subcommand("commands",
                                      "the commands run in a session, with their offsets in the recording: a "
                                      "terminal's as its screen showed them (line editing, history and completion "
                                      "applied), a non-terminal channel's exec command line");
  cm->add_option("ID", a->id)->required();
  cm->add_option("--channel", a->only_channel, "only this recorded channel (default: all)");
  cm->add_option("--key", a->key, "reviewer private key, for encrypted recordings");
  cm->add_flag("--json", a->json, "machine-readable output");
  ctl_command(cm, g, a, commands);

  auto* ex = sessions->add_subcommand("export",
                                      "write a recording to stdout: a terminal's as asciicast v2, a non-terminal "
                                      "channel's as the raw bytes of one stream");
  ex->add_option("ID", a->id)->required();
  ex->add_option("--channel", a->channel, "which recorded channel of the session")->capture_default_str();
  ex->add_option("--key", a->key, "reviewer private key, for encrypted recordings (exports plaintext)");
  ex->add_option("--stream", a->stream,
                 "non-terminal channels: which stream's bytes, exactly as they passed (default stdout)")
      ->check(CLI::IsMember({"stdout", "stderr", "stdin"}));
  ex->add_option("--transfer", a->transfer,
                 "SFTP channels recorded with sftp_content: the bytes of this file transfer (see `sessions files`)")
      ->check(CLI::PositiveNumber);
  ctl_command(ex, g, a, export_recording);

  auto* fl = sessions->add_subcommand("files",
                                      "the file transfers of a session's SFTP channels recorded with their content "
                                      "([recording] sftp_content = true)");
  fl->add_option("ID", a->id)->required();
  fl->add_option("--channel", a->only_channel, "only this recorded channel (default: all)");
  fl->add_option("--key", a->key, "reviewer private key, for encrypted recordings");
  fl->add_flag("--json", a->json, "machine-readable output");
  ctl_command(fl, g, a, files);

  auto* vf = sessions->add_subcommand("verify",
                                      "check a session's recordings against the audit log (every chunk digest, "
                                      "then the final digest); no key needed");
  vf->add_option("ID", a->id)->required();
  ctl_command(vf, g, a, verify);

  auto* se = sessions->add_subcommand("search",
                                      "find output text across terminal recordings (non-terminal stream "
                                      "recordings: their command line only), or with --command the commands "
                                      "people ran");
  se->add_option("TEXT", a->text, "text the screen showed");
  se->add_option("--command", a->command,
                 "instead of TEXT: commands matching this regular expression (ECMAScript), from the command "
                 "indexes and exec command lines");
  se->add_option("--user", a->f.user, "only this person's sessions");
  se->add_option("--target", a->f.target, "only sessions to this target");
  se->add_option("--since", a->since, "only sessions started at or after this UTC time");
  se->add_flag("--json", a->json, "machine-readable output");
  se->add_option("--key", a->key, "reviewer private key, for encrypted recordings");
  ctl_command(se, g, a, search, check_search);
}

}  // namespace bastion::gateway
