// End-to-end: notifications. bastiond tells approvers of requests and
// requesters of decisions by e-mail, through a real SMTP server that requires
// STARTTLS and authentication (aiosmtpd), and posts signed JSON to a real
// HTTPS receiver that checks the signature and deduplicates by key. A
// receiver that is down for 30 s gets every notification afterwards, in order
// per request, while logins and requests go on.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "fixture.h"

namespace bastion::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

class Notify : public DeploymentTest<Notify> {
 protected:
  static void SetUpTestSuite() {
    DeploymentTest<Notify>::SetUpTestSuite();
    const std::string dir = d->dir();
    auto made = run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2",
                     "-keyout", dir + "/sink_key.pem", "-out", dir + "/sink_cert.pem"});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    write_text(dir + "/hook.secret", "a-webhook-key-of-32-characters-xx\n", 0600);
    write_text(dir + "/smtp.password", "relay-password\n", 0600);
    smtp_port = free_port();
    hook_port = free_port();
    smtp = new Process({"/usr/bin/python3", std::string(BASTION_SOURCE_DIR) + "/tests/e2e/fixtures/smtp_sink.py",
                        std::to_string(smtp_port), dir + "/sink_cert.pem", dir + "/sink_key.pem", "bastion",
                        "relay-password", mail_file()},
                       dir + "/smtp_sink.log");
    EXPECT_TRUE(wait_for([&] { return read_text(dir + "/smtp_sink.log").find("ready") != std::string::npos; }, 15000))
        << read_text(dir + "/smtp_sink.log");
    start_receiver();

    d->ctl_ok({"customer", "add", "acme"});
    d->ctl_ok({"target", "add", "acme-app", "--address", "127.0.0.1:" + std::to_string(d->target_port()), "--host-key",
               d->target_host_pub(), "--customer", "acme"});
    d->ctl_ok({"role", "add", "support", "--targets", "customer=*", "--logins", d->login(), "--elevated",
               "--max-duration", "4h"});
    bob = new SshKeyFiles(d->add_person("bob", {"support"}));
    d->ctl_ok({"user", "set", "bob", "--email", "bob@example.com"});
    d->ctl_ok({"user", "add", "carol", "--email", "carol@acme.example"});
    d->ctl_ok({"customer", "approver", "add", "acme", "carol"});

    std::string cfg = read_text(d->config());
    cfg += "\n[notify.email]\nsmtp_url = \"smtp://localhost:" + std::to_string(smtp_port) +
           "\"\nfrom = \"bastion@example.com\"\nusername = \"bastion\"\npassword_file = \"" + dir +
           "/smtp.password\"\nca_file = \"" + dir +
           "/sink_cert.pem\"\n\n[notify.webhooks.ops]\nurl = \"https://localhost:" + std::to_string(hook_port) +
           "/hook\"\nsecret_file = \"" + dir + "/hook.secret\"\nca_file = \"" + dir +
           "/sink_cert.pem\"\n\n[notify.routes]\nrequest = [\"email\", \"webhook:ops\"]\ndecided = [\"email\", "
           "\"webhook:ops\"]\n";
    const std::string retry_max = "retry_max = \"5m\"";
    cfg.replace(cfg.find(retry_max), retry_max.size(), "retry_max = \"3s\"");
    write_text(d->config(), cfg, 0600);
    d->edit_config("ending_soon = [\"10m\", \"1m\"]",
                   "ending_soon = [\"50s\"]\nsecurity = [\"security@example.com\"]\nadmins = [\"ops@example.com\"]");
  }
  static void TearDownTestSuite() {
    delete hook;
    delete smtp;
    delete bob;
    hook = smtp = nullptr;
    bob = nullptr;
    DeploymentTest<Notify>::TearDownTestSuite();
  }
  static std::string mail_file() { return d->dir() + "/mail.jsonl"; }
  static std::string hook_file() { return d->dir() + "/hook.jsonl"; }
  static void start_receiver() {
    std::string log = d->dir() + "/webhook_sink.log";
    write_text(log, "");
    hook = new Process({"/usr/bin/python3", std::string(BASTION_SOURCE_DIR) + "/tests/e2e/fixtures/webhook_sink.py",
                        std::to_string(hook_port), d->dir() + "/sink_cert.pem", d->dir() + "/sink_key.pem",
                        d->dir() + "/hook.secret", hook_file()},
                       log);
    EXPECT_TRUE(wait_for([&] { return read_text(log).find("ready") != std::string::npos; }, 15000)) << read_text(log);
  }
  static std::vector<json> lines(const std::string& path) {
    std::vector<json> out;
    std::string text = read_text(path);
    size_t at = 0;
    while (at < text.size()) {
      size_t nl = text.find('\n', at);
      if (nl == std::string::npos) break;  // a line being written
      auto j = json::parse(text.substr(at, nl - at), nullptr, false);
      if (!j.is_discarded()) out.push_back(j);
      at = nl + 1;
    }
    return out;
  }
  // The messages to `to` whose text holds `text`.
  static std::vector<json> mails(const std::string& to, const std::string& text) {
    std::vector<json> out;
    for (auto& m : lines(mail_file())) {
      bool for_them = false;
      for (const auto& r : m["to"]) for_them |= r == to;
      if (for_them && m["data"].get<std::string>().find(text) != std::string::npos) out.push_back(m);
    }
    return out;
  }
  static std::vector<json> hooks_about(const std::string& request_id) {
    std::vector<json> out;
    for (auto& h : lines(hook_file())) {
      if (h["body"]["facts"].value("request_id", "") == request_id) out.push_back(h);
    }
    return out;
  }
  static std::string request(const std::string& reason) {
    auto r = d->ssh(*bob, "bob", {"request", d->login() + "@acme-app", "--for", "30m", "--reason", reason});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::smatch m;
    std::regex re("REQ-[0-9A-Z]{8}");
    return std::regex_search(r.out, m, re) ? m.str() : "";
  }
  static json notifications(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"notify", "list", "--json", "--limit", "1000"};
    args.insert(args.end(), extra.begin(), extra.end());
    return json::parse(d->ctl_ok(args));
  }

  static inline SshKeyFiles* bob = nullptr;
  static inline Process* smtp = nullptr;
  static inline Process* hook = nullptr;
  static inline int smtp_port = 0, hook_port = 0;
};

TEST_F(Notify, ARequestMailsTheApproversAndADenialTheRequesterWithTheReason) {
  const std::string req = request("TICKET-4411 import fails");
  ASSERT_FALSE(req.empty());
  // carol, acme's approver, is told by e-mail (over STARTTLS, authenticated:
  // the server accepts nothing else), with the link to the request's page.
  const std::string link = d->public_url() + "/console/requests/" + req;
  ASSERT_TRUE(wait_for([&] { return !mails("carol@acme.example", req).empty(); }, 10000))
      << read_text(mail_file()) << d->gateway_log();
  json mail = mails("carol@acme.example", req)[0];
  const std::string data = mail["data"];
  EXPECT_EQ(mail["from"], "bastion@example.com");
  EXPECT_EQ(mail["to"], json::array({"carol@acme.example"}));
  EXPECT_NE(data.find("Subject: [bastion] bob asks for " + d->login() + "@acme-app (customer acme)"), std::string::npos)
      << data;
  EXPECT_NE(data.find(link), std::string::npos) << data;
  EXPECT_NE(data.find("Reason: TICKET-4411 import fails"), std::string::npos) << data;
  EXPECT_NE(data.find("Message-ID: <bastion-"), std::string::npos) << data;
  // The webhook got it too, signed (the receiver refuses a bad signature with 401).
  ASSERT_TRUE(wait_for([&] { return hooks_about(req).size() == 1; }, 10000)) << read_text(hook_file());
  json posted = hooks_about(req)[0];
  EXPECT_EQ(posted["body"]["kind"], "request");
  EXPECT_EQ(posted["body"]["link"], link);
  EXPECT_EQ(posted["key"], posted["body"]["id"]);
  // Sent by a bastiond of its own, in the sandbox (EachSendRunsInAFreshSandboxedProcess),
  // as the senders' own user ([notify] sender_user), not the connections'.
  EXPECT_NE(d->gateway_log().find("notifications: each one is sent by a bastiond of its own in the sandbox: " +
                                  std::string(geteuid() == 0 ? "user bastion-notify," : "")),
            std::string::npos)
      << d->gateway_log();

  d->ctl_ok({"elevate", "deny", req, "--reason", "not during the freeze"});
  const auto decided = Clock::now();
  ASSERT_TRUE(wait_for([&] { return !mails("bob@example.com", "was denied").empty(); }, 10000))
      << read_text(mail_file());
  std::printf(
      "denial to the requester's mail in the SMTP server: %lld ms\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - decided).count()));
  const std::string denial = mails("bob@example.com", "was denied")[0]["data"];
  EXPECT_NE(denial.find("Reason: not during the freeze"), std::string::npos) << denial;
  EXPECT_NE(denial.find(link), std::string::npos) << denial;
  ASSERT_TRUE(wait_for([&] { return hooks_about(req).size() == 2; }, 10000)) << read_text(hook_file());
  EXPECT_EQ(hooks_about(req)[1]["body"]["kind"], "decided");

  // On record: each delivery (notify.sent), and `notify list` says sent,
  // for this request only with --request.
  int sent = 0;
  for (const auto& n : notifications({"--request", req})) {
    EXPECT_EQ(n["thread"], req) << n;
    EXPECT_EQ(n["state"], "sent") << n;
    ++sent;
  }
  EXPECT_EQ(sent, 4);
  EXPECT_EQ(notifications({"--request", req, "--kind", "decided"}).size(), 2u);
  auto records = json::parse(d->ctl_ok({"audit", "search", req, "--action", "notify.sent", "--json"}));
  EXPECT_EQ(records.size(), 4u) << records;
}

TEST_F(Notify, BreakGlassTellsSecurityAndTheHolderHearsTheGrantEndAndARevocation) {
  auto out = d->ctl_ok(
      {"elevate", "break-glass", "bob", d->login() + "@acme-app", "--for", "1m", "--reason", "INC-77 database down"});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("GRT-[0-9A-Z]{8}"))) << out;
  const std::string grant = m.str();
  ASSERT_TRUE(wait_for([&] { return !mails("security@example.com", "INC-77").empty(); }, 10000))
      << read_text(mail_file());
  EXPECT_NE(mails("security@example.com", "INC-77")[0]["data"].get<std::string>().find(
                "Subject: [bastion] BREAK-GLASS: bob got " + d->login() + "@acme-app without consent"),
            std::string::npos);
  // [notify] ending_soon = ["50s"]: 10 s into the 1-minute grant, its holder is warned.
  ASSERT_TRUE(wait_for([&] { return !mails("bob@example.com", "ends in 50s").empty(); }, 20000))
      << read_text(mail_file()) << d->gateway_log();
  EXPECT_NE(mails("bob@example.com", "ends in 50s")[0]["data"].get<std::string>().find(grant), std::string::npos);
  d->ctl_ok({"elevate", "revoke", grant, "--reason", "incident over"});
  ASSERT_TRUE(wait_for([&] { return !mails("bob@example.com", "was revoked").empty(); }, 10000))
      << read_text(mail_file());
  EXPECT_NE(mails("bob@example.com", "was revoked")[0]["data"].get<std::string>().find("Reason: incident over"),
            std::string::npos);
  EXPECT_EQ(mails("bob@example.com", "ends in 50s").size(), 1u);  // warned once
}

// The HR thread's transactions notify too: a mass-leaver file held by the
// circuit breaker reaches [notify] admins with the commands to decide on it.
TEST_F(Notify, AnHrBatchHeldByTheCircuitBreakerTellsTheAdministrators) {
  std::string text;
  for (int i = 0; i < 3; ++i) {
    d->ctl_ok({"user", "add", "hr" + std::to_string(i), "--employee-id", "E70" + std::to_string(i)});
    text += "{\"event_id\":\"notify-mass-" + std::to_string(i) + "\",\"type\":\"leaver\",\"employee_id\":\"E70" +
            std::to_string(i) + "\"}\n";
  }
  const std::string spool = std::filesystem::path(d->config()).parent_path().string() + "/hr";
  write_text(d->dir() + "/mass.part", text);
  std::filesystem::rename(d->dir() + "/mass.part", spool + "/incoming/mass-leavers.jsonl");
  ASSERT_TRUE(wait_for([&] { return !mails("ops@example.com", "circuit breaker").empty(); }, 20000))
      << read_text(mail_file()) << d->gateway_log();
  auto held = json::parse(d->ctl_ok({"hr", "held", "--json"}));
  ASSERT_EQ(held.size(), 1u);
  const std::string batch = held[0]["batch_id"];
  const std::string mail = mails("ops@example.com", "circuit breaker")[0]["data"];
  EXPECT_NE(mail.find("Subject: [bastion] HR batch held by the circuit breaker: " + batch), std::string::npos) << mail;
  EXPECT_NE(mail.find("bastionctl hr release " + batch), std::string::npos) << mail;
  EXPECT_NE(mail.find("bastionctl hr discard " + batch), std::string::npos) << mail;
  d->ctl_ok({"hr", "discard", batch});
}

TEST_F(Notify, AReceiverDownFor30sGetsEveryNotificationOnceInOrderWhileNothingElseWaits) {
  hook->stop();
  const auto down_at = Clock::now();
  std::vector<std::string> reqs;
  for (int i = 0; i < 3; ++i) {
    // A dead receiver holds up neither requests nor decisions.
    auto began = Clock::now();
    reqs.push_back(request("TICKET-50" + std::to_string(i)));
    ASSERT_FALSE(reqs.back().empty());
    d->ctl_ok({"elevate", "deny", reqs.back(), "--reason", "outage test " + std::to_string(i)});
    EXPECT_LT(Clock::now() - began, std::chrono::seconds(5));
  }
  // E-mail goes on meanwhile: one channel's outage does not block another's.
  for (const auto& r : reqs) {
    EXPECT_TRUE(wait_for([&] { return !mails("carol@acme.example", r).empty(); }, 10000)) << r;
  }
  std::this_thread::sleep_for(std::chrono::seconds(30) - (Clock::now() - down_at));
  for (const auto& r : reqs) EXPECT_TRUE(hooks_about(r).empty());
  json pending = notifications({"--state", "pending"});
  EXPECT_GE(pending.size(), 6u) << pending;
  // Each request's first notification has been tried (and failed); its
  // decision waits behind it, untried, to keep their order.
  std::map<std::string, int> tried;
  for (const auto& n : pending) {
    EXPECT_EQ(n["channel"], "webhook:ops");
    tried[n["kind"]] += n["attempts"].get<int>() > 0 ? 1 : 0;
  }
  EXPECT_EQ(tried["request"], 3) << pending;
  EXPECT_EQ(tried["decided"], 0) << pending;
  auto delayed =
      json::parse(d->ctl_ok({"audit", "search", "not delivered yet", "--action", "notify.delayed", "--json"}));
  EXPECT_FALSE(delayed.empty());

  delete hook;
  hook = nullptr;
  start_receiver();
  ASSERT_TRUE(wait_for(
      [&] {
        return notifications({"--state", "pending"}).empty();
      },
      30000))
      << notifications({"--state", "pending"}) << d->gateway_log();
  // Every one of them arrived; after deduplication by key, each once; and
  // within a request, the request before its decision.
  std::set<std::string> keys;
  for (const auto& n : notifications({"--state", "sent"})) {
    if (n["channel"] == "webhook:ops") keys.insert(n["key"]);
  }
  for (const auto& r : reqs) {
    auto got = hooks_about(r);
    std::vector<std::string> kinds;
    std::set<std::string> unique;
    for (const auto& h : got) {
      if (h["duplicate"] == true) continue;
      kinds.push_back(h["body"]["kind"]);
      unique.insert(h["key"]);
      EXPECT_TRUE(keys.contains(h["key"])) << h;
    }
    EXPECT_EQ(kinds, (std::vector<std::string>{"request", "decided"})) << r;
    EXPECT_EQ(unique.size(), 2u);
  }
}

// libcurl and what relays and receivers answer are parsed by a bastiond
// started for the one send, in the connection sandbox, holding only its job.
TEST_F(Notify, EachSendRunsInAFreshSandboxedProcess) {
  const std::string state_dir = d->config().substr(0, d->config().rfind('/'));
  auto job = [&](const std::string& secret) {
    return json{{"channel", "webhook"},
                {"url", "https://localhost:" + std::to_string(hook_port) + "/hook"},
                {"secret", secret},
                {"ca_pem", read_text(d->dir() + "/sink_cert.pem")},
                {"key", "direct-" + secret.substr(0, 4)},
                {"body", R"({"kind":"direct"})"},
                {"now", std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count()}}
        .dump();
  };
  auto ok = run({BASTIOND_PATH, "--deliver-notification", "bastion-notify", state_dir}, {},
                job("a-webhook-key-of-32-characters-xx"));
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  json answer = json::parse(ok.out);
  EXPECT_EQ(answer["ok"], true) << answer;
  const std::string sandbox = answer["sandbox"];
  EXPECT_NE(sandbox.find("seccomp"), std::string::npos) << sandbox;
  if (geteuid() == 0) {
    EXPECT_EQ(sandbox.rfind("user bastion-notify", 0), 0u) << sandbox;
  }
  // The receiver's refusal of a wrong signature comes back as the error.
  auto refused = run({BASTIOND_PATH, "--deliver-notification", "bastion-notify", state_dir}, {},
                     job("not-the-key-the-receiver-has-000"));
  json no = json::parse(refused.out);
  EXPECT_EQ(no["ok"], false);
  EXPECT_EQ(no["error"], "webhook: HTTP 401: bad signature") << no;

  // bastiond --check names the senders' user, and refuses one that does not
  // exist (only root switches users: that check is root's). bastiond's start
  // makes the same check.
  auto checked = run({BASTIOND_PATH, "--config", d->config(), "--check"});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_NE(checked.out.find("notification senders"), std::string::npos) << checked.out;
  if (geteuid() == 0) {
    EXPECT_NE(checked.out.find("each send runs as user bastion-notify"), std::string::npos) << checked.out;
    std::string cfg = read_text(d->config());
    const size_t section = cfg.find("\n[notify] ");
    ASSERT_NE(section, std::string::npos) << cfg;
    cfg.insert(cfg.find('\n', section + 1) + 1, "sender_user = \"no-such-sender\"\n");
    const std::string other = std::filesystem::path(d->config()).parent_path().string() + "/no-sender.toml";
    write_text(other, cfg, 0600);
    auto missing = run({BASTIOND_PATH, "--config", other, "--check"});
    EXPECT_NE(missing.exit_code, 0) << missing.out;
    EXPECT_NE((missing.out + missing.err).find("[notify] sender_user no-such-sender does not exist"), std::string::npos)
        << missing.out << missing.err;
    std::filesystem::remove(other);
  }
}

TEST_F(Notify, ATestNotificationSaysWhatHappenedAndMistakesGetOneLine) {
  auto mail = d->ctl({"notify", "test", "email", "--to", "oncall@example.com"});
  EXPECT_EQ(mail.exit_code, 0) << mail.out << mail.err;
  EXPECT_NE(mail.out.find("delivered by email"), std::string::npos) << mail.out;
  EXPECT_TRUE(wait_for([&] { return !mails("oncall@example.com", "test notification").empty(); }, 5000));
  auto hooked = d->ctl({"notify", "test", "webhook:ops"});
  EXPECT_EQ(hooked.exit_code, 0) << hooked.out << hooked.err;
  auto unknown = d->ctl({"notify", "test", "webhook:nope"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_EQ(unknown.err, "bastionctl: unknown channel 'webhook:nope' (configured: email, webhook:ops)\n");
  auto bad_id = d->ctl({"notify", "retry", "12-1"});
  EXPECT_NE(bad_id.exit_code, 0);
  EXPECT_NE(bad_id.err.find("is not a notification id"), std::string::npos) << bad_id.err;
  auto both = d->ctl({"notify", "retry"});
  EXPECT_NE(both.exit_code, 0);
  auto records = json::parse(d->ctl_ok({"audit", "search", "test notification", "--action", "notify.test", "--json"}));
  EXPECT_EQ(records.size(), 2u) << records;
  // SIGTERM still stops bastiond cleanly: the delivery thread takes no
  // signal (one delivered there would kill the daemon without its shutdown).
  auto stops = [&] {
    const std::string log = d->gateway_log();
    size_t n = 0;
    for (size_t at = log.find("]: stopped\n"); at != std::string::npos; at = log.find("]: stopped\n", at + 1)) ++n;
    return n;
  };
  const size_t before = stops();
  d->restart_bastiond();
  EXPECT_EQ(stops(), before + 1) << d->gateway_log();
}

}  // namespace
}  // namespace bastion::e2e
