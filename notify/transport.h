// The two ways a notification leaves the gateway, over libcurl: an e-mail
// through an SMTP relay, and an HTTPS POST to a webhook. Also what they
// send: the e-mail message and the webhook bodies, and the webhook signature.
//
// Contract: send_email and post_webhook block for at most the timeout given
// and return an error of one line (the relay's or receiver's answer when
// there was one). They never follow redirects and speak only the protocol
// their URL names (smtp/smtps, https). Thread-safe (libcurl is initialised
// once, the handles are per call).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace bastion::notifications {

struct SmtpSettings {
  std::string url;       // "smtp://HOST:PORT" (STARTTLS) or "smtps://HOST:PORT" (TLS from the start)
  bool starttls = true;  // smtp://: STARTTLS required; false only for a relay on this host
  std::string from;      // the envelope and header sender
  std::string username;  // "" = no authentication
  std::string password;
  std::string ca_file;  // PEM CA certificates for the relay; "" = the system's
  std::string ca_pem;   // or the certificates themselves (a sandboxed sender reads no files)
  Micros timeout = 30 * kMicrosPerSecond;
  std::function<bool()> cancelled;  // polled while sending: true aborts (a stopping daemon)
};

struct Email {
  std::vector<std::string> to;
  std::string subject, text;
  std::string key;  // idempotency key: the Message-ID is <KEY@bastion>
};

// The RFC 5322 message (CRLF lines), with the header fields cleaned of
// line breaks and non-ASCII subjects encoded (RFC 2047).
std::string format_email(const SmtpSettings& s, const Email& e, Micros now);
Status send_email(const SmtpSettings& s, const Email& e, Micros now);

enum class WebhookFormat { kJson, kSlack, kTeams };
Result<WebhookFormat> parse_webhook_format(const std::string& s);

struct WebhookMessage {
  std::string key, kind, subject, text, link;
  nlohmann::json facts = nlohmann::json::object();
  Micros created_at = 0;
};
// The JSON body in `format`: bastion's own (every field), Slack's incoming
// webhook ({"text"}), or a Microsoft Teams MessageCard. The link is a link;
// no format carries a button that acts (approving needs the security key).
std::string webhook_body(WebhookFormat format, const WebhookMessage& m);

// "sha256=" and the hex HMAC-SHA256 under `secret` of "TIMESTAMP.BODY": the
// X-Bastion-Signature header. A receiver recomputes it and rejects a
// timestamp too far from its clock (a replay).
std::string webhook_signature(const std::string& secret, const std::string& timestamp, const std::string& body);

struct WebhookSettings {
  std::string url;  // https://...
  std::string secret;
  WebhookFormat format = WebhookFormat::kJson;
  std::string ca_file;  // "" = the system's
  std::string ca_pem;   // or the certificates themselves
  Micros timeout = 10 * kMicrosPerSecond;
  std::function<bool()> cancelled;  // polled while sending: true aborts
};
// POSTs `body` signed at `now`; a 2xx answer is success, anything else an
// error naming the status.
Status post_webhook(const WebhookSettings& s, const std::string& key, const std::string& body, Micros now);

// Whether `address` is one plain e-mail address (local@domain, printable,
// no spaces or angle brackets): what may go into a To: field.
bool is_email_address(const std::string& address);

}  // namespace bastion::notifications
