// bastionctl sessions show | replay | export | verify | search
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>

#include "common/encoding.h"
#include "common/files.h"
#include "common/strings.h"
#include "gateway/ctl/ctl.h"
#include "recorder/audit_chain.h"
#include "recorder/cast_crypto.h"
#include "recorder/channel_recording.h"
#include "recorder/review.h"
#include "recorder/stream_reader.h"

namespace bastion::gateway {
namespace {

// The session and its recording for `channel`, or an error printed.
std::optional<recorder::RecordingInfo> find_recording(CtlGlobals& g, Services& s, const std::string& id,
                                                      int channel) {
  auto sess = s.sessions().find(id);
  if (!sess || !*sess) {
    g.exit_code = ctl_fail(sess ? "no such session: " + id : sess.error().message);
    return std::nullopt;
  }
  auto recs = recorder::recordings_of(s.db(), id);
  if (!recs) {
    g.exit_code = ctl_fail(recs.error().message);
    return std::nullopt;
  }
  for (const auto& r : *recs) {
    if (r.channel == channel) return r;
  }
  g.exit_code = ctl_fail("session " + id + " has no recording for channel " + std::to_string(channel) +
                         (recs->empty() ? " (nothing recorded: sftp, forwarding or refused)" : ""));
  return std::nullopt;
}

void show(CtlGlobals& g, const std::string& id, bool json) {
  auto s = ctl_open(g);
  if (!s) return;
  auto sess = s->sessions().find(id);
  if (!sess || !*sess) {
    g.exit_code = ctl_fail(sess ? "no such session: " + id : sess.error().message);
    return;
  }
  nlohmann::json j = session_json(**sess);
  j["recordings"] = nlohmann::json::array();
  if (auto recs = recorder::recordings_of(s->db(), id); recs) {
    for (const auto& r : *recs) {
      j["recordings"].push_back({{"channel", r.channel}, {"path", r.path}, {"size", r.size ? *r.size : -1},
                                 {"sha256", r.sha256}});
    }
  }
  if (!(*sess)->grant_id.empty()) {
    if (auto e = s->policy().find_elevation((*sess)->grant_id); e && *e) {
      j["grant"] = elevation_json(**e, s->clock().now());
    }
  }
  recorder::AuditFilter f;
  f.session_id = id;
  j["audit"] = nlohmann::json::array();
  if (auto rows = s->audit().query(f); rows) {
    for (const auto& r : *rows) j["audit"].push_back(recorder::to_json(r));
  }
  if (json) return print_json(j);
  std::cout << "session:   " << id << "\n"
            << "person:    " << j["user"].get<std::string>() << "\n"
            << "target:    " << j["login"].get<std::string>() << "@" << j["target"].get<std::string>() << "\n"
            << "from:      " << j["source"].get<std::string>() << "\n"
            << "started:   " << j["started_at"].get<std::string>() << "\n"
            << "ended:     " << (j["ended_at"].is_null() ? "live" : j["ended_at"].get<std::string>())
            << (j["end_reason"].get<std::string>().empty() ? "" : " (" + j["end_reason"].get<std::string>() + ")")
            << "\n"
            << "bytes:     " << j["bytes_in"] << " in, " << j["bytes_out"] << " out\n";
  if (j.contains("grant")) {
    const auto& gr = j["grant"];
    std::string approvers = join(gr["approved_by"].get<std::vector<std::string>>(), ", ");
    std::cout << "grant:     " << gr["grant_id"].get<std::string>() << " (request " << gr["id"].get<std::string>()
              << (gr["break_glass"].get<bool>() ? ", BREAK-GLASS" : "") << ") approved by " << approvers << ", "
              << gr["starts_at"].get<std::string>() << " .. " << gr["ends_at"].get<std::string>() << ", "
              << gr["state"].get<std::string>() << "\n"
              << "reason:    " << gr["reason"].get<std::string>() << "\n";
  }
  for (const auto& r : j["recordings"]) {
    std::cout << "recording: channel " << r["channel"] << "  " << r["path"].get<std::string>() << "\n";
  }
  std::cout << "audit:\n";
  for (const auto& r : j["audit"]) {
    std::cout << "  " << r["seq"] << " " << r["time"].get<std::string>() << " " << r["action"].get<std::string>()
              << " " << r["outcome"].get<std::string>() << " " << r["reason"].get<std::string>() << "\n";
  }
}

// Whether the recording at PATH is a byte-exact stream (not a terminal), or an error printed.
std::optional<bool> is_stream(CtlGlobals& g, const std::string& path) {
  auto h = recorder::stream_header_of_file(path);
  if (!h) {
    g.exit_code = ctl_fail(h.error().message);
    return std::nullopt;
  }
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
              static_cast<long long>(sum.scan.blocks), sum.scan.cut_off ? ", cut off (the session ended abnormally)" : "",
              clean_text(command).c_str());
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
  std::printf("the bytes: bastionctl sessions export %s --channel %d --stream stdout|stderr|stdin > FILE\n",
              id.c_str(), channel);
}

void replay_stream(CtlGlobals& g, const std::string& path, const std::string& id, int channel,
                   const std::string& key) {
  auto bytes = read_file(path, size_t{8} << 30);
  if (!bytes) {
    g.exit_code = ctl_fail(bytes.error().message);
    return;
  }
  auto sum = recorder::summarize_stream(*bytes, key, path);
  if (!sum) {
    g.exit_code = ctl_fail(sum.error().message);
    return;
  }
  print_stream_summary(*sum, id, channel);
}

void replay(CtlGlobals& g, const std::string& id, int channel, double speed, double idle_limit,
            const std::string& key) {
  auto s = ctl_open(g);
  if (!s) return;
  auto rec = find_recording(g, *s, id, channel);
  if (!rec) return;
  auto stream = is_stream(g, rec->path);
  if (!stream) return;
  if (*stream) return replay_stream(g, rec->path, id, channel, key);
  auto cast = recorder::read_cast(rec->path, key);
  if (!cast) {
    g.exit_code = ctl_fail(cast.error().message);
    return;
  }
  double prev = 0;
  for (const auto& e : cast->events) {
    if (e.kind != "o") continue;
    double wait = (e.t - prev) / speed;
    if (idle_limit > 0 && wait > idle_limit) wait = idle_limit;
    if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    prev = e.t;
    std::fwrite(e.data.data(), 1, e.data.size(), stdout);
    std::fflush(stdout);
  }
  if (cast->cut_off) std::fprintf(stderr, "\nbastionctl: the recording ends mid-event (the session ended abnormally)\n");
}

// The raw bytes of one stream of a stream recording, to stdout.
void export_stream(CtlGlobals& g, const std::string& path, const std::string& key, const std::string& stream) {
  recorder::StreamId want = recorder::StreamId::kStdout;
  if (!stream.empty()) (void)recorder::parse_stream_name(stream, want);  // checked by the option
  auto bytes = read_file(path, size_t{8} << 30);
  if (!bytes) {
    g.exit_code = ctl_fail(bytes.error().message);
    return;
  }
  auto scan = recorder::scan_stream(*bytes, key, [&](const recorder::StreamRecord& r) -> Status {
    if (r.stream != want) return {};
    if (std::fwrite(r.bytes.data(), 1, r.bytes.size(), stdout) != r.bytes.size()) {
      return make_error(std::string("cannot write to stdout: ") + std::strerror(errno));
    }
    return {};
  }, path);
  if (std::fflush(stdout) != 0 && scan) scan = make_error(std::string("cannot write to stdout: ") + std::strerror(errno));
  if (!scan) {
    g.exit_code = ctl_fail(scan.error().message);
    return;
  }
  if (scan->cut_off) std::fprintf(stderr, "bastionctl: the recording ends mid-block (the session ended abnormally)\n");
}

void export_recording(CtlGlobals& g, const std::string& id, int channel, const std::string& key,
                      const std::string& stream_option) {
  auto s = ctl_open(g);
  if (!s) return;
  auto rec = find_recording(g, *s, id, channel);
  if (!rec) return;
  auto stream = is_stream(g, rec->path);
  if (!stream) return;
  if (*stream) return export_stream(g, rec->path, key, stream_option);
  if (!stream_option.empty()) {
    std::fprintf(stderr, "bastionctl: channel %d of %s is a terminal recording (asciicast): --stream is for "
                         "non-terminal channels; export it without --stream\n", channel, id.c_str());
    g.exit_code = kExitUsage;
    return;
  }
  bool cut_off = false;
  auto text = recorder::cast_text(rec->path, key, cut_off);
  if (!text) {
    g.exit_code = ctl_fail(text.error().message);
    return;
  }
  std::fwrite(text->data(), 1, text->size(), stdout);
}

int verify(Services& s, const std::string& id) {
  auto key_text = read_file(s.config().audit_signing_key + ".pub", 4096);
  if (!key_text) return ctl_fail("audit public key: " + key_text.error().message);
  auto key = recorder::parse_audit_public_key(*key_text);
  if (!key) return ctl_fail(key.error().message);
  auto chain = recorder::verify_chain(s.db(), *key);
  if (!chain) return ctl_fail(chain.error().message);
  if (!chain->ok) return ctl_fail("the audit log itself fails verification: " + chain->problem);
  auto recs = recorder::recordings_of(s.db(), id);
  if (!recs) return ctl_fail(recs.error().message);
  if (recs->empty()) return ctl_fail("session " + id + " has no recordings");
  int rc = kExitOk;
  for (const auto& r : *recs) {
    auto c = recorder::verify_recording(s.audit(), id, r.channel, r.path);
    if (!c) {
      std::fprintf(stderr, "channel %d: FAILED: %s\n", r.channel, c.error().message.c_str());
      rc = kExitFailed;
    } else if (!c->ok) {
      std::fprintf(stderr, "channel %d: FAILED: %s\n", r.channel, c->problem.c_str());
      rc = kExitFailed;
    } else {
      std::printf("channel %d: intact (%lld bytes, %s)%s%s\n", r.channel, static_cast<long long>(c->file_size),
                  c->complete ? "complete" : "incomplete", c->note.empty() ? "" : "; ", c->note.c_str());
    }
  }
  return rc;
}

void search(CtlGlobals& g, const std::string& text, const recorder::SessionFilter& f, bool json,
            const std::string& key) {
  auto s = ctl_open(g);
  if (!s) return;
  auto sessions = s->sessions().list(f);
  if (!sessions) {
    g.exit_code = ctl_fail(sessions.error().message);
    return;
  }
  nlohmann::json out = nlohmann::json::array();
  int streams = 0;
  for (const auto& sess : *sessions) {
    auto recs = recorder::recordings_of(s->db(), sess.id);
    if (!recs) continue;
    for (const auto& r : *recs) {
      auto header = recorder::stream_header_of_file(r.path);
      if (header && *header) {  // binary content is not searched: only its command line
        ++streams;
        auto command = recorder::stream_command(**header, key);
        if (!command) {
          std::fprintf(stderr, "bastionctl: skipping %s: %s\n", r.path.c_str(), command.error().message.c_str());
          continue;
        }
        if (command->find(text) == std::string::npos) continue;
        out.push_back({{"session", sess.id}, {"user", sess.user}, {"target", sess.target}, {"channel", r.channel},
                       {"offset", 0.0}, {"snippet", "command: " + clean_text(*command)}});
        continue;
      }
      auto cast = recorder::read_cast(r.path, key);
      if (!cast) {
        std::fprintf(stderr, "bastionctl: skipping %s: %s\n", r.path.c_str(), cast.error().message.c_str());
        continue;
      }
      for (const auto& hit : recorder::search_cast(*cast, text)) {
        out.push_back({{"session", sess.id}, {"user", sess.user}, {"target", sess.target}, {"channel", r.channel},
                       {"offset", hit.offset}, {"snippet", hit.snippet}});
      }
    }
  }
  if (streams > 0) {
    std::fprintf(stderr, "bastionctl: %d non-terminal (byte-exact stream) recording(s) searched by command line only\n",
                 streams);
  }
  if (json) return print_json(out);
  for (const auto& h : out) {
    std::printf("%s ch%d +%.1fs %s@%s: %s\n", h["session"].get<std::string>().c_str(), h["channel"].get<int>(),
                h["offset"].get<double>(), h["user"].get<std::string>().c_str(),
                h["target"].get<std::string>().c_str(), h["snippet"].get<std::string>().c_str());
  }
  if (out.empty()) g.exit_code = kExitFailed;
}

}  // namespace

void register_recording_commands(CLI::App& app, CtlGlobals& g) {
  auto* rec = app.add_subcommand("recording", "recording encryption keys");
  rec->require_subcommand(1);
  auto* kg = rec->add_subcommand("keygen", "make a reviewer key pair: PREFIX.key (keep offline) and PREFIX.pub");
  auto prefix = std::make_shared<std::string>();
  kg->add_option("--out", *prefix, "file prefix")->required();
  kg->callback([&g, prefix] {
    if (auto st = recorder::generate_reviewer_keys(*prefix); !st) {
      g.exit_code = ctl_fail(st.message());
      return;
    }
    std::cout << "wrote " << *prefix << ".key (mode 0600: keep it away from the gateway) and " << *prefix
              << ".pub\nset [recording] encrypt_to = \"" << *prefix << ".pub\" in bastion.toml\n";
  });
}

void register_review_commands(CLI::App* sessions, CtlGlobals& g) {
  struct Args {
    std::string id, text, since, key, stream;
    int channel = 1;
    double speed = 1.0, idle_limit = 0;
    bool json = false;
    recorder::SessionFilter f;
  };
  auto a = std::make_shared<Args>();
  auto* sh = sessions->add_subcommand("show", "a session's metadata, recordings and audit records");
  sh->add_option("ID", a->id)->required();
  sh->add_flag("--json", a->json, "machine-readable output");
  sh->callback([&g, a] { show(g, a->id, a->json); });

  auto* rp = sessions->add_subcommand("replay",
                                      "play a terminal recording with its real timing; for a non-terminal "
                                      "(byte-exact stream) recording, summarize each stream instead");
  rp->add_option("ID", a->id)->required();
  rp->add_option("--channel", a->channel, "which recorded channel of the session")->capture_default_str();
  rp->add_option("--speed", a->speed, "playback speed factor")->check(CLI::PositiveNumber)->capture_default_str();
  rp->add_option("--idle-limit", a->idle_limit, "cap pauses at this many seconds (0: no cap)");
  rp->add_option("--key", a->key, "reviewer private key, for encrypted recordings");
  rp->callback([&g, a] { replay(g, a->id, a->channel, a->speed, a->idle_limit, a->key); });

  auto* ex = sessions->add_subcommand("export",
                                      "write a recording to stdout: a terminal's as asciicast v2, a non-terminal "
                                      "channel's as the raw bytes of one stream");
  ex->add_option("ID", a->id)->required();
  ex->add_option("--channel", a->channel, "which recorded channel of the session")->capture_default_str();
  ex->add_option("--key", a->key, "reviewer private key, for encrypted recordings (exports plaintext)");
  ex->add_option("--stream", a->stream,
                 "non-terminal channels: which stream's bytes, exactly as they passed (default stdout)")
      ->check(CLI::IsMember({"stdout", "stderr", "stdin"}));
  ex->callback([&g, a] { export_recording(g, a->id, a->channel, a->key, a->stream); });

  auto* vf = sessions->add_subcommand("verify",
                                      "check a session's recordings against the audit log (every chunk digest, "
                                      "then the final digest); no key needed");
  vf->add_option("ID", a->id)->required();
  vf->callback([&g, a] {
    auto s = ctl_open(g);
    if (s) g.exit_code = verify(*s, a->id);
  });

  auto* se = sessions->add_subcommand("search",
                                      "find output text across terminal recordings (non-terminal stream "
                                      "recordings: their command line only)");
  se->add_option("TEXT", a->text)->required();
  se->add_option("--user", a->f.user, "only this person's sessions");
  se->add_option("--target", a->f.target, "only sessions to this target");
  se->add_option("--since", a->since, "only sessions started at or after this UTC time");
  se->add_flag("--json", a->json, "machine-readable output");
  se->add_option("--key", a->key, "reviewer private key, for encrypted recordings");
  se->callback([&g, a] {
    if (a->text.empty()) {
      std::fprintf(stderr, "bastionctl: sessions search: TEXT must not be empty\n");
      g.exit_code = 2;
      return;
    }
    if (!ctl_parse_time(g, a->since, a->f.since)) return;
    search(g, a->text, a->f, a->json, a->key);
  });
}

}  // namespace bastion::gateway
