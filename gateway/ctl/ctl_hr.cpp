// bastionctl hr apply | status | held | release | discard
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common/files.h"
#include "gateway/ctl/control_client.h"
#include "gateway/ctl/ctl.h"

namespace bastion::gateway {
namespace {

// After an event changed someone's access, tell a running bastiond so their
// live sessions end (leavers) or are re-checked (movers) now.
HrAccessChange notify_daemon(Services& s, bool& warned) {
  return [&s, &warned](const std::string& user, const std::string& message, bool left) {
    using Op = monitor::Control::Op;
    monitor::Control req{left ? Op::kEndUser : Op::kRecheck, user, left ? message : ""};
    auto r = control_call(s.config().control_socket, req, 3000);
    std::string why = !r ? r.error().message : !r->ok ? r->error : "";
    if (!why.empty() && !warned) {
      warned = true;
      std::fprintf(stderr, "bastionctl: note: live sessions were not ended (%s)\n", why.c_str());
    }
  };
}

void print_outcomes(const std::vector<HrLineOutcome>& outcomes, const policy::HrFile& parsed) {
  struct Row {
    int line;
    std::string text;
  };
  std::vector<Row> rows;
  rows.reserve(outcomes.size() + parsed.errors.size());
  for (const auto& o : outcomes) {
    rows.push_back({o.line, o.outcome + "  " + o.type + " " + o.event_id + " (" + o.employee_id +
                                (o.person.empty() ? "" : ", " + o.person) + "): " + o.detail});
  }
  for (const auto& e : parsed.errors) rows.push_back({e.line, "rejected  " + e.reason});
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.line < b.line; });
  for (const auto& r : rows) {
    if (r.line > 0) std::printf("line %d: %s\n", r.line, r.text.c_str());
    else std::printf("snapshot: %s\n", r.text.c_str());
  }
}

// Applies a batch to the end, prints the outcome, files a spool copy away.
Status run_batch(Services& s, HrBatch& b) {
  bool warned = false;
  auto applied = s.hr().apply(b, 0, notify_daemon(s, warned));
  if (!applied) return applied.error();
  auto report = s.hr().finish(b);
  if (!report) return report.error();
  print_outcomes(b.outcomes, b.parsed);
  std::cout << "batch " << b.record.id << ": "
            << (*report)["counts"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return {};
}

struct ApplyArgs {
  std::string file;
  bool dry_run = false;
};

// `hr apply --dry-run`: parses and plans without registering anything.
Status dry_run(Services& s, const ApplyArgs& a) {
  auto text = read_file(a.file, s.config().hr_max_file_size);
  if (!text) return text.error();
  HrBatch b;
  b.parsed = policy::parse_hr_file(a.file, *text);
  auto people = s.policy().list_people();
  if (!people) return people.error();
  b.events = b.parsed.snapshot ? policy::snapshot_events(b.parsed.events, *people, "dry-run") : b.parsed.events;
  print_outcomes(s.hr().dry_run(b), b.parsed);
  std::cout << "dry run: nothing was changed\n";
  return {};
}

// Keeps a copy of a held batch in the spool's held/ so `hr release` can apply it later.
Status keep_held(Services& s, const HrBatch& b, const std::string& file) {
  HrSpool spool{s.config().hr_spool};
  if (auto st = spool.ensure(); !st) return st;
  auto text = read_file(file, s.config().hr_max_file_size);
  std::string copy = spool.held() + "/" + b.record.file;
  if (!text || !write_file_atomic(copy, *text, 0640, true) ||
      !write_file_atomic(copy + ".report.json",
                         hr_report_json(b).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", 0640,
                         true)) {
    return make_error("cannot keep a copy in " + spool.held());
  }
  return make_error("held batch " + b.record.id + ": " + b.hold_reason +
                    "; nothing applied. Review it, then `bastionctl hr release " + b.record.id +
                    "` or `bastionctl hr discard " + b.record.id + "`");
}

Status apply(Services& s, const ApplyArgs& a) {
  if (a.dry_run) return dry_run(s, a);
  auto b = s.hr().open(a.file);
  if (!b) return b.error();
  if (b->held) return keep_held(s, *b, a.file);
  return run_batch(s, *b);
}

Result<std::vector<policy::HrBatchRecord>> held_batches(Services& s) {
  auto all = s.policy().list_hr_batches();
  if (!all) return all.error();
  std::vector<policy::HrBatchRecord> out;
  for (auto& b : *all) {
    if (b.state == "held") out.push_back(std::move(b));
  }
  return out;
}

nlohmann::json held_json(const policy::HrBatchRecord& b) {
  return {{"batch_id", b.id},
          {"file", b.file},
          {"received_at", format_utc(b.received_at)},
          {"summary", nlohmann::json::parse(b.summary, nullptr, false)}};
}

void print_held(const std::vector<policy::HrBatchRecord>& rows) {
  if (rows.empty()) std::printf("no held batches\n");
  for (const auto& b : rows) {
    auto j = nlohmann::json::parse(b.summary, nullptr, false);
    std::string why = j.is_object() ? j.value("hold_reason", std::string()) : std::string();
    std::printf("%s  %s  received %s  %s\n", b.id.c_str(), b.file.c_str(), format_utc_seconds(b.received_at).c_str(),
                why.c_str());
  }
}

Status list_held(Services& s, const JsonFlag& a) {
  return ctl_print_rows(held_batches(s), a.json, held_json, print_held);
}

struct HeldArgs {
  std::string id;
  bool release = false;
};

// Scheduled leavers held when they fell due: the file was applied long ago;
// the decision is about those events only.
Status decide_due_events(Services& s, const HeldArgs& a) {
  if (auto st = s.hr().set_held_state(a.id, a.release, ctl_actor()); !st) return st;
  if (!a.release) {
    std::cout << "discarded " << a.id << ": its scheduled events will not apply\n";
    return {};
  }
  bool warned = false;
  auto n = s.hr().apply_due(notify_daemon(s, warned));
  if (!n) return make_error("released " + a.id + ", but: " + n.error().message + " (bastiond retries every second)");
  std::cout << "released " << a.id << ": " << *n << " scheduled event(s) applied\n";
  return {};
}

Status discard_held_file(const HrSpool& spool, const HeldArgs& a, const std::string& file, const std::string& path) {
  nlohmann::json report = {{"batch_id", a.id}, {"file", file}, {"discarded_by", ctl_actor()}};
  auto moved = spool.file_away(path, spool.rejected(), report);
  if (!moved) return moved.error();
  std::remove((path + ".report.json").c_str());
  std::cout << "discarded " << a.id << " (moved to " << *moved << ")\n";
  return {};
}

// A held file: released, it is applied now; discarded, it moves to rejected/.
Status decide_held_file(Services& s, const HeldArgs& a, const std::string& file) {
  HrSpool spool{s.config().hr_spool};
  std::string path = spool.held() + "/" + file;
  if (!file_exists(path)) return make_error("the held file " + path + " is missing");
  if (auto st = s.hr().set_held_state(a.id, a.release, ctl_actor()); !st) return st;
  if (!a.release) return discard_held_file(spool, a, file, path);
  auto b = s.hr().open(path);
  if (!b) return b.error();
  if (auto st = run_batch(s, *b); !st) return st;
  if (auto moved = spool.file_away(path, spool.processed(), hr_report_json(*b)); !moved) {
    ctl_warn(moved.error().message);
  }
  std::remove((path + ".report.json").c_str());
  return {};
}

// `hr release` / `hr discard`.
Status decide_held(Services& s, const HeldArgs& a) {
  auto rec = s.policy().find_hr_batch(a.id);
  if (!rec) return rec.error();
  if (!*rec) return make_error("no such HR batch: " + a.id);
  auto summary = nlohmann::json::parse((*rec)->summary, nullptr, false);
  if (summary.is_object() && summary.value("when_due", false)) return decide_due_events(s, a);
  return decide_held_file(s, a, (*rec)->file);
}

Status status(Services& s) {
  auto batches = s.policy().list_hr_batches();
  auto scheduled = s.policy().list_hr_events("scheduled", "");
  if (!batches) return batches.error();
  if (!scheduled) return scheduled.error();
  std::printf("%-16s %-10s %-22s %s\n", "BATCH", "STATE", "RECEIVED", "FILE");
  for (const auto& b : *batches) {
    std::printf("%-16s %-10s %-22s %s\n", b.id.c_str(), b.state.c_str(), format_utc_seconds(b.received_at).c_str(),
                b.file.c_str());
  }
  std::printf("scheduled events: %zu\n", scheduled->size());
  for (const auto& e : *scheduled) {
    std::printf("  %s  %s %s (%s) at %s\n", e.event.event_id.c_str(), policy::to_string(e.event.type).c_str(),
                e.event.employee_id.c_str(), e.event.username.c_str(),
                format_utc_seconds(e.event.effective_at.value_or(0)).c_str());
  }
  return {};
}

}  // namespace

void register_hr_commands(CLI::App& app, CtlGlobals& g) {
  auto* hr = app.add_subcommand("hr", "the HR feed: joiners, movers, leavers (bastiond also watches its spool)");
  hr->require_subcommand(1);
  auto* apply_cmd = hr->add_subcommand("apply", "apply an HR file (JSON Lines or CSV; a snapshot if named snapshot*)");
  auto aa = std::make_shared<ApplyArgs>();
  apply_cmd->add_option("FILE", aa->file)->required()->check(CLI::ExistingFile);
  apply_cmd->add_flag("--dry-run", aa->dry_run, "print what each line would do; change nothing");
  ctl_command(apply_cmd, g, aa, apply);

  auto* held = hr->add_subcommand("held", "batches held by the mass-revocation circuit breaker");
  ctl_command(held, g, add_json_flag(held), list_held);

  for (bool release : {true, false}) {
    auto* cmd =
        hr->add_subcommand(release ? "release" : "discard", release ? "apply a held batch despite the circuit breaker"
                                                                    : "drop a held batch without applying it");
    auto a = std::make_shared<HeldArgs>();
    a->release = release;
    cmd->add_option("BATCH", a->id, "batch id (B-...), see `hr held`")->required();
    ctl_command(cmd, g, a, decide_held);
  }

  ctl_command(hr->add_subcommand("status", "recent batches and scheduled (future-dated) events"), g, status);
}

}  // namespace bastion::gateway
