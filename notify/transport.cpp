// The transports (notify/transport.h): libcurl's SMTP and HTTPS.
#include "notify/transport.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>

#include "common/encoding.h"

namespace bastion::notifications {
namespace {

void init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// Header text: printable, no line breaks (they would start a new header).
std::string header_text(const std::string& s, size_t max) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u == '\r' || u == '\n' || u == '\t') {
      out += ' ';
    } else if (u >= 0x20 && u != 0x7f) {
      out += c;
    }
    if (out.size() >= max) break;
  }
  return out;
}

bool ascii(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

std::string rfc5322_date(Micros now) {
  time_t t = static_cast<time_t>(now / kMicrosPerSecond);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

// The body with CRLF line ends and no bare CR.
std::string crlf(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\r') continue;
    if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (!out.ends_with("\r\n")) out += "\r\n";
  return out;
}

// curl's error for `rc`, with the server's last answer when it has one.
std::string curl_error(CURLcode rc, const char* detail) {
  std::string m = curl_easy_strerror(rc);
  if (detail != nullptr && detail[0] != '\0') m += ": " + header_text(detail, 300);
  return m;
}

struct Upload {
  const std::string* data;
  size_t at = 0;
};

size_t read_upload(char* buf, size_t size, size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  size_t room = size * n;
  size_t left = u->data->size() - u->at;
  size_t take = std::min(room, left);
  std::memcpy(buf, u->data->data() + u->at, take);
  u->at += take;
  return take;
}

size_t keep_some(char* buf, size_t size, size_t n, void* user) {
  auto* s = static_cast<std::string*>(user);
  if (s->size() < 512) s->append(buf, std::min(size * n, 512 - s->size()));
  return size * n;
}

int progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancelled = static_cast<const std::function<bool()>*>(user);
  return (*cancelled && (*cancelled)()) ? 1 : 0;
}

// The CA certificates: given in memory, or a file, or the system's.
void trust(CURL* h, const std::string& ca_pem, const std::string& ca_file) {
  if (!ca_pem.empty()) {
    curl_blob blob{const_cast<char*>(ca_pem.data()), ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
  } else if (!ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, ca_file.c_str());
  }
}

void watch_cancel(CURL* h, const std::function<bool()>& cancelled) {
  if (!cancelled) return;
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &cancelled);
}

// What both transports set: the URL and the one protocol family it may
// use, errors into `detail`, time limits, certificates checked (never
// skipped), no redirects, cancellation.
void common_options(CURL* h, const std::string& url, const char* protocols, char* detail, Micros timeout,
                    const std::string& ca_pem, const std::string& ca_file, const std::function<bool()>& cancelled) {
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout / 1000));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<Micros>(timeout, 10 * kMicrosPerSecond) / 1000));
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  trust(h, ca_pem, ca_file);
  watch_cancel(h, cancelled);
}

std::string slack_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

std::string dumped(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

bool is_email_address(const std::string& a) {
  if (a.size() < 3 || a.size() > 254) return false;
  auto at = a.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= a.size() || a.find('@', at + 1) != std::string::npos) {
    return false;
  }
  for (char c : a) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' || c == '\\' || c == '(' ||
        c == ')' || c == '[' || c == ']' || c == ':') {
      return false;
    }
  }
  return a.find('.', at) != std::string::npos;
}

std::string format_email(const SmtpSettings& s, const Email& e, Micros now) {
  std::string to;
  for (const auto& a : e.to) {
    if (!is_email_address(a)) continue;
    if (!to.empty()) to += ", ";
    to += a;
  }
  std::string subject = header_text(e.subject, 200);
  if (!ascii(subject)) {
    subject =
        "=?UTF-8?B?" +
        base64_encode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(subject.data()), subject.size())) +
        "?=";
  }
  std::string key = header_text(e.key, 100);
  std::string m;
  m += "Date: " + rfc5322_date(now) + "\r\n";
  m += "From: bastion <" + header_text(s.from, 254) + ">\r\n";
  m += "To: " + to + "\r\n";
  m += "Subject: " + subject + "\r\n";
  m += "Message-ID: <" + key + "@bastion>\r\n";
  m += "X-Bastion-Idempotency-Key: " + key + "\r\n";
  m += "Auto-Submitted: auto-generated\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Transfer-Encoding: 8bit\r\n";
  m += "\r\n";
  m += crlf(e.text);
  return m;
}

Status send_email(const SmtpSettings& s, const Email& e, Micros now) {
  init_once();
  std::vector<std::string> to;
  for (const auto& a : e.to)
    if (is_email_address(a)) to.push_back(a);
  if (to.empty()) return make_error(ErrorCode::kInvalid, "no valid recipient address");
  CurlPtr c(curl_easy_init());
  if (!c) return make_error("cannot start libcurl");
  std::string message = format_email(s, e, now);
  Upload up{&message};
  SlistPtr rcpt;
  for (const auto& a : to) {
    curl_slist* l = curl_slist_append(rcpt.get(), ("<" + a + ">").c_str());
    if (l == nullptr) return make_error("out of memory");
    (void)rcpt.release();
    rcpt.reset(l);
  }
  char detail[CURL_ERROR_SIZE] = {0};
  CURL* h = c.get();
  common_options(h, s.url, "smtp,smtps", detail, s.timeout, s.ca_pem, s.ca_file, s.cancelled);
  if (s.url.rfind("smtps://", 0) == 0 || s.starttls)
    curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!s.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, s.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, s.password.c_str());
  }
  std::string from = "<" + s.from + ">";
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(h, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(h, CURLOPT_READDATA, &up);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) return make_error("smtp: " + curl_error(rc, detail));
  return {};
}

Result<WebhookFormat> parse_webhook_format(const std::string& s) {
  if (s == "json") return WebhookFormat::kJson;
  if (s == "slack") return WebhookFormat::kSlack;
  if (s == "teams") return WebhookFormat::kTeams;
  return make_error(ErrorCode::kInvalid,
                    "format must be \"json\", \"slack\" or \"teams\", not \"" + s.substr(0, 32) + "\"");
}

std::string webhook_body(WebhookFormat format, const WebhookMessage& m) {
  switch (format) {
    case WebhookFormat::kSlack: {
      std::string text = "*" + slack_escape(m.subject) + "*\n" + slack_escape(m.text);
      if (!m.link.empty()) text += "\n<" + m.link + "|Open in the bastion console>";
      return dumped({{"text", text}});
    }
    case WebhookFormat::kTeams: {
      nlohmann::json card = {{"@type", "MessageCard"},
                             {"@context", "https://schema.org/extensions"},
                             {"summary", m.subject},
                             {"title", m.subject},
                             {"text", m.text}};
      if (!m.link.empty()) {
        card["potentialAction"] =
            nlohmann::json::array({{{"@type", "OpenUri"},
                                    {"name", "Open in the bastion console"},
                                    {"targets", nlohmann::json::array({{{"os", "default"}, {"uri", m.link}}})}}});
      }
      return dumped(card);
    }
    case WebhookFormat::kJson: break;
  }
  return dumped({{"id", m.key},
                 {"kind", m.kind},
                 {"subject", m.subject},
                 {"text", m.text},
                 {"link", m.link},
                 {"created_at", format_utc(m.created_at)},
                 {"facts", m.facts}});
}

std::string webhook_signature(const std::string& secret, const std::string& timestamp, const std::string& body) {
  std::string signed_text = timestamp + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac, &len);
  return "sha256=" + hex_encode(std::span<const uint8_t>(mac, len));
}

Status post_webhook(const WebhookSettings& s, const std::string& key, const std::string& body, Micros now) {
  init_once();
  CurlPtr c(curl_easy_init());
  if (!c) return make_error("cannot start libcurl");
  std::string ts = std::to_string(now / kMicrosPerSecond);
  SlistPtr headers;
  const std::vector<std::string> lines = {"Content-Type: application/json",
                                          "User-Agent: bastion",
                                          "X-Bastion-Timestamp: " + ts,
                                          "X-Bastion-Signature: " + webhook_signature(s.secret, ts, body),
                                          "X-Bastion-Idempotency-Key: " + header_text(key, 100),
                                          "Expect:"};
  for (const std::string& line : lines) {
    curl_slist* l = curl_slist_append(headers.get(), line.c_str());
    if (l == nullptr) return make_error("out of memory");
    (void)headers.release();
    headers.reset(l);
  }
  char detail[CURL_ERROR_SIZE] = {0};
  std::string answer;
  CURL* h = c.get();
  common_options(h, s.url, "https", detail, s.timeout, s.ca_pem, s.ca_file, s.cancelled);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_some);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) return make_error("webhook: " + curl_error(rc, detail));
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299) {
    return make_error("webhook: HTTP " + std::to_string(status) +
                      (answer.empty() ? "" : ": " + header_text(answer, 200)));
  }
  return {};
}

}  // namespace bastion::notifications
