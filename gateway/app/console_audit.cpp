// The console's Audit page, for auditors: the newest records that match a
// filter, how the newest part of the chain stands (recorder::TailStatus),
// and an export of the matching records as JSON lines, written by the
// monitor into a sealed memory file that it hands to the web process.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/files.h"
#include "gateway/app/console_detail.h"
#include "gateway/app/console_web.h"
#include "recorder/audit_chain.h"

namespace bastion::gateway {

using console_detail::error;
using console_detail::kMaxName;
using console_detail::parse_day;
using console_detail::str;
using recorder::Outcome;

namespace {

// The page lists the newest matching records; an export carries at most
// kMaxExported (bastionctl audit export has no limit).
constexpr int kListedRecords = 200;
constexpr int kMaxExported = 50'000;

Result<recorder::AuditFilter> filter_of(const nlohmann::json& args) {
  recorder::AuditFilter f;
  f.actor = str(args, "actor").substr(0, kMaxName);
  f.action = str(args, "action").substr(0, kMaxName);
  f.session_id = str(args, "session").substr(0, kMaxName);
  f.target = str(args, "target").substr(0, kMaxName);
  f.text = str(args, "text").substr(0, kMaxName);
  // Shorter text has no trigram: it would be looked for in every record,
  // which on a large log takes longer than a page may.
  if (!f.text.empty() && !recorder::AuditLog::text_is_indexed(f.text)) {
    return make_error(ErrorCode::kInvalid,
                      "text: give at least 3 characters (bastionctl audit search looks for shorter text)");
  }
  auto since = parse_day(str(args, "since"), false);
  if (!since) return since.error();
  auto until = parse_day(str(args, "until"), true);
  if (!until) return until.error();
  f.since = *since;
  if (*until) f.until = **until - 1;  // the filter's `until` is inclusive
  return f;
}

nlohmann::json chain_json(Services& s) {
  auto key_text = read_file(s.config().audit_signing_key + ".pub", 4096);
  auto key = key_text ? recorder::parse_audit_public_key(*key_text) : Result<std::vector<uint8_t>>(key_text.error());
  if (!key) return {{"state", "unchecked"}, {"text", "the audit public key cannot be read: " + key.error().message}};
  auto t = s.chain().tail_status(*key);
  if (!t) return {{"state", "unchecked"}, {"text", t.error().message}};
  nlohmann::json j = {{"after", t->after}};
  if (t->newest) {
    j["checkpoint"] = {{"seq", t->newest->seq}, {"at", format_utc(t->newest->ts)}, {"kind", t->newest->kind}};
  }
  if (!t->problem.empty()) {
    j["state"] = "failed";
    j["text"] = "FAILED: " + t->problem;
  } else if (t->newest && !t->newest_signed) {
    j["state"] = "failed";
    j["text"] = "FAILED: the newest checkpoint is not signed by this gateway's audit key";
  } else {
    j["state"] = "intact";
    j["text"] = t->newest ? "the newest checkpoint is signed by the gateway's audit key, and the " +
                                std::to_string(t->after) + " record(s) after it chain onto it"
                          : "no checkpoint yet; the " + std::to_string(t->after) + " record(s) chain from the start";
  }
  return j;
}

}  // namespace

WebReply ConsoleWeb::audit_page(const Signed& who, const nlohmann::json& args) {
  auto v = console_detail::view_of(s_, who.person);
  if (!v) return error(500, v.error().message);
  nlohmann::json page = console_detail::page_of(who.person.name, who.cookie, *v);
  page["records"] = nlohmann::json::array();
  if (!policy::may_read_audit(v->access)) {
    page["note"] = "The audit log is for auditors (a role with console = auditor); you are not one.";
    return {200, page};
  }
  auto f = filter_of(args);
  if (!f) return error(400, f.error().message);
  f->limit = kListedRecords;
  f->newest_first = true;
  auto rows = s_.audit().query(*f);
  if (!rows) return error(500, "internal error: " + rows.error().message);
  for (const auto& r : *rows) page["records"].push_back(recorder::to_json(r));
  page["limited"] = rows->size() >= static_cast<size_t>(kListedRecords);
  page["chain"] = chain_json(s_);
  return {200, page};
}

WebReply ConsoleWeb::audit_export(const Signed& who, const nlohmann::json& args) {
  auto v = console_detail::view_of(s_, who.person);
  if (!v) return error(500, v.error().message);
  // SECURITY: one answer for "not yours to see" and "not here".
  if (!policy::may_read_audit(v->access)) return error(404, "not found");
  auto f = filter_of(args);
  if (!f) return error(400, f.error().message);
  f->limit = kMaxExported + 1;
  auto rows = s_.audit().query(*f);
  if (!rows) return error(500, "internal error: " + rows.error().message);
  if (rows->size() > static_cast<size_t>(kMaxExported)) {
    return error(413, "more than " + std::to_string(kMaxExported) +
                          " records match: narrow the filter, or use bastionctl audit export");
  }
  // SECURITY: a memory file, sealed before it is handed over: the web
  // process reads these bytes and nothing else, and cannot change them.
  auto fd = std::make_shared<UniqueFd>(::memfd_create("bastion-audit-export", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!*fd) return error(500, "internal error: cannot create the export");
  std::string chunk;
  bool ok = true;
  auto flush = [&] {
    ok = ok && write_all(fd->get(), chunk);
    chunk.clear();
  };
  for (const auto& r : *rows) {
    chunk += recorder::to_json(r).dump() + "\n";
    if (chunk.size() > (size_t{1} << 20)) flush();
  }
  flush();
  ok = ok && ::fcntl(fd->get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0;
  if (!ok) return error(500, "internal error: cannot write the export");
  audit(who.person.name, "console.audit_export", Outcome::kInfo, "exported audit records from the web console",
        {{"records", rows->size()},
         {"filter",
          {{"actor", f->actor},
           {"action", f->action},
           {"session", f->session_id},
           {"target", f->target},
           {"text", f->text},
           {"since", f->since ? format_utc(*f->since) : ""},
           {"until", f->until ? format_utc(*f->until) : ""}}},
         {"console_session", who.session.short_id()}},
        who.source);
  WebReply r{200, {{"kind", "jsonl"}, {"records", rows->size()}, {"name", "bastion-audit.jsonl"}}};
  r.file = std::move(fd);
  return r;
}

}  // namespace bastion::gateway
