// bastionctl notify list | retry | test
#include <cstdio>
#include <iostream>

#include "common/random.h"
#include "gateway/app/notifications.h"
#include "gateway/ctl/ctl.h"
#include "notify/transport.h"

namespace bastion::gateway {
namespace {

using notifications::Notification;
using notifications::State;

struct ListArgs {
  std::string state;
  std::string request;
  std::string kind;
  int limit = 50;
  bool json = false;
};

nlohmann::json row_json(const Notification& n) {
  nlohmann::json j = {{"id", n.id()},          {"key", n.key},         {"state", to_string(n.state)},
                      {"kind", n.kind},        {"channel", n.channel}, {"thread", n.thread},
                      {"subject", n.subject},  {"link", n.link},       {"created_at", format_utc(n.created_at)},
                      {"attempts", n.attempts}};
  if (n.channel == "email") j["recipients"] = n.recipients;
  if (n.state == State::kPending && n.attempts > 0) j["next_attempt"] = format_utc(n.next_at);
  if (!n.last_error.empty()) j["last_error"] = n.last_error;
  if (n.sent_at != 0) j["sent_at"] = format_utc(n.sent_at);
  return j;
}

Status list(Services& s, const ListArgs& a) {
  notifications::OutboxFilter f;
  f.limit = a.limit;
  if (!a.state.empty()) f.state = notifications::parse_state(a.state);
  f.thread = a.request;
  f.kind = a.kind;
  return ctl_print_rows(s.outbox().list(f), a.json, row_json, [](const std::vector<Notification>& rows) {
    if (rows.empty()) std::printf("no notifications\n");
    for (const auto& n : rows) {
      std::string to = n.channel;
      if (n.channel == "email") {
        std::string who;
        for (const auto& r : n.recipients) who += (who.empty() ? "" : ",") + r;
        to += " " + (who.empty() ? std::string("(nobody)") : who);
      }
      std::printf("%-10s %-7s %-13s %s  %s\n  %s%s\n", n.id().c_str(), to_string(n.state).c_str(), n.kind.c_str(),
                  format_utc_seconds(n.created_at).c_str(), to.c_str(),
                  n.thread.rfind("REQ-", 0) == 0 ? (n.thread + ": ").c_str() : "", n.subject.c_str());
      if (n.state == State::kSent) {
        std::printf("  delivered %s after %d attempt(s)\n", format_utc_seconds(n.sent_at).c_str(), n.attempts);
      } else if (n.attempts > 0) {
        std::printf("  %d failed attempt(s): %s%s\n", n.attempts, n.last_error.c_str(),
                    n.state == State::kPending ? ("; next " + format_utc_seconds(n.next_at)).c_str() : "");
      }
    }
  });
}

struct RetryArgs {
  std::string id;
  bool failed = false;
};

Status retry(Services& s, const RetryArgs& a) {
  if (a.id.empty() == !a.failed) return make_error(ErrorCode::kInvalid, "give a notification id or --failed, not both");
  int n = 1;
  Status st = s.audit().atomically([&]() -> Status {
    if (a.failed) {
      auto r = s.outbox().retry_failed(s.clock().now());
      if (!r) return r.error();
      n = *r;
    } else if (auto r = s.outbox().retry(a.id, s.clock().now()); !r) {
      return r;
    }
    auto rec = s.audit().append({ctl_actor(),
                                 "notify.retry",
                                 recorder::Outcome::kInfo,
                                 a.failed ? std::to_string(n) + " failed notification(s) queued again"
                                          : "notification " + a.id + " queued again",
                                 "",
                                 "",
                                 "",
                                 "",
                                 {{"notification", a.failed ? "failed" : a.id}, {"count", n}}});
    return rec ? Status{} : Status{rec.error()};
  });
  if (!st) return st;
  std::printf("%d notification(s) queued; bastiond delivers them within a second (see `bastionctl notify list`)\n", n);
  return {};
}

struct TestArgs {
  std::string channel;
  std::vector<std::string> to;
};

Status test(Services& s, const TestArgs& a) {
  const Config& cfg = s.config();
  if (a.channel == "email") {
    if (cfg.smtp_url.empty())
      return make_error(ErrorCode::kInvalid, "e-mail is not configured ([notify.email] smtp_url)");
    if (a.to.empty()) return make_error(ErrorCode::kInvalid, "notify test email needs --to ADDRESS");
    for (const auto& t : a.to) {
      if (!notifications::is_email_address(t))
        return make_error(ErrorCode::kInvalid, "'" + t + "' is not an e-mail address");
    }
  } else if (a.channel.rfind("webhook:", 0) != 0 || !cfg.notify_webhooks.count(a.channel.substr(8))) {
    std::string known = "email";
    for (const auto& [name, h] : cfg.notify_webhooks) known += ", webhook:" + name;
    return make_error(ErrorCode::kInvalid, "unknown channel '" + a.channel + "' (configured: " + known + ")");
  }
  auto secrets = load_notify_secrets(cfg);
  if (!secrets) return secrets.error();
  Notification n;
  n.seq = 0;
  n.n = 1;
  n.key = "bastion-test-" + random_base32_8();
  n.kind = "test";
  n.channel = a.channel;
  n.recipients = a.to;
  n.thread = "test";
  n.subject = "[bastion] test notification";
  n.body = "This is a test sent by " + ctl_actor() + " with `bastionctl notify test`. Nothing needs doing.";
  n.link = cfg.public_url.empty() ? "" : cfg.public_url + "/console/requests";
  n.facts = {{"kind", "test"}};
  n.created_at = s.clock().now();
  Status sent = deliver(cfg, *secrets, n, n.created_at);
  nlohmann::json d = {{"channel", a.channel}, {"key", n.key}};
  if (!a.to.empty()) d["recipients"] = a.to;
  if (!sent) d["error"] = sent.message();
  auto rec = s.audit().append({ctl_actor(), "notify.test", sent ? recorder::Outcome::kInfo : recorder::Outcome::kError,
                               sent ? "test notification delivered by " + a.channel
                                    : "test notification by " + a.channel + " failed: " + sent.message(),
                               a.channel, "", "", "", d});
  if (!sent) return sent;
  if (!rec) return rec.error();
  std::printf("delivered by %s (idempotency key %s)\n", a.channel.c_str(), n.key.c_str());
  return {};
}

}  // namespace

void register_notify_commands(CLI::App& app, CtlGlobals& g) {
  auto* notify =
      app.add_subcommand("notify", "notifications of requests, decisions, grants and alerts (e-mail, webhooks)");
  notify->require_subcommand(1);

  auto* ls = notify->add_subcommand("list", "notifications, newest first: delivered, waiting, failed");
  auto la = std::make_shared<ListArgs>();
  ls->add_option("--state", la->state, "only these: pending, sent or failed")
      ->check(CLI::IsMember({"pending", "sent", "failed"}));
  ls->add_option("--request", la->request, "only those of this request (REQ-...)");
  ls->add_option("--kind", la->kind, "only this kind (as in [notify.routes])")->check(CLI::IsMember(notify_kinds()));
  ls->add_option("--limit", la->limit, "at most this many (default 50)")->check(CLI::Range(1, 100000));
  ls->add_flag("--json", la->json, "machine-readable output");
  ctl_command(ls, g, la, list);

  auto* rt = notify->add_subcommand("retry", "send a failed notification again (after fixing its channel)");
  auto ra = std::make_shared<RetryArgs>();
  rt->add_option("ID", ra->id, "the notification (SEQ.N, as `notify list` shows)");
  rt->add_flag("--failed", ra->failed, "every failed notification");
  ctl_command(rt, g, ra, retry);

  auto* ts = notify->add_subcommand("test", "send a test notification now on a channel, and say what happened");
  auto ta = std::make_shared<TestArgs>();
  ts->add_option("CHANNEL", ta->channel, "email, or webhook:NAME")->required();
  ts->add_option("--to", ta->to, "e-mail: the address(es) to send to");
  ctl_command(ts, g, ta, test);
}

}  // namespace bastion::gateway
