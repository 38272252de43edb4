// bastion.toml: the gateway configuration.
//
// Contract: load_config() either returns a fully validated Config or an error
// naming the file, the key and what is wrong; unknown keys are errors (a typo
// must not silently fall back to a default). Relative paths are resolved
// against the directory that holds the config file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace bastion {

struct Config {
  std::string config_path;  // absolute path of the file this came from
  std::string state_dir;    // [state] dir; default: the config file's directory

  // [gateway]
  std::string listen_host = "127.0.0.1";  // listen = "HOST:PORT", default 127.0.0.1:2200
  uint16_t listen_port = 2200;
  std::vector<std::string> host_keys;               // default ["ssh_host_ed25519_key"] in state dir
  Micros login_grace_time = 30 * kMicrosPerSecond;  // login_grace_time, default "30s"
  // Pre-auth connections (each a process of about 0.5 MiB) in total and per
  // source address. Sized so that a burst of 500 logins from one automation
  // controller gets its SSH banners at once: clients' connect timeouts (10 s
  // in Ansible) cover the banner exchange, which a waiting connection lacks.
  int max_unauthenticated = 1024;
  int max_unauthenticated_per_source = 512;
  // Connections over the two caps above wait, accepted but not yet served,
  // until a pre-auth slot frees (or login_grace_time passes); beyond these
  // bounds they are refused. 0: refuse at once.
  int max_queued = 1024;
  int max_queued_per_source = 512;
  int max_auth_attempts = 6;                        // signed publickey attempts per connection, default 6
  int auth_backoff_after = 3;                       // failed logins per source (or per key) before back-off; 0: off
  Micros auth_backoff_max = 60 * kMicrosPerSecond;  // back-off doubles from 1s up to this, default "60s"
  std::string control_socket;                       // default "bastiond.sock" in state dir
  std::string public_name;  // how users address the gateway in examples; default: listen host, or this machine's host
  std::string node_name;    // this gateway among several on one database; default: this machine's host name:listen port
                            // name for a wildcard listen
  Micros kill_grace = 2 * kMicrosPerSecond;  // kill_grace: wait before SIGKILL, default "2s"
  // The unprivileged user connection processes run as when bastiond runs as
  // root (not root: they keep bastiond's uid). The packaging creates it.
  std::string privsep_user = "bastion-session";

  // [state]
  std::string database;                        // default "bastion.db" in state dir, or a postgresql:// URL
  Micros busy_timeout = 5 * kMicrosPerSecond;  // wait for a locked database, default "5s"

  // [ca]
  std::string user_ca_key;                                  // default "user_ca_key" in state dir (mode 0600)
  Micros certificate_validity = 5 * 60 * kMicrosPerSecond;  // default "5m", max "5m"

  // [audit]
  std::string audit_signing_key;                       // default "audit_signing_key" in state dir (mode 0600)
  Micros checkpoint_interval = 60 * kMicrosPerSecond;  // sign new records at least this often, default "60s"
  int checkpoint_records = 1000;                       // ... or after this many new records, default 1000
  int retention_days = 400;                            // keep audit records and recordings this long, default 400
  // Forward records as RFC 5424; default "" (off). "udp://HOST:PORT" or
  // "unix:/dev/log": fire-and-forget datagrams. "tcp://HOST:PORT" (RFC 6587
  // octet counting) or "tls://HOST:PORT" (RFC 5425): at least once, in order,
  // resuming from the cursor file syslog.cursor in the state dir.
  std::string syslog;
  std::string syslog_ca;    // tls: PEM CA file for the collector; default "": system trust store
  std::string syslog_cert;  // tls: client certificate (PEM) for mutual TLS; default "": none
  std::string syslog_key;   // tls: its private key (PEM); required with syslog_cert
  // tcp/tls without a cursor: "oldest" (default) sends the whole retained
  // log, "newest" starts after the newest record.
  bool syslog_from_oldest = true;
  std::string syslog_cursor;  // derived: <state dir>/syslog.cursor

  // [recording]
  std::string recording_dir;                       // default "recordings" in state dir
  bool record_input = true;                        // record what people type ("i" events), default true
  Micros flush_interval = kMicrosPerSecond;        // write buffered events at least this often, <= 1s
  Micros digest_interval = 10 * kMicrosPerSecond;  // chain a digest of new bytes into the audit log, default "10s"
  std::string encrypt_to;                          // reviewer X25519 public key (PEM); default "": not encrypted
  bool compress = true;                            // zstd-compress non-terminal (stream) recordings, default true
  bool sftp_content = false;                       // record sftp/scp channels byte-exact too (file contents)

  // [upstream]
  Micros connect_timeout = 10 * kMicrosPerSecond;  // default "10s"
  // SECURITY: upstream certificates carry source-address with these (addresses
  // or CIDR blocks), so a certificate taken off the gateway is useless
  // elsewhere. Default []: the local address of each upstream connection.
  std::vector<std::string> egress_addresses;

  // [session]
  std::vector<std::string> env_allow = {"LANG", "LC_*"};  // env names passed upstream (globs)

  // [elevation]
  Micros request_ttl = 3600 * kMicrosPerSecond;         // pending requests expire after this, default "1h"
  Micros max_grant = 8 * 3600 * kMicrosPerSecond;       // policy maximum for any grant, default "8h"
  Micros break_glass_max = 30 * 60 * kMicrosPerSecond;  // longest break-glass grant, default "30m"

  // [mfa]
  bool require_attestation = true;      // people's SSH keys need a verified attestation at enrollment, default true
  bool allow_none_attestation = false;  // WebAuthn registrations without attestation accepted, default false
  Micros step_up_timeout = 120 * kMicrosPerSecond;  // how long a login waits for a step-up, default "120s"

  // [web]: the HTTPS endpoint for WebAuthn registration and step-up
  std::string public_url;  // e.g. "https://gw.example.com:8443"; default "": no web endpoint (step-ups impossible:
                           // logins needing one are denied)
  std::string web_listen_host = "127.0.0.1";  // listen = "HOST:PORT", default 127.0.0.1:8443
  uint16_t web_listen_port = 8443;
  std::string tls_cert;                               // PEM certificate (chain); default "web_cert.pem" in state dir
  std::string tls_key;                                // PEM private key (mode 0600); default "web_key.pem" in state dir
  std::string web_privsep_user = "bastion-web";       // the web process's own unprivileged user (not the connections')
  std::string notify_sender_user = "bastion-notify";  // the notification senders' own unprivileged user
  int web_max_connections = 64;                       // open HTTPS connections in total; more are closed at accept
  int web_max_connections_per_source = 8;             // ... per client address
  int web_max_watches = 100;  // live watches streaming at once (each a connection and a worker, beyond max_connections)
  bool tell_watched = true;   // a session watched live in the console is told so ("carol is watching ...")
  // metrics_listen = "HOST:PORT": plain HTTP for /healthz and /metrics, served
  // by the web process (so only with a public_url); default "": none.
  std::string metrics_listen_host;
  uint16_t metrics_listen_port = 0;

  // [hr]
  std::string hr_spool;            // spool dir; files dropped into its incoming/; default "hr" in state dir
  double max_leaver_share = 0.10;  // a file making more leavers than this share of active people is held
  int leaver_floor = 2;            // ... unless it makes at most this many leavers
  Micros breaker_window = 3600 * kMicrosPerSecond;  // the share counts leavers made (or scheduled) by all files and
                                                    // snapshots within this window; default "1h"
  uint64_t hr_max_file_size =
      64ull << 20;  // larger spool files are rejected; bytes, default 64 MiB ("64MiB" or an integer)
  // [hr.departments]: department -> roles given by HR (joiners, movers)
  std::map<std::string, std::vector<std::string>> department_roles;

  // [scim]
  int scim_requests_per_second = 50;  // per provisioning client; a burst may reach twice this
  // [scim.groups]: a provider's group (its displayName) -> the roles its members get. A person
  // removed from every mapped group (having been in one) is a leaver.
  std::map<std::string, std::vector<std::string>> scim_group_roles;

  // [notify]: notifications of requests, decisions, grants and alerts (gateway/app/notifications.h)
  std::vector<Micros> notify_ending_soon = {600 * kMicrosPerSecond, 60 * kMicrosPerSecond};  // warn a grant's holder
                                                                                             // this long before it ends
  std::vector<std::string> notify_security;          // addresses told of break-glass use and audit alerts
  std::vector<std::string> notify_admins;            // addresses told of HR batches held by the circuit breaker
  Micros notify_give_up = 86400 * kMicrosPerSecond;  // undelivered this long after the event: failed (notify retry)
  Micros notify_retry_max = 300 * kMicrosPerSecond;  // the longest wait between two attempts (back-off from 1s)
  // [notify.email]: the SMTP relay
  std::string smtp_url;            // "smtp://HOST:587" (STARTTLS) or "smtps://HOST:465"; "" = no e-mail
  bool smtp_starttls = true;       // smtp://: STARTTLS required; false only for a relay on this host
  std::string smtp_from;           // the sender address
  std::string smtp_username;       // "" = no authentication
  std::string smtp_password_file;  // the password (mode 0600, read by bastiond at start)
  std::string smtp_ca_file;        // PEM CA certificates for the relay; "" = the system's
  // [notify.webhooks.NAME]: signed JSON POSTs
  struct NotifyWebhook {
    std::string url;              // https://...
    std::string secret_file;      // the HMAC-SHA256 key (mode 0600)
    std::string format = "json";  // "json", "slack" or "teams"
    std::string ca_file;          // PEM CA certificates; "" = the system's
  };
  std::map<std::string, NotifyWebhook> notify_webhooks;
  // [notify.routes]: event kind -> channels ("email", "webhook:NAME"). A kind
  // not listed goes to ["email"] when [notify.email] is set, else nowhere.
  std::map<std::string, std::vector<std::string>> notify_routes;
  // [notify.customers.NAME]: routes for the events of one customer's
  // requests and grants (a kind listed there replaces the global route).
  std::map<std::string, std::map<std::string, std::vector<std::string>>> notify_customer_routes;
  // The channels `kind` (of `customer`'s request, or "") goes to.
  [[nodiscard]] std::vector<std::string> notify_channels(const std::string& kind, const std::string& customer) const;
};

// The event kinds notifications are routed by ([notify.routes]).
const std::vector<std::string>& notify_kinds();

// Loads and validates FILE.
Result<Config> load_config(const std::string& path);

// The text `bastionctl init` writes: every key with its default, commented.
// `public_url`: [web] public_url, or empty to leave it commented out.
// `database`: a PostgreSQL URL, or "" for the SQLite file in the state directory.
std::string default_config_text(const std::string& listen, const std::string& public_url = "",
                                const std::string& database = "");

// Where the Debian package keeps the configuration (a conffile).
inline constexpr const char* kPackagedConfig = "/etc/bastion/bastion.toml";
// Where to find the config: --config, else $BASTION_CONFIG, else
// kPackagedConfig if it exists, else an error.
Result<std::string> locate_config(const std::string& flag_value);

// An IPv4 or IPv6 address, optionally with a /prefix (OpenSSH's source-address syntax).
bool is_address_or_cidr(const std::string& text);

// "HOST:PORT" or "[V6]:PORT".
Status parse_host_port(const std::string& text, std::string& host, uint16_t& port);

}  // namespace bastion
