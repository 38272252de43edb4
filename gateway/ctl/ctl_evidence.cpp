// `bastionctl evidence export`: the signed evidence pack of a period
// (evidence/pack_format.h), which an auditor checks with bastion-verify on
// their own machine.
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>
#include <set>

#include "common/encoding.h"
#include "common/files.h"
#include "evidence/pack_format.h"
#include "evidence/pack_writer.h"
#include "gateway/ctl/ctl.h"
#include "recorder/audit_chain.h"

namespace bastion::gateway {
namespace {

struct ExportArgs {
  std::string from, to, out;
  bool with_recordings = false;
  Micros from_us = 0, to_us = 0;
};

// "2026-11-01" (midnight UTC) or a full UTC time.
Result<Micros> parse_day_or_time(const std::string& text) {
  static const std::regex day(R"(\d{4}-\d{2}-\d{2})");
  if (std::regex_match(text, day)) return parse_utc(text + "T00:00:00Z");
  return parse_utc(text);
}

Status check_export(ExportArgs& a) {
  auto from = parse_day_or_time(a.from);
  if (!from) return from.error().prefixed("--from: ");
  auto to = parse_day_or_time(a.to);
  if (!to) return to.error().prefixed("--to: ");
  if (*to <= *from) return make_error("--to must be after --from");
  if (a.out.empty()) return make_error("--out: a file name is needed");
  // Refused before anything is signed or read: bad input changes nothing.
  std::error_code ec;
  if (std::filesystem::symlink_status(a.out, ec).type() != std::filesystem::file_type::not_found) {
    return make_error(a.out + " exists; an export never overwrites a file");
  }
  a.from_us = *from;
  a.to_us = *to;
  return {};
}

std::string readme_text(const ExportArgs& a, const std::string& fingerprint) {
  return "bastion evidence pack\n"
         "=====================\n\n"
         "Period: " +
         format_utc_seconds(a.from_us) + " .. " + format_utc_seconds(a.to_us) +
         "\n"
         "Audit key: " +
         fingerprint +
         "\n\n"
         "Check it on your own machine with the offline verifier (it needs OpenSSL only):\n\n"
         "    bastion-verify --expect-key audit_signing_key.pub THIS.tar\n\n"
         "where audit_signing_key.pub is the gateway's audit public key as you obtained it out of band\n"
         "(or pass its SHA256: fingerprint). It checks the signature over MANIFEST.json, every file's\n"
         "SHA-256, the audit hash chain and its signed checkpoints, that every consented grant has its\n"
         "request and consent before its first session, that no session ran outside its grant's window,\n"
         "the sessions' recording digests, and every leaver's revocation and its latency; exit status 0\n"
         "means no exception.\n\n"
         "audit/records.jsonl holds the records as stored (\"details\" is the JSON text the hash covers);\n"
         "each record's hash is the hex SHA-256 of its prev_hash, a newline, and the JSON array\n"
         "[seq, ts, actor, action, target, login, source, session_id, outcome, reason, details].\n"
         "review/access-review.json is `bastionctl review report --format json` for the period.\n";
}

nlohmann::json grant_json(const policy::Elevation& e) {
  nlohmann::json approvals = nlohmann::json::array();
  for (const auto& x : e.approvals) {
    approvals.push_back({{"approver", x.approver}, {"kind", x.kind}, {"at", format_utc(x.at)}});
  }
  nlohmann::json j = {{"request_id", e.id},
                      {"grant_id", e.grant_id},
                      {"user", e.user},
                      {"target", e.target},
                      {"login", e.login},
                      {"role", e.role},
                      {"customer", e.customer},
                      {"reason", e.reason},
                      {"state", policy::to_string(e.state)},
                      {"break_glass", e.break_glass},
                      {"created_at", format_utc(e.created_at)},
                      {"decided_by", e.decided_by},
                      {"approvals", approvals}};
  if (!e.grant_id.empty()) {
    j["starts_at"] = format_utc(e.starts_at);
    j["ends_at"] = format_utc(e.ends_at);
    j["starts_at_us"] = e.starts_at;
    j["ends_at_us"] = e.ends_at;
  }
  if (e.ended_at != 0) {
    j["ended_at"] = format_utc(e.ended_at);
    j["ended_by"] = e.ended_by;
    j["end_reason"] = e.end_reason;
  }
  return j;
}

// When a request or grant stops mattering: its end, its expiry, or never.
Micros last_moment(const policy::Elevation& e) {
  if (e.ended_at != 0) return e.ended_at;
  if (!e.grant_id.empty()) return e.ends_at;
  return e.expires_at;
}

struct Gathered {
  std::vector<policy::Elevation> grants;
  std::vector<recorder::SessionRecord> sessions;
  Micros records_from = 0;  // the period's start, or the oldest request of a grant used in it
};

Result<Gathered> gather(Services& s, const ExportArgs& a) {
  Gathered g;
  g.records_from = a.from_us;
  recorder::SessionFilter f;
  f.since = a.from_us;
  f.limit = std::numeric_limits<int>::max();
  auto sessions = s.sessions().list(f);
  if (!sessions) return sessions.error();
  for (auto& x : *sessions) {
    if (x.started_at >= a.from_us && x.started_at < a.to_us) g.sessions.push_back(std::move(x));
  }
  std::sort(g.sessions.begin(), g.sessions.end(),
            [](const auto& l, const auto& r) { return l.started_at < r.started_at; });
  auto all = s.policy().list_elevations("", false);
  if (!all) return all.error();
  std::set<std::string> used;
  for (const auto& x : g.sessions) {
    if (!x.grant_id.empty()) used.insert(x.grant_id);
  }
  for (auto& e : *all) {
    bool overlaps = e.created_at < a.to_us && last_moment(e) >= a.from_us;
    if (!overlaps && !used.count(e.grant_id)) continue;
    if (!e.grant_id.empty() && used.count(e.grant_id)) g.records_from = std::min(g.records_from, e.created_at);
    g.grants.push_back(std::move(e));
  }
  std::sort(g.grants.begin(), g.grants.end(), [](const auto& l, const auto& r) { return l.created_at < r.created_at; });
  return g;
}

Status write_records(Services& s, int64_t first, int64_t last, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error("cannot create " + path);
  auto st = s.chain().for_each_record(first, last, [&](const StoredRecord& r) -> Status {
    out << evidence::record_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return out ? Status{} : make_error("cannot write " + path);
  });
  if (!st) return st;
  out.flush();
  if (!out) return make_error("cannot write " + path);
  return {};
}

Status export_pack(Services& s, const ExportArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const Config& cfg = s.config();
  auto key = Ed25519Key::load(cfg.audit_signing_key);
  if (!key) return key.error().prefixed("the audit signing key: ");
  const auto pub = key->public_key();
  const std::string fingerprint = audit_key_fingerprint(pub);

  // Every record the pack holds must be signed: sign what is not yet, after
  // checking it (write_checkpoint refuses over a broken tail).
  auto signed_now = s.chain().write_checkpoint(*key, "export");
  if (!signed_now) {
    ctl_warn("could not sign the newest records (" + signed_now.error().message +
             "); bastion-verify will report them as unsigned");
  }
  auto g = gather(s, a);
  if (!g) return g.error();
  auto first_from = s.chain().first_seq_from(a.from_us);
  auto last_before_to = s.chain().last_seq_before(a.to_us);
  auto needed_from = s.chain().first_seq_from(g->records_from);
  auto last = s.audit().last_seq();
  if (!first_from) return first_from.error();
  if (!last_before_to) return last_before_to.error();
  if (!needed_from) return needed_from.error();
  if (!last) return last.error();
  if (!*last_before_to) {
    return make_error("the audit log has no record before " + format_utc_seconds(a.to_us) + ": nothing to export");
  }
  // The period's records (none when the first record from --from on comes
  // after --to), and the first record the pack needs: the period's first, or
  // the request of an older grant used in the period.
  int64_t period_first = 0, period_last = 0;
  if (*first_from && **first_from <= **last_before_to) {
    period_first = **first_from;
    period_last = **last_before_to;
  }
  int64_t first = period_first;
  if (*needed_from && **needed_from <= **last_before_to && (first == 0 || **needed_from < first)) {
    first = **needed_from;
  }
  if (first == 0) first = **last_before_to + 1;  // an empty period: the record before it shows nothing happened
  // The record before the first one (it shows nothing was cut away), when
  // there is one: it may be gone after a retention purge.
  auto purge_cp = s.chain().newest_purge_checkpoint();
  if (!purge_cp) return purge_cp.error();
  const int64_t purged_through = *purge_cp ? (*purge_cp)->seq : 0;
  std::optional<int64_t> context;
  if (first > 1 && first - 1 > purged_through) {
    context = first - 1;
    first = *context;
  } else if (first > **last_before_to) {
    return make_error("no audit records in the period, and the log before it was purged up to seq " +
                      std::to_string(purged_through) + ": nothing to export");
  }
  // Through the checkpoint that signs the last record the period needs.
  auto cps = s.chain().checkpoints(first, std::numeric_limits<int64_t>::max());
  if (!cps) return cps.error();
  const int64_t cover = std::max(period_last, first);
  int64_t through = *last;
  for (const auto& c : *cps) {
    if (c.seq >= cover) {
      through = c.seq;
      break;
    }
  }
  std::vector<Checkpoint> in_pack;
  for (const auto& c : *cps) {
    if (c.seq <= through) in_pack.push_back(c);
  }

  auto writer = evidence::PackWriter::create(a.out, s.clock().now() / kMicrosPerSecond);
  if (!writer) {
    const passwd* pw = getpwuid(geteuid());
    std::string me = pw != nullptr ? pw->pw_name : std::to_string(geteuid());
    if (writer.error().message.find("Permission denied") != std::string::npos && ctl_actor() != "admin:" + me) {
      return make_error(writer.error().message + " (bastionctl acts as the state directory's owner, " + me +
                        ": write the pack where " + me + " may)");
    }
    return writer.error();
  }
  evidence::PackWriter& w = **writer;
  if (auto st = w.add(evidence::kReadme, readme_text(a, fingerprint)); !st) return st;
  if (auto st = w.add(evidence::kKeyFile, audit_public_key_line(pub) + "\n"); !st) return st;
  std::string cp_text;
  for (const auto& c : in_pack) cp_text += evidence::checkpoint_json(c).dump() + "\n";
  if (auto st = w.add(evidence::kCheckpoints, cp_text); !st) return st;
  nlohmann::json anchors = {{"newest", nullptr}};
  if (*purge_cp) {
    anchors["newest"] = {{"seq", (*purge_cp)->seq},
                         {"purged_at", format_utc((*purge_cp)->ts)},
                         {"cut_at", evidence::checkpoint_json(**purge_cp)}};
  }
  if (auto st = w.add(evidence::kPurgeAnchors, anchors.dump(2) + "\n"); !st) return st;
  const std::string spool = a.out + ".records.tmp";
  struct Unlink {
    std::string path;
    ~Unlink() { ::unlink(path.c_str()); }
  } spool_guard{spool};
  if (auto st = write_records(s, first, through, spool); !st) return st;
  if (auto st = w.add_file(evidence::kRecords, spool); !st) return st;
  ::unlink(spool.c_str());

  auto review = access_review(s, a.from_us, a.to_us);
  if (!review) return review.error();
  if (auto st = w.add(evidence::kAccessReview, review->dump(2) + "\n"); !st) return st;
  std::string grants_text;
  for (const auto& e : g->grants) grants_text += grant_json(e).dump() + "\n";
  if (auto st = w.add(evidence::kGrants, grants_text); !st) return st;

  // Leavers revoked in the period.
  auto events = s.policy().list_hr_events("applied", "");
  if (!events) return events.error();
  auto people = s.policy().list_people();
  if (!people) return people.error();
  std::string leavers_text;
  int leavers = 0;
  for (const auto& ev : *events) {
    if (ev.event.type != policy::HrType::kLeaver || ev.applied_at < a.from_us || ev.applied_at >= a.to_us) continue;
    Micros effective = ev.event.effective_at.value_or(ev.arrival);
    nlohmann::json l = {{"event_id", ev.event.event_id},
                        {"employee_id", ev.event.employee_id},
                        {"effective_at", format_utc(effective)},
                        {"effective_at_us", effective},
                        {"revoked_at", format_utc(ev.applied_at)},
                        {"revoked_at_us", ev.applied_at},
                        {"seconds_to_revocation", static_cast<double>(ev.applied_at - effective) / kMicrosPerSecond}};
    for (const auto& p : *people) {
      if (p.employee_id == ev.event.employee_id) l["user"] = p.name;
    }
    leavers_text += l.dump() + "\n";
    ++leavers;
  }
  if (auto st = w.add(evidence::kLeavers, leavers_text); !st) return st;

  // Sessions with their recordings.
  std::string sessions_text;
  std::vector<std::pair<std::string, std::string>> recording_files;  // (entry, path)
  int recordings = 0;
  for (const auto& x : g->sessions) {
    auto recs = s.recordings().of(x.id);
    if (!recs) return recs.error();
    nlohmann::json rj = nlohmann::json::array();
    for (const auto& r : *recs) {
      nlohmann::json one = {{"channel", r.channel}, {"path", r.path}, {"sha256", r.sha256}};
      if (r.size) one["size"] = *r.size;
      if (a.with_recordings && r.size && !r.sha256.empty()) {
        std::string entry = evidence::recording_entry(x.id, r.channel, r.path);
        one["entry"] = entry;
        recording_files.emplace_back(entry, r.path);
      }
      rj.push_back(std::move(one));
      ++recordings;
    }
    nlohmann::json sj = {{"id", x.id},
                         {"user", x.user},
                         {"target", x.target},
                         {"login", x.login},
                         {"source", x.source},
                         {"grant_id", x.grant_id},
                         {"node", x.node},
                         {"started_at", format_utc(x.started_at)},
                         {"started_at_us", x.started_at},
                         {"end_reason", x.end_reason},
                         {"recordings", rj}};
    if (x.ended_at) {
      sj["ended_at"] = format_utc(*x.ended_at);
      sj["ended_at_us"] = *x.ended_at;
    }
    sessions_text += sj.dump() + "\n";
  }
  if (auto st = w.add(evidence::kSessions, sessions_text); !st) return st;

  auto config_text = read_file(cfg.config_path, 1 << 20);
  if (!config_text) return config_text.error().prefixed("the configuration: ");
  int redacted = 0;
  if (auto st = w.add(evidence::kConfig, evidence::redact_config(*config_text, redacted)); !st) return st;
  for (const auto& [entry, path] : recording_files) {
    if (auto st = w.add_file(entry, path); !st) return st.error().prefixed("recording: ");
  }

  nlohmann::json manifest = {{"format", evidence::kFormat},
                             {"generated_at", format_utc(s.clock().now())},
                             {"generated_by", ctl_actor()},
                             {"node", cfg.node_name},
                             {"version", BASTION_VERSION},
                             {"period", {{"from", format_utc_seconds(a.from_us)}, {"to", format_utc_seconds(a.to_us)}}},
                             {"records",
                              {{"first_seq", first},
                               {"last_seq", through},
                               {"context_seq", context ? nlohmann::json(*context) : nlohmann::json(nullptr)},
                               {"period_first_seq", period_first},
                               {"period_last_seq", period_last}}},
                             {"checkpoint_interval_us", cfg.checkpoint_interval},
                             {"audit_key", base64_encode(pub)},
                             {"with_recordings", a.with_recordings}};
  if (auto st = w.finish(manifest, *key); !st) return st;
  const uint64_t bytes = w.bytes_written();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t period_records = period_first > 0 ? period_last - period_first + 1 : 0;
  std::printf("evidence pack written: %s\n", a.out.c_str());
  std::printf("  period %s .. %s: %lld audit records (the pack holds seq %lld..%lld), %zu checkpoints\n",
              format_utc_seconds(a.from_us).c_str(), format_utc_seconds(a.to_us).c_str(),
              static_cast<long long>(period_records), static_cast<long long>(first), static_cast<long long>(through),
              in_pack.size());
  std::printf("  %zu sessions, %d recordings%s, %zu requests and grants, %d leavers\n", g->sessions.size(), recordings,
              a.with_recordings ? (" (" + std::to_string(recording_files.size()) + " in the pack)").c_str()
                                : " (digests only; --with-recordings adds the files)",
              g->grants.size(), leavers);
  if (redacted > 0) std::printf("  configuration: %d secret value(s) removed\n", redacted);
  std::printf("  %.1f MiB, took %.1f s; signed by the audit key %s\n", static_cast<double>(bytes) / (1 << 20), took,
              fingerprint.c_str());
  std::printf("  check it: bastion-verify --expect-key %s.pub %s\n", cfg.audit_signing_key.c_str(), a.out.c_str());
  ctl_audit(s, "evidence.export", "",
            {{"file", a.out},
             {"from", format_utc(a.from_us)},
             {"to", format_utc(a.to_us)},
             {"first_seq", first},
             {"last_seq", through},
             {"bytes", bytes},
             {"with_recordings", a.with_recordings}});
  return {};
}

}  // namespace

void register_evidence_commands(CLI::App& app, CtlGlobals& g) {
  auto* evidence = app.add_subcommand("evidence", "evidence packs an auditor verifies offline (bastion-verify)");
  evidence->require_subcommand(1);
  auto* exp = evidence->add_subcommand(
      "export",
      "write a signed evidence pack for a period: audit records with their chain and checkpoints, the access "
      "review, grants, sessions with recording digests, leavers, the configuration without secrets");
  auto a = std::make_shared<ExportArgs>();
  exp->add_option("--from", a->from, "start of the period (UTC: 2026-11-01 or 2026-11-01T00:00:00Z)")->required();
  exp->add_option("--to", a->to, "end of the period, exclusive (UTC)")->required();
  exp->add_option("--out", a->out, "the pack to write (a tar file; never overwritten)")->required();
  exp->add_flag("--with-recordings", a->with_recordings, "include the recordings themselves, not only their digests");
  ctl_command(exp, g, a, export_pack, check_export);
}

}  // namespace bastion::gateway
