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
      std::fprintf(stderr, "bastionctl: note: live sessions were not ended (%s)\n",
                   why.c_str());
    }
  };
}

void print_outcomes(const std::vector<HrLineOutcome>& outcomes, const policy::HrFile& parsed) {
  struct Row {
    int line;
    std::string text;
  };
  std::vector<Row> rows;
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
int run_batch(Services& s, HrBatch& b) {
  bool warned = false;
  auto applied = s.hr().apply(b, 0, notify_daemon(s, warned));
  if (!applied) return ctl_fail(applied.error().message);
  auto report = s.hr().finish(b);
  if (!report) return ctl_fail(report.error().message);
  print_outcomes(b.outcomes, b.parsed);
  std::cout << "batch " << b.record.id << ": " << (*report)["counts"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return kExitOk;
}

}  // namespace

void register_hr_commands(CLI::App& app, CtlGlobals& g) {
  auto* hr = app.add_subcommand("hr", "the HR feed: joiners, movers, leavers (bastiond also watches its spool)");
  hr->require_subcommand(1);

  auto* apply = hr->add_subcommand("apply", "apply an HR file (JSON Lines or CSV; a snapshot if named snapshot*)");
  struct ApplyArgs {
    std::string file;
    bool dry_run = false;
  };
  auto aa = std::make_shared<ApplyArgs>();
  apply->add_option("FILE", aa->file)->required()->check(CLI::ExistingFile);
  apply->add_flag("--dry-run", aa->dry_run, "print what each line would do; change nothing");
  apply->callback([&g, aa] {
    auto s = ctl_open(g);
    if (!s) return;
    if (aa->dry_run) {
      // Parse and plan without registering anything.
      auto text = read_file(aa->file, s->config().hr_max_file_size);
      if (!text) {
        g.exit_code = ctl_fail(text.error().message);
        return;
      }
      HrBatch b;
      b.parsed = policy::parse_hr_file(aa->file, *text);
      auto people = s->policy().list_people();
      if (!people) {
        g.exit_code = ctl_fail(people.error().message);
        return;
      }
      b.events = b.parsed.snapshot ? policy::snapshot_events(b.parsed.events, *people, "dry-run") : b.parsed.events;
      print_outcomes(s->hr().dry_run(b), b.parsed);
      std::cout << "dry run: nothing was changed\n";
      return;
    }
    auto b = s->hr().open(aa->file);
    if (!b) {
      g.exit_code = ctl_fail(b.error().message);
      return;
    }
    if (b->held) {
      // Keep a copy in the spool's held/ so `hr release` can apply it later.
      HrSpool spool{s->config().hr_spool};
      if (auto st = spool.ensure(); !st) {
        g.exit_code = ctl_fail(st.message());
        return;
      }
      auto text = read_file(aa->file, s->config().hr_max_file_size);
      std::string copy = spool.held() + "/" + b->record.file;
      if (!text || !write_file_atomic(copy, *text, 0640, true) ||
          !write_file_atomic(copy + ".report.json", hr_report_json(*b).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", 0640, true)) {
        g.exit_code = ctl_fail("cannot keep a copy in " + spool.held());
        return;
      }
      g.exit_code = ctl_fail("held batch " + b->record.id + ": " + b->hold_reason +
                             "; nothing applied. Review it, then `bastionctl hr release " + b->record.id +
                             "` or `bastionctl hr discard " + b->record.id + "`");
      return;
    }
    g.exit_code = run_batch(*s, *b);
  });

  auto* held = hr->add_subcommand("held", "batches held by the mass-revocation circuit breaker");
  auto held_json = std::make_shared<bool>(false);
  held->add_flag("--json", *held_json, "machine-readable output");
  held->callback([&g, held_json] {
    ctl_list(
        g, *held_json,
        [](Services& s) -> Result<std::vector<policy::HrBatchRecord>> {
          auto all = s.policy().list_hr_batches();
          if (!all) return all.error();
          std::vector<policy::HrBatchRecord> out;
          for (auto& b : *all) {
            if (b.state == "held") out.push_back(std::move(b));
          }
          return out;
        },
        [](const policy::HrBatchRecord& b) {
          return nlohmann::json{{"batch_id", b.id}, {"file", b.file}, {"received_at", format_utc(b.received_at)},
                                {"summary", nlohmann::json::parse(b.summary, nullptr, false)}};
        },
        [](const std::vector<policy::HrBatchRecord>& rows) {
          if (rows.empty()) std::printf("no held batches\n");
          for (const auto& b : rows) {
            auto j = nlohmann::json::parse(b.summary, nullptr, false);
            std::string why = j.is_object() ? j.value("hold_reason", std::string()) : std::string();
            std::printf("%s  %s  received %s  %s\n", b.id.c_str(), b.file.c_str(),
                        format_utc_seconds(b.received_at).c_str(), why.c_str());
          }
        });
  });

  for (bool release : {true, false}) {
    auto* cmd = hr->add_subcommand(release ? "release" : "discard",
                                   release ? "apply a held batch despite the circuit breaker"
                                           : "drop a held batch without applying it");
    auto id = std::make_shared<std::string>();
    cmd->add_option("BATCH", *id, "batch id (B-...), see `hr held`")->required();
    cmd->callback([&g, id, release] {
      auto s = ctl_open(g);
      if (!s) return;
      auto rec = s->policy().find_hr_batch(*id);
      if (!rec || !*rec) {
        g.exit_code = ctl_fail(rec ? "no such HR batch: " + *id : rec.error().message);
        return;
      }
      auto summary = nlohmann::json::parse((*rec)->summary, nullptr, false);
      if (summary.is_object() && summary.value("when_due", false)) {
        // Scheduled leavers held when they fell due: the file was applied
        // long ago; the decision is about those events only.
        if (auto st = s->hr().set_held_state(*id, release, ctl_actor()); !st) {
          g.exit_code = ctl_fail(st.message());
          return;
        }
        if (!release) {
          std::cout << "discarded " << *id << ": its scheduled events will not apply\n";
          return;
        }
        bool warned = false;
        auto n = s->hr().apply_due(notify_daemon(*s, warned));
        if (!n) {
          g.exit_code = ctl_fail("released " + *id + ", but: " + n.error().message + " (bastiond retries every second)");
          return;
        }
        std::cout << "released " << *id << ": " << *n << " scheduled event(s) applied\n";
        return;
      }
      HrSpool spool{s->config().hr_spool};
      std::string path = spool.held() + "/" + (*rec)->file;
      if (!file_exists(path)) {
        g.exit_code = ctl_fail("the held file " + path + " is missing");
        return;
      }
      if (auto st = s->hr().set_held_state(*id, release, ctl_actor()); !st) {
        g.exit_code = ctl_fail(st.message());
        return;
      }
      if (!release) {
        nlohmann::json report = {{"batch_id", *id}, {"file", (*rec)->file}, {"discarded_by", ctl_actor()}};
        auto moved = spool.file_away(path, spool.rejected(), report);
        if (!moved) {
          g.exit_code = ctl_fail(moved.error().message);
          return;
        }
        std::remove((path + ".report.json").c_str());
        std::cout << "discarded " << *id << " (moved to " << *moved << ")\n";
        return;
      }
      auto b = s->hr().open(path);
      if (!b) {
        g.exit_code = ctl_fail(b.error().message);
        return;
      }
      g.exit_code = run_batch(*s, *b);
      if (g.exit_code == kExitOk) {
        if (auto moved = spool.file_away(path, spool.processed(), hr_report_json(*b)); !moved) {
          ctl_fail("warning: " + moved.error().message);
        }
        std::remove((path + ".report.json").c_str());
      }
    });
  }

  auto* status = hr->add_subcommand("status", "recent batches and scheduled (future-dated) events");
  status->callback([&g] {
    auto s = ctl_open(g);
    if (!s) return;
    auto batches = s->policy().list_hr_batches();
    auto scheduled = s->policy().list_hr_events("scheduled", "");
    if (!batches || !scheduled) {
      g.exit_code = ctl_fail(!batches ? batches.error().message : scheduled.error().message);
      return;
    }
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
  });
}




}  // namespace bastion::gateway
