#include "common/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "common/database.h"
#include "common/files.h"

namespace bastion {
namespace {

using Table = toml::table;

class Loader {
 public:
  Loader(std::string file, Config& cfg) : file_(std::move(file)), cfg_(cfg) {}

  Status load(const Table& root) {
    static const std::set<std::string> sections = {"gateway", "state",     "ca",        "audit", "upstream",
                                                   "session", "recording", "elevation", "hr",    "mfa",
                                                   "web",     "scim",      "notify"};
    for (auto&& [k, v] : root) {
      std::string key(k.str());
      if (!sections.count(key)) return fail("unknown section [" + key + "]");
      if (!v.is_table()) return fail("'" + key + "' must be a section ([" + key + "])");
    }
    if (auto st = gateway(root); !st) return st;
    if (auto st = state(root); !st) return st;
    if (auto st = ca(root); !st) return st;
    if (auto st = audit(root); !st) return st;
    if (auto st = recording(root); !st) return st;
    if (auto st = upstream(root); !st) return st;
    if (auto st = elevation(root); !st) return st;
    if (auto st = hr(root); !st) return st;
    if (auto st = mfa(root); !st) return st;
    if (auto st = web(root); !st) return st;
    if (auto st = scim(root); !st) return st;
    if (auto st = notify(root); !st) return st;
    return session(root);
  }

 private:
  Status fail(const std::string& what) const { return make_error(file_ + ": " + what); }

  Status check_keys(const Table* t, const std::string& section, const std::set<std::string>& known) {
    if (!t) return {};
    for (auto&& [k, v] : *t) {
      std::string key(k.str());
      if (!known.count(key)) return fail("unknown key '" + key + "' in [" + section + "]");
    }
    return {};
  }

  Status get_string(const Table* t, const std::string& sec, const char* key, std::string& out) {
    if (!t || !t->contains(key)) return {};
    auto v = (*t)[key].value<std::string>();
    if (!v) return fail("[" + sec + "] " + key + " must be a string");
    out = *v;
    return {};
  }

  Status get_int(const Table* t, const std::string& sec, const char* key, int& out, int lo, int hi) {
    if (!t || !t->contains(key)) return {};
    auto v = (*t)[key].value<int64_t>();
    if (!v || *v < lo || *v > hi) {
      return fail("[" + sec + "] " + key + " must be an integer from " + std::to_string(lo) + " to " +
                  std::to_string(hi));
    }
    out = static_cast<int>(*v);
    return {};
  }

  Status get_duration(const Table* t, const std::string& sec, const char* key, Micros& out) {
    std::string text;
    if (auto st = get_string(t, sec, key, text); !st) return st;
    if (text.empty()) return {};
    auto d = parse_duration(text);
    if (!d) return fail("[" + sec + "] " + key + ": " + d.error().message);
    out = *d;
    return {};
  }

  // An integer number of bytes, or a string "N", "NKiB", "NMiB" or "NGiB".
  Status get_size(const Table* t, const std::string& sec, const char* key, uint64_t& out, uint64_t lo) {
    if (!t || !t->contains(key)) return {};
    std::string bad = "[" + sec + "] " + key + " must be a size of at least " + std::to_string(lo) +
                      " bytes: an integer, or a string like \"64MiB\"";
    uint64_t value = 0;
    if (auto n = (*t)[key].value<int64_t>(); n && (*t)[key].is_integer()) {
      if (*n < 0) return fail(bad);
      value = static_cast<uint64_t>(*n);
    } else if (auto text = (*t)[key].value<std::string>()) {
      size_t digits = 0;
      while (digits < text->size() && digits < 12 && std::isdigit(static_cast<unsigned char>((*text)[digits])))
        ++digits;
      std::string unit = text->substr(digits);
      int shift = unit.empty() ? 0 : unit == "KiB" ? 10 : unit == "MiB" ? 20 : unit == "GiB" ? 30 : -1;
      if (digits == 0 || shift < 0) return fail(bad);
      value = std::stoull(text->substr(0, digits)) << shift;
    } else {
      return fail(bad);
    }
    if (value < lo) return fail(bad);
    out = value;
    return {};
  }

  Status get_strings(const Table* t, const std::string& sec, const char* key, std::vector<std::string>& out) {
    if (!t || !t->contains(key)) return {};
    const auto* arr = (*t)[key].as_array();
    if (!arr) return fail("[" + sec + "] " + key + " must be an array of strings");
    out.clear();
    for (auto&& e : *arr) {
      auto s = e.value<std::string>();
      if (!s) return fail("[" + sec + "] " + key + " must be an array of strings");
      out.push_back(*s);
    }
    return {};
  }

  Status gateway(const Table& root) {
    const Table* t = root["gateway"].as_table();
    if (auto st = check_keys(
            t, "gateway",
            {"listen", "host_keys", "login_grace_time", "max_unauthenticated", "max_unauthenticated_per_source",
             "max_queued", "max_queued_per_source", "max_auth_attempts", "auth_backoff_after", "auth_backoff_max",
             "control_socket", "kill_grace", "public_name", "privsep_user", "node_name"});
        !st)
      return st;
    std::string listen;
    if (auto st = get_string(t, "gateway", "listen", listen); !st) return st;
    if (!listen.empty()) {
      if (auto st = parse_host_port(listen, cfg_.listen_host, cfg_.listen_port); !st) {
        return fail("[gateway] listen: " + st.message());
      }
    }
    Status st;
    if (!(st = get_strings(t, "gateway", "host_keys", cfg_.host_keys))) return st;
    if (!(st = get_duration(t, "gateway", "login_grace_time", cfg_.login_grace_time))) return st;
    if (!(st = get_duration(t, "gateway", "kill_grace", cfg_.kill_grace))) return st;
    if (!(st = get_int(t, "gateway", "max_unauthenticated", cfg_.max_unauthenticated, 1, 100000))) return st;
    if (!(st = get_int(t, "gateway", "max_unauthenticated_per_source", cfg_.max_unauthenticated_per_source, 1, 100000)))
      return st;
    if (!(st = get_int(t, "gateway", "max_queued", cfg_.max_queued, 0, 100000))) return st;
    if (!(st = get_int(t, "gateway", "max_queued_per_source", cfg_.max_queued_per_source, 0, 100000))) return st;
    if (!(st = get_int(t, "gateway", "max_auth_attempts", cfg_.max_auth_attempts, 1, 100))) return st;
    if (!(st = get_int(t, "gateway", "auth_backoff_after", cfg_.auth_backoff_after, 0, 1000))) return st;
    if (!(st = get_duration(t, "gateway", "auth_backoff_max", cfg_.auth_backoff_max))) return st;
    if (cfg_.auth_backoff_max < kMicrosPerSecond) return fail("[gateway] auth_backoff_max must be at least 1s");
    if (!(st = get_string(t, "gateway", "public_name", cfg_.public_name))) return st;
    if (!(st = get_string(t, "gateway", "node_name", cfg_.node_name))) return st;
    if (!(st = get_string(t, "gateway", "privsep_user", cfg_.privsep_user))) return st;
    if (cfg_.privsep_user.empty() || cfg_.privsep_user == "root") {
      return fail("[gateway] privsep_user must name an unprivileged user, not \"" + cfg_.privsep_user + "\"");
    }
    return get_string(t, "gateway", "control_socket", cfg_.control_socket);
  }

  Status state(const Table& root) {
    const Table* t = root["state"].as_table();
    if (auto st = check_keys(t, "state", {"dir", "database", "busy_timeout"}); !st) return st;
    if (auto st = get_string(t, "state", "dir", cfg_.state_dir); !st) return st;
    if (auto st = get_duration(t, "state", "busy_timeout", cfg_.busy_timeout); !st) return st;
    return get_string(t, "state", "database", cfg_.database);
  }

  Status ca(const Table& root) {
    const Table* t = root["ca"].as_table();
    if (auto st = check_keys(t, "ca", {"user_ca_key", "certificate_validity"}); !st) return st;
    if (auto st = get_string(t, "ca", "user_ca_key", cfg_.user_ca_key); !st) return st;
    if (auto st = get_duration(t, "ca", "certificate_validity", cfg_.certificate_validity); !st) return st;
    // SECURITY: upstream certificates are bearer credentials for the target;
    // the issue caps their life at 5 minutes.
    if (cfg_.certificate_validity <= 0 || cfg_.certificate_validity > 5 * 60 * kMicrosPerSecond) {
      return fail("[ca] certificate_validity must be between 1s and 5m");
    }
    return {};
  }

  Status audit(const Table& root) {
    const Table* t = root["audit"].as_table();
    if (auto st = check_keys(t, "audit",
                             {"signing_key", "checkpoint_interval", "checkpoint_records", "retention_days", "syslog",
                              "syslog_ca", "syslog_cert", "syslog_key", "syslog_start"});
        !st)
      return st;
    if (auto st = get_string(t, "audit", "signing_key", cfg_.audit_signing_key); !st) return st;
    if (auto st = syslog(t); !st) return st;
    if (auto st = get_duration(t, "audit", "checkpoint_interval", cfg_.checkpoint_interval); !st) return st;
    if (auto st = get_int(t, "audit", "retention_days", cfg_.retention_days, 1, 100 * 366); !st) return st;
    return get_int(t, "audit", "checkpoint_records", cfg_.checkpoint_records, 1, 10'000'000);
  }

  Status syslog(const Table* t) {
    for (auto [key, out] : {std::pair{"syslog", &cfg_.syslog}, std::pair{"syslog_ca", &cfg_.syslog_ca},
                            std::pair{"syslog_cert", &cfg_.syslog_cert}, std::pair{"syslog_key", &cfg_.syslog_key}}) {
      if (auto st = get_string(t, "audit", key, *out); !st) return st;
    }
    std::string start = "oldest";
    if (auto st = get_string(t, "audit", "syslog_start", start); !st) return st;
    if (start != "oldest" && start != "newest") return fail("[audit] syslog_start must be \"oldest\" or \"newest\"");
    cfg_.syslog_from_oldest = start == "oldest";
    const std::string& s = cfg_.syslog;
    if (!s.empty() && !s.starts_with("udp://") && !s.starts_with("tcp://") && !s.starts_with("tls://") &&
        !s.starts_with("unix:")) {
      return fail(
          "[audit] syslog must be \"udp://HOST:PORT\", \"tcp://HOST:PORT\", \"tls://HOST:PORT\" or \"unix:PATH\"");
    }
    bool tls_files = !cfg_.syslog_ca.empty() || !cfg_.syslog_cert.empty() || !cfg_.syslog_key.empty();
    if (tls_files && !s.starts_with("tls://"))
      return fail("[audit] syslog_ca, syslog_cert and syslog_key need a tls:// syslog");
    if (cfg_.syslog_cert.empty() != cfg_.syslog_key.empty()) {
      return fail("[audit] syslog_cert and syslog_key go together (mutual TLS)");
    }
    return {};
  }

  Status recording(const Table& root) {
    const Table* t = root["recording"].as_table();
    if (auto st = check_keys(
            t, "recording",
            {"dir", "record_input", "flush_interval", "digest_interval", "encrypt_to", "compress", "sftp_content"});
        !st)
      return st;
    if (auto st = get_string(t, "recording", "dir", cfg_.recording_dir); !st) return st;
    if (auto st = get_string(t, "recording", "encrypt_to", cfg_.encrypt_to); !st) return st;
    if (t && t->contains("record_input")) {
      auto v = (*t)["record_input"].value<bool>();
      if (!v) return fail("[recording] record_input must be true or false");
      cfg_.record_input = *v;
    }
    if (t && t->contains("compress")) {
      auto v = (*t)["compress"].value<bool>();
      if (!v) return fail("[recording] compress must be true or false");
      cfg_.compress = *v;
    }
    if (t && t->contains("sftp_content")) {
      auto v = (*t)["sftp_content"].value<bool>();
      if (!v) return fail("[recording] sftp_content must be true or false");
      cfg_.sftp_content = *v;
    }
    if (auto st = get_duration(t, "recording", "flush_interval", cfg_.flush_interval); !st) return st;
    if (cfg_.flush_interval <= 0 || cfg_.flush_interval > kMicrosPerSecond) {
      return fail("[recording] flush_interval must be between 1ms and 1s");
    }
    return get_duration(t, "recording", "digest_interval", cfg_.digest_interval);
  }

  Status upstream(const Table& root) {
    const Table* t = root["upstream"].as_table();
    if (auto st = check_keys(t, "upstream", {"connect_timeout", "egress_addresses"}); !st) return st;
    if (auto st = get_strings(t, "upstream", "egress_addresses", cfg_.egress_addresses); !st) return st;
    for (const auto& a : cfg_.egress_addresses) {
      if (!is_address_or_cidr(a)) {
        return fail("[upstream] egress_addresses: '" + a + "' is not an IP address or CIDR block");
      }
    }
    return get_duration(t, "upstream", "connect_timeout", cfg_.connect_timeout);
  }

  Status session(const Table& root) {
    const Table* t = root["session"].as_table();
    if (auto st = check_keys(t, "session", {"env_allow"}); !st) return st;
    return get_strings(t, "session", "env_allow", cfg_.env_allow);
  }

  Status mfa(const Table& root) {
    const Table* t = root["mfa"].as_table();
    if (auto st = check_keys(t, "mfa", {"require_attestation", "allow_none_attestation", "step_up_timeout"}); !st)
      return st;
    for (auto [name, field] : {std::pair{"require_attestation", &cfg_.require_attestation},
                               std::pair{"allow_none_attestation", &cfg_.allow_none_attestation}}) {
      if (t && t->contains(name)) {
        auto v = (*t)[name].value<bool>();
        if (!v) return fail(std::string("[mfa] ") + name + " must be true or false");
        *field = *v;
      }
    }
    if (auto st = get_duration(t, "mfa", "step_up_timeout", cfg_.step_up_timeout); !st) return st;
    if (cfg_.step_up_timeout < 10 * kMicrosPerSecond || cfg_.step_up_timeout > 600 * kMicrosPerSecond) {
      return fail("[mfa] step_up_timeout must be between 10s and 10m");
    }
    return {};
  }

  Status web(const Table& root) {
    const Table* t = root["web"].as_table();
    if (auto st = check_keys(t, "web",
                             {"public_url", "listen", "tls_cert", "tls_key", "privsep_user", "max_connections",
                              "max_connections_per_source", "max_watches", "metrics_listen", "tell_watched"});
        !st)
      return st;
    if (auto st = get_string(t, "web", "public_url", cfg_.public_url); !st) return st;
    if (!cfg_.public_url.empty()) {
      const std::string& u = cfg_.public_url;
      if (u.rfind("https://", 0) != 0 || u.size() <= 8 || u.find_first_of("/?#@ ", 8) != std::string::npos) {
        return fail("[web] public_url must be https://HOST or https://HOST:PORT (no path)");
      }
    }
    std::string listen;
    if (auto st = get_string(t, "web", "listen", listen); !st) return st;
    if (!listen.empty()) {
      if (auto st = parse_host_port(listen, cfg_.web_listen_host, cfg_.web_listen_port); !st) {
        return fail("[web] listen: " + st.message());
      }
    }
    std::string metrics;
    if (auto st = get_string(t, "web", "metrics_listen", metrics); !st) return st;
    if (!metrics.empty()) {
      if (auto st = parse_host_port(metrics, cfg_.metrics_listen_host, cfg_.metrics_listen_port); !st) {
        return fail("[web] metrics_listen: " + st.message());
      }
      if (cfg_.metrics_listen_host == cfg_.web_listen_host && cfg_.metrics_listen_port == cfg_.web_listen_port) {
        return fail("[web] metrics_listen must differ from [web] listen");
      }
    }
    if (auto st = get_string(t, "web", "tls_cert", cfg_.tls_cert); !st) return st;
    if (auto st = get_string(t, "web", "privsep_user", cfg_.web_privsep_user); !st) return st;
    if (cfg_.web_privsep_user.empty() || cfg_.web_privsep_user == "root") {
      return fail("[web] privsep_user must name an unprivileged user, not \"" + cfg_.web_privsep_user + "\"");
    }
    if (auto st = get_int(t, "web", "max_connections", cfg_.web_max_connections, 1, 100000); !st) return st;
    if (auto st = get_int(t, "web", "max_connections_per_source", cfg_.web_max_connections_per_source, 1, 100000);
        !st) {
      return st;
    }
    if (cfg_.web_max_connections_per_source > cfg_.web_max_connections) {
      return fail("[web] max_connections_per_source must not exceed max_connections");
    }
    if (auto st = get_int(t, "web", "max_watches", cfg_.web_max_watches, 0, 10000); !st) return st;
    if (t && t->contains("tell_watched")) {
      auto v = (*t)["tell_watched"].value<bool>();
      if (!v) return fail("[web] tell_watched must be true or false");
      cfg_.tell_watched = *v;
    }
    return get_string(t, "web", "tls_key", cfg_.tls_key);
  }

  Status elevation(const Table& root) {
    const Table* t = root["elevation"].as_table();
    if (auto st = check_keys(t, "elevation", {"request_ttl", "max_grant", "break_glass_max"}); !st) return st;
    Status st;
    if (!(st = get_duration(t, "elevation", "request_ttl", cfg_.request_ttl))) return st;
    if (!(st = get_duration(t, "elevation", "max_grant", cfg_.max_grant))) return st;
    if (!(st = get_duration(t, "elevation", "break_glass_max", cfg_.break_glass_max))) return st;
    for (auto [name, v] : {std::pair{"request_ttl", cfg_.request_ttl}, std::pair{"max_grant", cfg_.max_grant},
                           std::pair{"break_glass_max", cfg_.break_glass_max}}) {
      if (v < kMicrosPerSecond) return fail(std::string("[elevation] ") + name + " must be at least 1s");
    }
    return {};
  }

  Status scim(const Table& root) {
    const Table* t = root["scim"].as_table();
    if (auto st = check_keys(t, "scim", {"requests_per_second", "groups"}); !st) return st;
    if (auto st = get_int(t, "scim", "requests_per_second", cfg_.scim_requests_per_second, 1, 100000); !st) return st;
    if (!t || !t->contains("groups")) return {};
    const Table* g = (*t)["groups"].as_table();
    if (!g) return fail("[scim.groups] must be a table: \"GROUP NAME\" = [\"role\", ...]");
    for (auto&& [k, v] : *g) {
      std::string group(k.str());
      if (auto st = get_strings(g, "scim.groups", group.c_str(), cfg_.scim_group_roles[group]); !st) return st;
    }
    return {};
  }

  Status notify_routes(const Table* t, const std::string& sec, std::map<std::string, std::vector<std::string>>& out) {
    const auto& kinds = notify_kinds();
    for (auto&& [k, v] : *t) {
      std::string kind(k.str());
      if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
        std::string all;
        for (const auto& x : kinds) all += (all.empty() ? "" : ", ") + x;
        return fail("[" + sec + "] " + kind + ": unknown event kind (one of " + all + ")");
      }
      if (auto st = get_strings(t, sec, kind.c_str(), out[kind]); !st) return st;
      for (const auto& ch : out[kind]) {
        if (ch == "email") {
          if (cfg_.smtp_url.empty()) return fail("[" + sec + "] " + kind + ": \"email\" needs [notify.email] smtp_url");
        } else if (ch.rfind("webhook:", 0) != 0 || !cfg_.notify_webhooks.count(ch.substr(8))) {
          return fail("[" + sec + "] " + kind + ": \"" + ch +
                      "\" is not a channel (\"email\", or \"webhook:NAME\" of a [notify.webhooks.NAME])");
        }
      }
    }
    return {};
  }

  static bool local_url(const std::string& url) {
    auto rest = url.substr(url.find("://") + 3);
    return rest.rfind("localhost", 0) == 0 || rest.rfind("127.", 0) == 0 || rest.rfind("[::1]", 0) == 0;
  }

  Status notify(const Table& root) {
    const Table* t = root["notify"].as_table();
    if (!t) return {};
    if (auto st = check_keys(t, "notify",
                             {"ending_soon", "security", "admins", "give_up_after", "retry_max", "sender_user", "email",
                              "webhooks", "routes", "customers"});
        !st)
      return st;
    if (auto st = get_string(t, "notify", "sender_user", cfg_.notify_sender_user); !st) return st;
    // SECURITY: the senders parse what relays and receivers answer; a
    // compromised one must not share a user with connection processes or
    // the web process.
    if (cfg_.notify_sender_user.empty() || cfg_.notify_sender_user == "root" ||
        cfg_.notify_sender_user == cfg_.privsep_user || cfg_.notify_sender_user == cfg_.web_privsep_user) {
      return fail("[notify] sender_user must name an unprivileged user of its own, not \"" + cfg_.notify_sender_user +
                  "\" (not root, [gateway] privsep_user or [web] privsep_user)");
    }
    if (t->contains("ending_soon")) {
      std::vector<std::string> texts;
      if (auto st = get_strings(t, "notify", "ending_soon", texts); !st) return st;
      cfg_.notify_ending_soon.clear();
      for (const auto& x : texts) {
        auto d = parse_duration(x);
        if (!d || *d < kMicrosPerSecond)
          return fail("[notify] ending_soon: \"" + x + "\" is not a duration of 1s or more");
        cfg_.notify_ending_soon.push_back(*d);
      }
    }
    if (auto st = get_strings(t, "notify", "security", cfg_.notify_security); !st) return st;
    if (auto st = get_strings(t, "notify", "admins", cfg_.notify_admins); !st) return st;
    for (const auto* list : {&cfg_.notify_security, &cfg_.notify_admins}) {
      for (const auto& a : *list) {
        if (a.find('@') == std::string::npos || a.find_first_of(" <>,;\r\n") != std::string::npos) {
          return fail("[notify] \"" + a.substr(0, 64) + "\" is not an e-mail address");
        }
      }
    }
    if (auto st = get_duration(t, "notify", "give_up_after", cfg_.notify_give_up); !st) return st;
    if (cfg_.notify_give_up < 60 * kMicrosPerSecond) return fail("[notify] give_up_after must be at least 1m");
    if (auto st = get_duration(t, "notify", "retry_max", cfg_.notify_retry_max); !st) return st;
    if (cfg_.notify_retry_max < kMicrosPerSecond) return fail("[notify] retry_max must be at least 1s");
    if (const Table* e = (*t)["email"].as_table()) {
      if (auto st =
              check_keys(e, "notify.email", {"smtp_url", "starttls", "from", "username", "password_file", "ca_file"});
          !st)
        return st;
      for (auto [key, out] : {std::pair{"smtp_url", &cfg_.smtp_url},
                              {"from", &cfg_.smtp_from},
                              {"username", &cfg_.smtp_username},
                              {"password_file", &cfg_.smtp_password_file},
                              {"ca_file", &cfg_.smtp_ca_file}}) {
        if (auto st = get_string(e, "notify.email", key, *out); !st) return st;
      }
      if (e->contains("starttls")) {
        auto b = (*e)["starttls"].value<bool>();
        if (!b) return fail("[notify.email] starttls must be true or false");
        cfg_.smtp_starttls = *b;
      }
      if (cfg_.smtp_url.rfind("smtp://", 0) != 0 && cfg_.smtp_url.rfind("smtps://", 0) != 0) {
        return fail("[notify.email] smtp_url must be smtp://HOST:PORT (STARTTLS) or smtps://HOST:PORT");
      }
      if (!cfg_.smtp_starttls && cfg_.smtp_url.rfind("smtp://", 0) == 0 && !local_url(cfg_.smtp_url)) {
        return fail("[notify.email] starttls = false is only for a relay on this host (localhost, 127.0.0.1, ::1)");
      }
      if (cfg_.smtp_from.find('@') == std::string::npos ||
          cfg_.smtp_from.find_first_of(" <>,;\r\n") != std::string::npos) {
        return fail("[notify.email] from must be an e-mail address");
      }
      if (!cfg_.smtp_username.empty() && cfg_.smtp_password_file.empty()) {
        return fail("[notify.email] username needs password_file");
      }
    } else if (t->contains("email")) {
      return fail("[notify.email] must be a table");
    }
    if (t->contains("webhooks")) {
      const Table* w = (*t)["webhooks"].as_table();
      if (!w) return fail("[notify.webhooks] must hold tables: [notify.webhooks.NAME] url = \"https://...\"");
      for (auto&& [k, v] : *w) {
        std::string name(k.str());
        std::string sec = "notify.webhooks." + name;
        const Table* h = v.as_table();
        if (!h) return fail("[" + sec + "] must be a table");
        if (name.empty() || name.size() > 64 ||
            name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
                std::string::npos) {
          return fail("[notify.webhooks] \"" + name.substr(0, 64) + "\": a name is 1-64 of A-Z a-z 0-9 . _ -");
        }
        if (auto st = check_keys(h, sec, {"url", "secret_file", "format", "ca_file"}); !st) return st;
        Config::NotifyWebhook hook;
        for (auto [key, out] : {std::pair{"url", &hook.url},
                                {"secret_file", &hook.secret_file},
                                {"format", &hook.format},
                                {"ca_file", &hook.ca_file}}) {
          if (auto st = get_string(h, sec, key, *out); !st) return st;
        }
        if (hook.url.rfind("https://", 0) != 0) return fail("[" + sec + "] url must be https://...");
        if (hook.secret_file.empty()) return fail("[" + sec + "] secret_file is required (the HMAC-SHA256 key)");
        if (hook.format != "json" && hook.format != "slack" && hook.format != "teams") {
          return fail("[" + sec + "] format must be \"json\", \"slack\" or \"teams\"");
        }
        cfg_.notify_webhooks[name] = hook;
      }
    }
    if (t->contains("routes")) {
      const Table* r = (*t)["routes"].as_table();
      if (!r) return fail("[notify.routes] must be a table: KIND = [\"email\", \"webhook:NAME\"]");
      if (auto st = notify_routes(r, "notify.routes", cfg_.notify_routes); !st) return st;
    }
    if (t->contains("customers")) {
      const Table* c = (*t)["customers"].as_table();
      if (!c) return fail("[notify.customers] must hold tables: [notify.customers.NAME] KIND = [...]");
      for (auto&& [k, v] : *c) {
        std::string name(k.str());
        const Table* r = v.as_table();
        if (!r) return fail("[notify.customers." + name + "] must be a table");
        if (auto st = notify_routes(r, "notify.customers." + name, cfg_.notify_customer_routes[name]); !st) return st;
      }
    }
    return {};
  }

  Status hr(const Table& root) {
    const Table* t = root["hr"].as_table();
    if (auto st = check_keys(
            t, "hr", {"spool", "max_leaver_share", "leaver_floor", "breaker_window", "max_file_size", "departments"});
        !st)
      return st;
    if (auto st = get_string(t, "hr", "spool", cfg_.hr_spool); !st) return st;
    if (auto st = get_int(t, "hr", "leaver_floor", cfg_.leaver_floor, 0, 1000000); !st) return st;
    if (auto st = get_duration(t, "hr", "breaker_window", cfg_.breaker_window); !st) return st;
    if (auto st = get_size(t, "hr", "max_file_size", cfg_.hr_max_file_size, 1); !st) return st;
    if (t && t->contains("max_leaver_share")) {
      auto v = (*t)["max_leaver_share"].value<double>();
      if (!v || *v < 0.0 || *v > 1.0) return fail("[hr] max_leaver_share must be a number from 0 to 1 (0.1 = 10%)");
      cfg_.max_leaver_share = *v;
    }
    if (!t || !t->contains("departments")) return {};
    const Table* d = (*t)["departments"].as_table();
    if (!d) return fail("[hr.departments] must be a table: DEPARTMENT = [\"role\", ...]");
    for (auto&& [k, v] : *d) {
      std::string dept(k.str());
      if (auto st = get_strings(d, "hr.departments", dept.c_str(), cfg_.department_roles[dept]); !st) return st;
    }
    return {};
  }

  std::string file_;
  Config& cfg_;
};

}  // namespace

bool is_address_or_cidr(const std::string& text) {
  std::string addr = text;
  int max_prefix = -1;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos) return false;
    max_prefix = std::stoi(bits);
  }
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) return max_prefix <= 32;
  if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) return max_prefix <= 128;
  return false;
}

Status parse_host_port(const std::string& text, std::string& host, uint16_t& port) {
  std::string h, p;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return make_error("expected [IPV6]:PORT, got '" + text + "'");
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      h = text;
      p = "22";
    } else {
      h = text.substr(0, colon);
      p = text.substr(colon + 1);
    }
  }
  if (h.empty()) return make_error("missing host in '" + text + "'");
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos || std::stoi(p) < 1 ||
      std::stoi(p) > 65535) {
    return make_error("invalid port in '" + text + "'");
  }
  host = h;
  port = static_cast<uint16_t>(std::stoi(p));
  return {};
}

Result<Config> load_config(const std::string& path) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(path, ec).lexically_normal().string();
  auto text = read_file(abs, 1 << 20);
  if (!text) return make_error("cannot read config: " + text.error().message);
  Config cfg;
  cfg.config_path = abs;
  toml::table root;
  try {
    root = toml::parse(*text, abs);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << abs << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    return make_error(os.str());
  }
  Loader loader(abs, cfg);
  if (auto st = loader.load(root); !st) return st.error();
  std::string base = std::filesystem::path(abs).parent_path().string();
  cfg.state_dir = resolve_path(base, cfg.state_dir.empty() ? "." : cfg.state_dir);
  if (cfg.host_keys.empty()) cfg.host_keys = {"ssh_host_ed25519_key"};
  for (auto& k : cfg.host_keys) k = resolve_path(cfg.state_dir, k);
  if (!Database::is_postgres(cfg.database)) {
    cfg.database = resolve_path(cfg.state_dir, cfg.database.empty() ? "bastion.db" : cfg.database);
  }
  cfg.user_ca_key = resolve_path(cfg.state_dir, cfg.user_ca_key.empty() ? "user_ca_key" : cfg.user_ca_key);
  if (cfg.node_name.empty()) {
    char host[256] = {};
    cfg.node_name =
        std::string(gethostname(host, sizeof host - 1) == 0 ? host : "gateway") + ":" + std::to_string(cfg.listen_port);
  }
  if (cfg.public_name.empty()) {
    cfg.public_name = cfg.listen_host;
    if (cfg.listen_host == "0.0.0.0" || cfg.listen_host == "::") {
      char host[256] = {};
      cfg.public_name = gethostname(host, sizeof host - 1) == 0 ? host : "gateway";
    }
  }
  cfg.audit_signing_key =
      resolve_path(cfg.state_dir, cfg.audit_signing_key.empty() ? "audit_signing_key" : cfg.audit_signing_key);
  if (!cfg.encrypt_to.empty()) cfg.encrypt_to = resolve_path(cfg.state_dir, cfg.encrypt_to);
  for (auto* p : {&cfg.syslog_ca, &cfg.syslog_cert, &cfg.syslog_key}) {
    if (!p->empty()) *p = resolve_path(cfg.state_dir, *p);
  }
  cfg.syslog_cursor = resolve_path(cfg.state_dir, "syslog.cursor");
  cfg.hr_spool = resolve_path(cfg.state_dir, cfg.hr_spool.empty() ? "hr" : cfg.hr_spool);
  cfg.tls_cert = resolve_path(cfg.state_dir, cfg.tls_cert.empty() ? "web_cert.pem" : cfg.tls_cert);
  cfg.tls_key = resolve_path(cfg.state_dir, cfg.tls_key.empty() ? "web_key.pem" : cfg.tls_key);
  cfg.recording_dir = resolve_path(cfg.state_dir, cfg.recording_dir.empty() ? "recordings" : cfg.recording_dir);
  cfg.control_socket = resolve_path(cfg.state_dir, cfg.control_socket.empty() ? "bastiond.sock" : cfg.control_socket);
  return cfg;
}

Result<std::string> locate_config(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("BASTION_CONFIG"); env && *env) return std::string(env);
  if (file_exists(kPackagedConfig)) return std::string(kPackagedConfig);
  return make_error(std::string("no configuration: pass --config FILE, set BASTION_CONFIG, or create ") +
                    kPackagedConfig);
}

namespace {
// The web listen address init writes: loopback, on public_url's port (8443 by default).
std::string web_listen_for(const std::string& public_url) {
  std::string port = "8443";
  if (public_url.rfind("https://", 0) == 0) {
    std::string rest = public_url.substr(8);
    auto colon = rest.rfind(':');
    if (colon != std::string::npos && rest.find(']', colon) == std::string::npos) port = rest.substr(colon + 1);
    else port = "443";
  }
  return "127.0.0.1:" + port;
}
}  // namespace

std::string default_config_text(const std::string& listen, const std::string& public_url, const std::string& database) {
  std::string database_line = database.empty()
                                  ? "database = \"bastion.db\"                # SQLite (WAL) file; or postgresql://... "
                                    "shared by several gateways\n"
                                  : "database = \"" + database + "\"   # PostgreSQL, shared by every gateway node\n";
  return "# bastion gateway configuration (written by `bastionctl init`).\n"
         "# Relative paths are relative to [state] dir, which defaults to this file's folder.\n\n"
         "[gateway]\n"
         "listen = \"" +
         listen +
         "\"            # HOST:PORT for SSH clients\n"
         "host_keys = [\"ssh_host_ed25519_key\"]   # the gateway's own SSH host keys\n"
         "login_grace_time = \"30s\"              # time allowed from connect to successful login\n"
         "max_unauthenticated = 1024              # pre-auth connections (processes of ~0.5 MiB) in total\n"
         "max_unauthenticated_per_source = 512    # ... per source address (an automation controller's burst)\n"
         "max_queued = 1024                       # connections over those caps wait (not refused), up to this many\n"
         "max_queued_per_source = 512             # ... and this many per source (an automation controller's burst)\n"
         "max_auth_attempts = 6                   # signed publickey attempts per connection\n"
         "auth_backoff_after = 3                  # failed logins per source address (or key) before back-off; 0: off\n"
         "auth_backoff_max = \"60s\"               # back-off doubles from 1s up to this\n"
         "control_socket = \"bastiond.sock\"       # for bastionctl (mode 0600)\n"
         "kill_grace = \"2s\"                      # wait after asking a session to end before SIGKILL\n"
         "# public_name = \"gw.example.com\"       # how users address the gateway (used in hints)\n"
         "# node_name = \"gw1\"                    # this gateway among several on one database (default HOST:PORT)\n"
         "# privsep_user = \"bastion-session\"     # connection processes run as this user when bastiond is root\n\n"
         "[state]\n" +
         database_line +
         "busy_timeout = \"5s\"                    # how long to wait for a locked database, then deny\n\n"
         "[ca]\n"
         "user_ca_key = \"user_ca_key\"            # signs upstream login certificates (mode 0600)\n"
         "certificate_validity = \"5m\"            # upstream certificate lifetime, at most 5m\n\n"
         "[audit]\n"
         "signing_key = \"audit_signing_key\"     # signs audit checkpoints (mode 0600)\n"
         "checkpoint_interval = \"60s\"           # sign new audit records at least this often\n"
         "checkpoint_records = 1000               # ... or after this many new records\n"
         "retention_days = 400                    # audit records and recordings older than this are purged\n"
         "# syslog = \"udp://127.0.0.1:514\"       # also send every record (RFC 5424) to a collector\n"
         "# syslog_ca = \"syslog_ca.pem\"          # tls:// only: CA of the collector (default: system trust store)\n\n"
         "[recording]\n"
         "dir = \"recordings\"                    # terminals: asciicast v2 (.cast); other channels: byte-exact "
         ".stream\n"
         "record_input = true                     # record keystrokes (\"i\" events)\n"
         "flush_interval = \"1s\"                 # a crash loses at most this much recording\n"
         "digest_interval = \"10s\"               # chain digests of new recording bytes into the audit log\n"
         "# encrypt_to = \"reviewer.pub\"          # encrypt recordings to this reviewer key (bastionctl recording "
         "keygen)\n"
         "compress = true                         # zstd-compress non-terminal (.stream) recordings, then encrypt\n"
         "sftp_content = false                    # also record sftp/scp channels byte-exact (file contents: "
         "sessions export --file)\n\n"
         "[upstream]\n"
         "connect_timeout = \"10s\"\n"
         "# egress_addresses = [\"192.0.2.10\"]    # certificates' source-address; default: the address each upstream\n"
         "                                        # connection was made from\n\n"
         "[session]\n"
         "env_allow = [\"LANG\", \"LC_*\"]           # client environment passed to targets\n\n"
         "[elevation]\n"
         "request_ttl = \"1h\"                    # pending elevation requests expire after this\n"
         "max_grant = \"8h\"                      # no grant lasts longer (roles may set less)\n"
         "break_glass_max = \"30m\"               # longest emergency grant without consent\n\n"
         "[mfa]\n"
         "require_attestation = true             # people's SSH keys must come with a verified attestation (key add "
         "--attestation)\n"
         "allow_none_attestation = false         # accept WebAuthn registrations that carry no attestation\n"
         "step_up_timeout = \"120s\"              # how long a login waits for the WebAuthn step-up\n\n"
         "[web]                                  # HTTPS for WebAuthn registration (user invite) and step-up\n" +
         (public_url.empty()
              ? std::string("# public_url = \"https://gw.example.com:8443\"  # how browsers reach it; its host is the "
                            "WebAuthn RP ID\n")
              : "public_url = \"" + public_url + "\"  # how browsers reach it; its host is the WebAuthn RP ID\n") +
         "listen = \"" + web_listen_for(public_url) +
         "\"\n"
         "tls_cert = \"web_cert.pem\"             # init makes a self-signed pair; use a real certificate in "
         "production\n"
         "tls_key = \"web_key.pem\"\n"
         "# privsep_user = \"bastion-web\"         # the web process runs as this user when bastiond is root\n"
         "max_connections = 64                    # open HTTPS connections in total (more are closed at once)\n"
         "max_connections_per_source = 8          # ... per client address (a slowloris takes only its share; "
         "each console watcher holds one)\n"
         "max_watches = 100                       # live watches at once (0: none), each a connection and a worker "
         "beyond max_connections\n"
         "tell_watched = true                     # tell a person when someone watches their session in the console\n"
         "# metrics_listen = \"127.0.0.1:9187\"   # plain HTTP: GET /healthz (load balancers), GET /metrics "
         "(Prometheus)\n\n"
         "[hr]\n"
         "spool = \"hr\"                          # drop HR files (JSONL or CSV) into hr/incoming by rename\n"
         "max_leaver_share = 0.1                  # hold a file that makes more leavers than this share of active "
         "people\n"
         "leaver_floor = 2                        # ... unless it makes at most this many leavers\n"
         "breaker_window = \"1h\"                 # ... counting the leavers of every file and snapshot within this "
         "window\n"
         "max_file_size = \"64MiB\"               # larger files (and anything but a regular file) are rejected\n\n"
         "[hr.departments]                        # department -> roles HR gives (joiners and movers)\n"
         "# SRE = [\"ops\"]\n"
         "# Support = [\"support\"]\n\n"
         "[scim]                                  # SCIM 2.0 provisioning at PUBLIC_URL/scim/v2 (bastionctl scim token "
         "add NAME)\n"
         "requests_per_second = 50                # per provisioning client (twice that in a burst); more get 429\n\n"
         "[scim.groups]                           # provider group (displayName) -> roles; removal from every mapped "
         "group is a leaver\n"
         "# \"SRE on call\" = [\"ops\"]\n\n"
         "[notify]                                # notifications (bastionctl notify list|retry|test)\n"
         "ending_soon = [\"10m\", \"1m\"]           # warn a grant's holder this long before it ends\n"
         "# security = [\"security@example.com\"]  # told of break-glass use and audit alerts\n"
         "# admins = [\"ops@example.com\"]         # told of HR batches held by the circuit breaker\n"
         "give_up_after = \"24h\"                 # undelivered this long: failed (bastionctl notify retry)\n"
         "retry_max = \"5m\"                      # the longest wait between attempts (1s, 2s, 4s, ... up to this)\n"
         "# sender_user = \"bastion-notify\"      # each send runs in a sandboxed process as this user when bastiond "
         "is root\n\n"
         "# [notify.email]                        # e-mail through an SMTP relay\n"
         "# smtp_url = \"smtp://mail.example.com:587\"   # STARTTLS required; smtps://HOST:465 for TLS from the start\n"
         "# from = \"bastion@example.com\"\n"
         "# username = \"bastion\"                # and password_file (mode 0600)\n"
         "# password_file = \"/etc/bastion/smtp.password\"\n\n"
         "# [notify.webhooks.chat]                # a signed JSON POST (X-Bastion-Signature)\n"
         "# url = \"https://hooks.example.com/bastion\"\n"
         "# secret_file = \"/etc/bastion/chat.secret\"\n"
         "# format = \"json\"                      # or \"slack\", \"teams\"\n\n"
         "# [notify.routes]                       # kind -> channels; unlisted kinds go to e-mail when it is set\n"
         "# request = [\"email\", \"webhook:chat\"]  # kinds: request decided expired grant_start grant_ending\n"
         "#                                       #        grant_revoked break_glass hr_held audit_alert\n";
}

const std::vector<std::string>& notify_kinds() {
  static const std::vector<std::string> kinds = {"request",     "decided",      "expired",
                                                 "grant_start", "grant_ending", "grant_revoked",
                                                 "break_glass", "hr_held",      "audit_alert"};
  return kinds;
}

std::vector<std::string> Config::notify_channels(const std::string& kind, const std::string& customer) const {
  if (!customer.empty()) {
    auto c = notify_customer_routes.find(customer);
    if (c != notify_customer_routes.end()) {
      auto r = c->second.find(kind);
      if (r != c->second.end()) return r->second;
    }
  }
  auto r = notify_routes.find(kind);
  if (r != notify_routes.end()) return r->second;
  if (!smtp_url.empty()) return {"email"};
  return {};
}

}  // namespace bastion
