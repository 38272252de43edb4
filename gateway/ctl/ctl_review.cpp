// bastionctl sessions show | replay | export | verify | search
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "gateway/ctl/ctl.h"
#include "recorder/audit_chain.h"
#include "recorder/cast_crypto.h"
#include "recorder/channel_recording.h"
#include "recorder/review.h"

namespace bastion::gateway {
namespace {

// The options of every `sessions` review command (one runs per invocation).
struct Args {
  std::string id, text, since, key;
  int channel = 1;
  double speed = 1.0, idle_limit = 0;
  bool json = false;
  recorder::SessionFilter f;
};

// The session and its recording for `channel`.
Result<recorder::RecordingInfo> find_recording(Services& s, const std::string& id, int channel) {
  auto sess = s.sessions().find(id);
  if (!sess) return sess.error();
  if (!*sess) return make_error("no such session: " + id);
  auto recs = recorder::recordings_of(s.db(), id);
  if (!recs) return recs.error();
  for (const auto& r : *recs) {
    if (r.channel == channel) return r;
  }
  return make_error("session " + id + " has no recording for channel " + std::to_string(channel) +
                    (recs->empty() ? " (nothing recorded: sftp, forwarding or refused)" : ""));
}

// `sessions show --json`: the session with its recordings, grant and audit records.
nlohmann::json session_details(Services& s, const recorder::SessionRecord& sess) {
  nlohmann::json j = session_json(sess);
  j["recordings"] = nlohmann::json::array();
  if (auto recs = recorder::recordings_of(s.db(), sess.id); recs) {
    for (const auto& r : *recs) {
      j["recordings"].push_back({{"channel", r.channel}, {"path", r.path}, {"size", r.size ? *r.size : -1},
                                 {"sha256", r.sha256}});
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
    std::cout << "  " << r["seq"] << " " << r["time"].get<std::string>() << " " << r["action"].get<std::string>()
              << " " << r["outcome"].get<std::string>() << " " << r["reason"].get<std::string>() << "\n";
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

Status replay(Services& s, const Args& a) {
  auto rec = find_recording(s, a.id, a.channel);
  if (!rec) return rec.error();
  auto cast = recorder::read_cast(rec->path, a.key);
  if (!cast) return cast.error();
  double prev = 0;
  for (const auto& e : cast->events) {
    if (e.kind != "o") continue;
    double wait = (e.t - prev) / a.speed;
    if (a.idle_limit > 0 && wait > a.idle_limit) wait = a.idle_limit;
    if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    prev = e.t;
    std::fwrite(e.data.data(), 1, e.data.size(), stdout);
    std::fflush(stdout);
  }
  if (cast->cut_off) std::fprintf(stderr, "\nbastionctl: the recording ends mid-event (the session ended abnormally)\n");
  return {};
}

Status export_cast(Services& s, const Args& a) {
  auto rec = find_recording(s, a.id, a.channel);
  if (!rec) return rec.error();
  bool cut_off = false;
  auto text = recorder::cast_text(rec->path, a.key, cut_off);
  if (!text) return text.error();
  std::fwrite(text->data(), 1, text->size(), stdout);
  return {};
}

// Checks the audit log itself with the gateway's audit public key.
Status verify_audit_chain(Services& s) {
  auto key_text = read_file(s.config().audit_signing_key + ".pub", 4096);
  if (!key_text) return key_text.error().prefixed("audit public key: ");
  auto key = recorder::parse_audit_public_key(*key_text);
  if (!key) return key.error();
  auto chain = recorder::verify_chain(s.db(), *key);
  if (!chain) return chain.error();
  if (!chain->ok) return make_error("the audit log itself fails verification: " + chain->problem);
  return {};
}

// `sessions verify`: one line per recorded channel; exit 1 if any failed.
Status verify(Services& s, const Args& a) {
  if (auto st = verify_audit_chain(s); !st) return st;
  auto recs = recorder::recordings_of(s.db(), a.id);
  if (!recs) return recs.error();
  if (recs->empty()) return make_error("session " + a.id + " has no recordings");
  Status result;
  for (const auto& r : *recs) {
    auto c = recorder::verify_recording(s.audit(), a.id, r.channel, r.path);
    if (!c) {
      std::fprintf(stderr, "channel %d: FAILED: %s\n", r.channel, c.error().message.c_str());
      result = ctl_explained();
    } else if (!c->ok) {
      std::fprintf(stderr, "channel %d: FAILED: %s\n", r.channel, c->problem.c_str());
      result = ctl_explained();
    } else {
      std::printf("channel %d: intact (%lld bytes, %s)%s%s\n", r.channel, static_cast<long long>(c->file_size),
                  c->complete ? "complete" : "incomplete", c->note.empty() ? "" : "; ", c->note.c_str());
    }
  }
  return result;
}

Status check_search(Args& a) {
  if (a.text.empty()) return make_error("sessions search: TEXT must not be empty");
  return ctl_parse_time(a.since, a.f.since);
}

// The hits for `text` in one session's recordings, appended to `out`.
void search_session(Services& s, const recorder::SessionRecord& sess, const Args& a, nlohmann::json& out) {
  auto recs = recorder::recordings_of(s.db(), sess.id);
  if (!recs) return;
  for (const auto& r : *recs) {
    auto cast = recorder::read_cast(r.path, a.key);
    if (!cast) {
      std::fprintf(stderr, "bastionctl: skipping %s: %s\n", r.path.c_str(), cast.error().message.c_str());
      continue;
    }
    for (const auto& hit : recorder::search_cast(*cast, a.text)) {
      out.push_back({{"session", sess.id}, {"user", sess.user}, {"target", sess.target}, {"channel", r.channel},
                     {"offset", hit.offset}, {"snippet", hit.snippet}});
    }
  }
}

// `sessions search`: exit 1 when nothing was found.
Status search(Services& s, const Args& a) {
  auto sessions = s.sessions().list(a.f);
  if (!sessions) return sessions.error();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& sess : *sessions) search_session(s, sess, a, out);
  if (a.json) {
    print_json(out);
    return {};
  }
  for (const auto& h : out) {
    std::printf("%s ch%d +%.1fs %s@%s: %s\n", h["session"].get<std::string>().c_str(), h["channel"].get<int>(),
                h["offset"].get<double>(), h["user"].get<std::string>().c_str(),
                h["target"].get<std::string>().c_str(), h["snippet"].get<std::string>().c_str());
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

  auto* rp = sessions->add_subcommand("replay", "play a recording in this terminal with its real timing");
  rp->add_option("ID", a->id)->required();
  rp->add_option("--channel", a->channel, "which recorded channel of the session")->capture_default_str();
  rp->add_option("--speed", a->speed, "playback speed factor")->check(CLI::PositiveNumber)->capture_default_str();
  rp->add_option("--idle-limit", a->idle_limit, "cap pauses at this many seconds (0: no cap)");
  rp->add_option("--key", a->key, "reviewer private key, for encrypted recordings");
  ctl_command(rp, g, a, replay);

  auto* ex = sessions->add_subcommand("export", "write a recording (asciicast v2) to stdout");
  ex->add_option("ID", a->id)->required();
  ex->add_option("--channel", a->channel, "which recorded channel of the session")->capture_default_str();
  ex->add_option("--key", a->key, "reviewer private key, for encrypted recordings (exports plaintext)");
  ctl_command(ex, g, a, export_cast);

  auto* vf = sessions->add_subcommand("verify", "check a session's recordings against the audit log");
  vf->add_option("ID", a->id)->required();
  ctl_command(vf, g, a, verify);

  auto* se = sessions->add_subcommand("search", "find output text across recordings");
  se->add_option("TEXT", a->text)->required();
  se->add_option("--user", a->f.user, "only this person's sessions");
  se->add_option("--target", a->f.target, "only sessions to this target");
  se->add_option("--since", a->since, "only sessions started at or after this UTC time");
  se->add_flag("--json", a->json, "machine-readable output");
  se->add_option("--key", a->key, "reviewer private key, for encrypted recordings");
  ctl_command(se, g, a, search, check_search);
}

}  // namespace bastion::gateway
