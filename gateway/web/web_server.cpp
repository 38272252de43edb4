#include "gateway/web/web_server.h"

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#error "build with cpp-httplib's own flags (pkg-config cpp-httplib): Debian's libcpp-httplib is built with OpenSSL"
#endif
#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "gateway/app/console_web.h"
#include "gateway/web/cast_tail.h"
#include "gateway/web/console_pages.h"
#include "gateway/web/web_assets.h"
#include "gateway/web/web_listener.h"

namespace bastion::gateway {

namespace {

constexpr size_t kMaxTokenLength = 64;
constexpr size_t kLoggedTokenChars = 4;
constexpr int kMaxJsonDepth = 16;
constexpr auto kWriteTimeout = std::chrono::seconds(10);
constexpr size_t kKeepAliveMaxRequests = 20;

static_assert(std::atomic<bool>::is_always_lock_free, "request_stop() must be async-signal-safe");

httplib::Headers security_headers() {
  return {
      // SECURITY: scripts and styles only from our own origin (the pages have
      // no inline script), and no framing, so injected markup cannot run
      // script and the approve button cannot be click-jacked.
      {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      // SECURITY: the URL holds a one-time token; never send it elsewhere.
      {"Referrer-Policy", "no-referrer"},
      // SECURITY: pages and API answers are per token; no cache may keep them.
      {"Cache-Control", "no-store"},
      {"Strict-Transport-Security", "max-age=31536000"},
  };
}

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  std::array<char, 256> buf{};
  ERR_error_string_n(code, buf.data(), buf.size());
  return buf.data();
}

Status check_readable(const char* what, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return make_error(std::string("cannot read the TLS ") + what + " " + path + ": " + std::strerror(errno));
  std::fclose(f);
  return {};
}

// Sets up the TLS context, or says why it cannot.
Status setup_tls(SSL_CTX& ctx, const WebServerOptions& opt) {
  // SECURITY: TLS 1.2 or later, forward-secret AEAD suites only, no TLS
  // compression (CRIME) and no renegotiation.
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(&ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
    return make_error("cannot set the TLS cipher list: " + openssl_error());
  }
  if (SSL_CTX_use_certificate_chain_file(&ctx, opt.cert_pem_path.c_str()) != 1) {
    return make_error("cannot load the TLS certificate " + opt.cert_pem_path + ": " + openssl_error());
  }
  Error mismatch{"the TLS key " + opt.key_pem_path + " does not match the certificate " + opt.cert_pem_path};
  if (SSL_CTX_use_PrivateKey_file(&ctx, opt.key_pem_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
      return make_error("cannot load the TLS key " + opt.key_pem_path + ": " + openssl_error());
    }
    ERR_clear_error();
    return mismatch;
  }
  if (SSL_CTX_check_private_key(&ctx) != 1) {
    ERR_clear_error();
    return mismatch;
  }
  return {};
}

bool is_json_content_type(const std::string& value) {
  std::string media = value.substr(0, value.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
  for (auto& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return media == "application/json";
}

// A JSON object nested at most kMaxJsonDepth deep, or nullopt.
std::optional<nlohmann::json> parse_json_object(const std::string& text) {
  bool too_deep = false;
  nlohmann::json::parser_callback_t limit = [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  nlohmann::json j = nlohmann::json::parse(text, limit, /*allow_exceptions=*/false);
  if (too_deep || j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

void send_json_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(dump({{"error", message}}), "application/json");
}

// A SCIM error (RFC 7644 §3.12).
void send_scim_error(httplib::Response& res, int status, const std::string& message, const std::string& type = "") {
  res.status = status;
  nlohmann::json j = {{"schemas", nlohmann::json::array({"urn:ietf:params:scim:api:messages:2.0:Error"})},
                      {"status", std::to_string(status)},
                      {"detail", message}};
  if (!type.empty()) j["scimType"] = type;
  res.set_content(dump(j), "application/scim+json");
}

// A SCIM request body: a User or a PatchOp is a few KiB.
constexpr size_t kMaxScimBody = 16 * 1024;

void send_html(httplib::Response& res, int status, const std::string& html) {
  res.status = status;
  res.set_content(html, "text/html; charset=utf-8");
}

// The backend's status if it is a real HTTP status, else 500.
int checked_status(int status) { return status >= 200 && status <= 599 ? status : 500; }

std::string error_message_of(const WebReply& r) {
  if (r.body.is_object()) {
    auto it = r.body.find("error");
    if (it != r.body.end() && it->is_string()) return it->get<std::string>();
  }
  return "the request failed (" + std::to_string(checked_status(r.status)) + ")";
}

void send_reply(httplib::Response& res, const WebReply& r) {
  int status = checked_status(r.status);
  if (status >= 400) return send_json_error(res, status, error_message_of(r));
  res.status = status;
  res.set_content(dump(r.body), "application/json");
}

std::string default_error_message(int status, size_t max_body) {
  switch (status) {
    case 400: return "bad request";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 413: return "request too large (at most " + std::to_string(max_body) + " bytes)";
    case 414: return "request URI too long";
    default: return status >= 500 ? "internal error" : "request refused (" + std::to_string(status) + ")";
  }
}

}  // namespace

bool is_valid_web_token(const std::string& s) {
  if (s.empty() || s.size() > kMaxTokenLength) return false;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

std::string redact_unsanitized(const std::string& path) {
  static constexpr std::array<std::string_view, 9> kPlainRoutes = {
      "/healthz", "/static/app.js",  "/static/style.css", "/static/console.js", "/static/webauthn.js",
      "/console", "/console/signin", "/console/requests", "/console/live"};
  static constexpr std::array<std::string_view, 4> kTokenRoutes = {"/api/invite/", "/api/mfa/", "/invite/", "/mfa/"};
  for (auto plain : kPlainRoutes) {
    if (path == plain) return path;
  }
  for (auto prefix : kTokenRoutes) {
    if (path.rfind(prefix, 0) != 0) continue;
    size_t end = path.find('/', prefix.size());
    std::string token = path.substr(prefix.size(), end == std::string::npos ? std::string::npos : end - prefix.size());
    std::string out = std::string(prefix) + token.substr(0, kLoggedTokenChars);
    if (token.size() > kLoggedTokenChars) out += "...";
    if (end != std::string::npos) out += path.substr(end, 16);
    return out;
  }
  // Anything else: the first segment only, as a token may follow it.
  size_t end = path.find('/', 1);
  std::string out = path.substr(0, std::min<size_t>(end == std::string::npos ? path.size() : end, 16));
  return out.size() < path.size() ? out + "..." : out;
}

}  // namespace

std::string redact_web_path(const std::string& path) {
  // SECURITY: tokens and codes are bearer secrets until used; logs keep only
  // enough of them to correlate with what a person reports.
  std::string out = redact_unsanitized(path);
  // SECURITY: the path is percent-decoded peer input; no control characters
  // may reach the log (forged log lines).
  for (auto& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

struct WebServer::Impl {
  Impl(WebBackend& b, WebServerOptions o) : backend(b), opt(std::move(o)) {}
  ~Impl() {
    if (svr) svr->close_listener();
  }

  WebBackend& backend;
  WebServerOptions opt;
  std::unique_ptr<TlsListener> svr;
  std::atomic<bool> stop_requested{false};
  int port = 0;
  // Live watches streaming now: each holds a worker thread for as long as it
  // lasts, so at most half the workers watch and pages are always served.
  std::atomic<size_t> watches{0};

  void add_routes();
  void console_page(const httplib::Request& req, httplib::Response& res, const std::string& op,
                    const nlohmann::json& args);
  void console_api(const httplib::Request& req, httplib::Response& res);
  void console_file(const httplib::Request& req, httplib::Response& res);
  void console_watch(const httplib::Request& req, httplib::Response& res);
  void console_audit_export(const httplib::Request& req, httplib::Response& res);
  void scim(const httplib::Request& req, httplib::Response& res);
  void page(const httplib::Request& req, httplib::Response& res, bool invite);
  void api(const httplib::Request& req, httplib::Response& res, bool invite);
  void log(const std::string& line) const {
    if (opt.log) opt.log(line);
  }
};

void WebServer::Impl::page(const httplib::Request& req, httplib::Response& res, bool invite) {
  const std::string token = req.matches[1];
  // SECURITY: only well-formed tokens reach the backend (and its database).
  if (!is_valid_web_token(token)) return send_html(res, 404, render_error_page(404, "This link is not valid."));
  WebReply r = invite ? backend.invite_info(token) : backend.stepup_info(token);
  if (checked_status(r.status) != 200) {
    int status = checked_status(r.status) < 400 ? 500 : checked_status(r.status);
    return send_html(res, status, render_error_page(status, error_message_of(r)));
  }
  send_html(res, 200, invite ? render_invite_page(token, r.body) : render_stepup_page(token, r.body));
}

void WebServer::Impl::api(const httplib::Request& req, httplib::Response& res, bool invite) {
  const std::string token = req.matches[1];
  const std::string step = req.matches[2];
  if (!is_valid_web_token(token)) return send_json_error(res, 404, "not found");
  // SECURITY: another site's page must not drive these endpoints from the
  // person's browser. Browsers mark such requests Sec-Fetch-Site: cross-site,
  // and the application/json requirement below forces a CORS preflight,
  // which this server never grants.
  if (req.get_header_value("Sec-Fetch-Site") == "cross-site") {
    return send_json_error(res, 403, "cross-site requests are refused");
  }
  if (!is_json_content_type(req.get_header_value("Content-Type"))) {
    return send_json_error(res, 400, "expected a JSON body (Content-Type: application/json)");
  }
  // httplib already refuses bodies over the limit with 413; this keeps the
  // rule true whatever the transfer encoding was.
  if (req.body.size() > opt.max_body) return send_json_error(res, 413, default_error_message(413, opt.max_body));
  auto body = parse_json_object(req.body);
  if (!body) return send_json_error(res, 400, "the request body is not a JSON object");
  WebReply r;
  if (invite) {
    r = step == "options" ? backend.invite_options(token) : backend.invite_register(token, *body);
  } else {
    r = step == "options" ? backend.stepup_options(token) : backend.stepup_assert(token, *body);
  }
  send_reply(res, r);
}

namespace {

// The console cookie's value from the Cookie header, or "" (also when it is malformed).
std::string console_cookie(const httplib::Request& req) {
  const std::string header = req.get_header_value("Cookie");
  const std::string name = std::string(kConsoleCookie) + "=";
  size_t at = 0;
  while (at < header.size()) {
    while (at < header.size() && (header[at] == ' ' || header[at] == ';')) ++at;
    size_t end = header.find(';', at);
    if (end == std::string::npos) end = header.size();
    if (header.compare(at, name.size(), name) == 0) {
      std::string v = header.substr(at + name.size(), end - at - name.size());
      bool ok = !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      });
      return ok ? v : std::string();
    }
    at = end + 1;
  }
  return {};
}

}  // namespace

void WebServer::Impl::console_page(const httplib::Request& req, httplib::Response& res, const std::string& op,
                                   const nlohmann::json& args) {
  nlohmann::json call = {{"cookie", console_cookie(req)}, {"source", req.remote_addr}, {"args", args}};
  WebReply r = backend.console(op, call);
  int status = checked_status(r.status);
  // Not signed in (or no longer): the sign-in page, saying why.
  if (status == 401) return send_html(res, 401, render_console_signin(error_message_of(r)));
  if (status != 200)
    return send_html(res, status < 400 ? 500 : status, render_console_error(status, error_message_of(r)));
  std::string html = op == "requests"      ? render_console_requests(r.body)
                     : op == "request"     ? render_console_request(r.body)
                     : op == "live"        ? render_console_live(r.body)
                     : op == "recordings"  ? render_console_recordings(r.body, args)
                     : op == "recording"   ? render_console_recording(r.body)
                     : op == "audit"       ? render_console_audit(r.body, args)
                     : op == "people"      ? render_console_people(r.body, args)
                     : op == "watch-check" ? render_console_watch(r.body)
                                           : render_console_session(r.body);
  if (op == "recording" || op == "watch-check") {
    // SECURITY: the player compiles its terminal emulator from WebAssembly;
    // that page alone may, and still runs no script but our own files.
    res.headers.erase("Content-Security-Policy");
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'");
  }
  send_html(res, 200, html);
}

namespace {

// The length of a terminal recording up to its last complete line: the
// player reads whole lines, and a live session's file may end mid-line.
size_t whole_lines(int fd, size_t size) {
  char buf[4096];
  size_t end = size;
  while (end > 0) {
    size_t from = end > sizeof buf ? end - sizeof buf : 0;
    ssize_t n = ::pread(fd, buf, end - from, static_cast<off_t>(from));
    if (n <= 0) return 0;
    for (ssize_t i = n; i > 0; --i) {
      if (buf[i - 1] == '\n') return from + static_cast<size_t>(i);
    }
    end = from;
  }
  return 0;
}

// The Audit page's filter from the query string.
nlohmann::json audit_query(const httplib::Request& q) {
  nlohmann::json args = nlohmann::json::object();
  for (const char* k : {"actor", "action", "session", "text", "since", "until"}) {
    std::string v = q.get_param_value(k);
    if (!v.empty()) args[k] = v.substr(0, 256);
  }
  return args;
}

std::string str_of(const nlohmann::json& j, const char* key) {
  auto it = j.is_object() ? j.find(key) : j.end();
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Streams `size` bytes of `file` (a descriptor the monitor handed over).
void send_file(httplib::Response& res, const std::shared_ptr<UniqueFd>& file, size_t size, const char* type) {
  res.set_content_provider(size, type, [file](size_t offset, size_t length, httplib::DataSink& sink) {
    char buf[64 * 1024];
    ssize_t n = ::pread(file->get(), buf, std::min(length, sizeof buf), static_cast<off_t>(offset));
    if (n <= 0) return false;  // the file shrank: the response ends short
    return sink.write(buf, static_cast<size_t>(n));
  });
}

bool plausible_file_name(const std::string& name) {
  return !name.empty() && name.size() <= 128 && name[0] != '.' && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

// GET /console/recordings/ID/CHANNEL/(cast|download|commands): the file the
// monitor opened for this person (the recording, or its command index),
// streamed from its descriptor.
void WebServer::Impl::console_file(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  const std::string what = req.matches[3];
  if (!is_valid_web_token(id)) return send_html(res, 404, render_console_error(404, "no such recording"));
  const int channel = std::stoi(req.matches[2]);
  nlohmann::json call = {{"cookie", console_cookie(req)},
                         {"source", req.remote_addr},
                         {"args",
                          {{"id", id},
                           {"channel", channel},
                           {"purpose", what == "cast"       ? "play"
                                       : what == "commands" ? "commands"
                                                            : "download"}}}};
  WebReply r = backend.console("recording-file", call);
  int status = checked_status(r.status);
  if (status == 401) return send_html(res, 401, render_console_signin(error_message_of(r)));
  if (status != 200 || !r.file || !*r.file) {
    status = status == 200 || status < 400 ? 500 : status;
    return send_html(res, status, render_console_error(status, error_message_of(r)));
  }
  struct stat st {};
  if (::fstat(r.file->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return send_html(res, 500, render_console_error(500, "cannot read the recording"));
  }
  auto size = static_cast<size_t>(st.st_size);
  const std::string kind = str_of(r.body, "kind");
  if (what == "cast") {
    // A sealed recording goes as it is: the page opens it with the reviewer's key.
    if (kind != "terminal" && kind != "encrypted") {
      return send_html(res, 409, render_console_error(409, "not a terminal recording"));
    }
    if (kind == "terminal") size = whole_lines(r.file->get(), size);
  } else if (what == "commands") {
    // Sealed (encrypted recordings) or JSON lines: the page reads it.
    if (kind != "terminal" && kind != "encrypted") {
      return send_html(res, 409, render_console_error(409, "not a terminal recording"));
    }
    send_file(res, r.file, size, kind == "encrypted" ? "application/octet-stream" : "application/x-ndjson");
    return;
  } else {
    std::string name = str_of(r.body, "name");
    if (!plausible_file_name(name)) name = "recording";
    res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
  }
  send_file(res, r.file, size, what == "cast" ? "application/x-asciicast" : "application/octet-stream");
}

namespace {

// How often a watch reads the recording for new lines, and how often it asks
// the monitor again whether the watcher may still watch and the session is
// still live.
constexpr auto kWatchPoll = std::chrono::milliseconds(20);
constexpr auto kWatchRecheck = std::chrono::seconds(5);
// A comment line this often when nothing happens: it keeps proxies from
// closing the stream, and a write is how a watcher who left is noticed
// (httplib sees a closed connection only when writing to it), which gives
// the watch's worker back.
constexpr auto kWatchKeepAlive = std::chrono::seconds(2);

}  // namespace

// GET /console/sessions/ID/watch/events: a live session's terminal as
// Server-Sent Events (CastTail), from the recording's descriptor the monitor
// handed over after it decided and audited the watch. Every kWatchRecheck
// the monitor decides again (the watcher's console session, their right to
// see this customer's sessions, the session still live); the stream ends
// when any of them no longer holds, or the server stops.
void WebServer::Impl::console_watch(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  if (!is_valid_web_token(id)) return send_html(res, 404, render_console_error(404, "no such session"));
  // A slot first: a watch refused for want of one is not begun (nobody is told, nothing audited as watched).
  const size_t max_watches = opt.max_watches;
  if (max_watches == 0) {
    log("watch refused: live watching is turned off on this node ([web] max_watches = 0)");
    return send_html(res, 503,
                     render_console_error(503, "live watching is turned off on this gateway node ([web] max_watches)"));
  }
  if (watches.fetch_add(1) >= max_watches) {
    watches.fetch_sub(1);
    log("watch refused: " + std::to_string(max_watches) + " live watches already stream from this node");
    return send_html(res, 503,
                     render_console_error(503, "this gateway node already streams " + std::to_string(max_watches) +
                                                   " live watches; try again when one ends"));
  }
  // Given back when the last holder (the stream's state, or this function on a refusal) lets go.
  std::shared_ptr<void> slot(nullptr, [this](void*) { watches.fetch_sub(1); });
  nlohmann::json call = {{"cookie", console_cookie(req)}, {"source", req.remote_addr}, {"args", {{"id", id}}}};
  WebReply r = backend.console("watch", call);
  int status = checked_status(r.status);
  if (status == 401) return send_html(res, 401, render_console_signin(error_message_of(r)));
  if (status != 200 || !r.file || !*r.file) {
    status = status == 200 || status < 400 ? 500 : status;
    return send_html(res, status, render_console_error(status, error_message_of(r)));
  }
  struct Watch {
    std::shared_ptr<void> slot;  // released when the stream ends, however it ends
    std::shared_ptr<UniqueFd> file;
    CastTail tail;
    nlohmann::json call;
    std::chrono::steady_clock::time_point checked, sent;
    bool ending = false;
  };
  auto w = std::make_shared<Watch>(Watch{slot, r.file, CastTail(r.file->get()), call, std::chrono::steady_clock::now(),
                                         std::chrono::steady_clock::now()});
  // SECURITY: no proxy or browser may keep a copy of the stream.
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider("text/event-stream", [this, w](size_t, httplib::DataSink& sink) {
    for (;;) {
      if (stop_requested.load()) w->ending = true;
      auto more = w->tail.poll();
      if (!more) {
        log("watch of a live session ended: " + more.error().message);
        w->ending = true;
      } else if (!more->empty()) {
        if (!sink.write(more->data(), more->size())) return false;  // the watcher left
        w->sent = std::chrono::steady_clock::now();
      }
      if (w->ending) {
        const std::string done = CastTail::done();
        (void)sink.write(done.data(), done.size());
        sink.done();
        return true;
      }
      auto now = std::chrono::steady_clock::now();
      if (now - w->checked >= kWatchRecheck) {
        w->checked = now;
        WebReply again = backend.console("watch-check", w->call);
        // Ended, or no longer theirs to watch: what was written goes out first.
        if (checked_status(again.status) != 200 || !again.body.value("live", false)) w->ending = true;
        continue;
      }
      if (now - w->sent >= kWatchKeepAlive) {
        const std::string ping = CastTail::keepalive();
        if (!sink.write(ping.data(), ping.size())) return false;
        w->sent = now;
      }
      if (!sink.is_writable()) return false;
      std::this_thread::sleep_for(kWatchPoll);
    }
  });
}

// GET /console/audit/export?FILTER: the matching records as JSON lines, from
// the sealed memory file the monitor wrote.
void WebServer::Impl::console_audit_export(const httplib::Request& req, httplib::Response& res) {
  nlohmann::json call = {{"cookie", console_cookie(req)}, {"source", req.remote_addr}, {"args", audit_query(req)}};
  WebReply r = backend.console("audit-export", call);
  int status = checked_status(r.status);
  if (status == 401) return send_html(res, 401, render_console_signin(error_message_of(r)));
  struct stat st {};
  if (status != 200 || !r.file || !*r.file || ::fstat(r.file->get(), &st) != 0) {
    status = status == 200 || status < 400 ? 500 : status;
    return send_html(res, status, render_console_error(status, error_message_of(r)));
  }
  res.set_header("Content-Disposition", "attachment; filename=\"bastion-audit.jsonl\"");
  send_file(res, r.file, static_cast<size_t>(st.st_size), "application/x-ndjson");
}

void WebServer::Impl::console_api(const httplib::Request& req, httplib::Response& res) {
  const std::string op = req.matches[1];
  if (!is_console_op(op) || is_console_read(op)) return send_json_error(res, 404, "not found");
  if (req.get_header_value("Sec-Fetch-Site") == "cross-site") {
    return send_json_error(res, 403, "cross-site requests are refused");
  }
  if (!is_json_content_type(req.get_header_value("Content-Type"))) {
    return send_json_error(res, 400, "expected a JSON body (Content-Type: application/json)");
  }
  if (req.body.size() > opt.max_body) return send_json_error(res, 413, default_error_message(413, opt.max_body));
  auto body = parse_json_object(req.body);
  if (!body) return send_json_error(res, 400, "the request body is not a JSON object");
  // The monitor checks the cookie, Origin and CSRF token; they are passed as sent.
  nlohmann::json call = {{"cookie", console_cookie(req)},
                         {"csrf", req.get_header_value("X-CSRF-Token").substr(0, 128)},
                         {"origin", req.get_header_value("Origin").substr(0, 512)},
                         {"source", req.remote_addr},
                         {"args", *body}};
  WebReply r = backend.console(op, call);
  if (checked_status(r.status) == 200 && r.body.is_object()) {
    auto set = r.body.find("set_cookie");
    if (set != r.body.end() && set->is_string()) {
      // SECURITY: __Host- prefix (Secure, Path=/, no Domain), HttpOnly (no
      // script reads it), SameSite=Strict (no other site's page sends it).
      // No Max-Age: the server ends it (idle 15 min, at most 8 h).
      res.set_header("Set-Cookie", std::string(kConsoleCookie) + "=" + set->get<std::string>() +
                                       "; Path=/; Secure; HttpOnly; SameSite=Strict");
      r.body.erase(set);
    }
    if (r.body.value("clear_cookie", false)) {
      res.set_header("Set-Cookie",
                     std::string(kConsoleCookie) + "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
      r.body.erase("clear_cookie");
    }
  }
  send_reply(res, r);
}

// /scim/v2/...: SCIM provisioning (gateway/app/scim_service.h). The token,
// the JSON and every value are checked by the monitor; here only the shape
// and the size.
void WebServer::Impl::scim(const httplib::Request& req, httplib::Response& res) {
  std::string path = req.matches[1];
  if (path.empty()) path = "/";
  const std::string auth = req.get_header_value("Authorization");
  std::string token;
  if (auth.size() > 7 && (auth.compare(0, 7, "Bearer ") == 0 || auth.compare(0, 7, "bearer ") == 0)) {
    token = auth.substr(7, 512);
  }
  if (req.body.size() > kMaxScimBody) {
    return send_scim_error(res, 413, "the body is larger than " + std::to_string(kMaxScimBody) + " bytes");
  }
  if (!req.body.empty()) {
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind("application/scim+json", 0) != 0 && !is_json_content_type(type)) {
      return send_scim_error(res, 415, "expected Content-Type application/scim+json");
    }
    // Only JSON crosses to the monitor (its escaped form is at most twice as long).
    if (!nlohmann::json::accept(req.body)) {
      return send_scim_error(res, 400, "the body is not JSON", "invalidSyntax");
    }
  }
  nlohmann::json query = nlohmann::json::object();
  for (const char* key : {"filter", "startIndex", "count", "attributes", "excludedAttributes"}) {
    if (req.has_param(key)) query[key] = req.get_param_value(key).substr(0, 4096);
  }
  nlohmann::json call = {{"method", req.method},
                         {"path", path.substr(0, 1024)},
                         {"query", query},
                         {"token", token},
                         {"if_match", req.get_header_value("If-Match").substr(0, 64)},
                         {"body", req.body},
                         {"source", req.remote_addr}};
  WebReply r = backend.scim(call);
  res.status = checked_status(r.status);
  if (!r.body.is_object() || !r.body.contains("scim")) return send_scim_error(res, res.status, error_message_of(r));
  for (const auto& [field, header] : {std::pair{"location", "Location"}, std::pair{"etag", "ETag"}}) {
    if (auto it = r.body.find(field); it != r.body.end() && it->is_string())
      res.set_header(header, it->get<std::string>());
  }
  if (auto it = r.body.find("retry_after"); it != r.body.end() && it->is_number_integer()) {
    res.set_header("Retry-After", std::to_string(it->get<int>()));
  }
  const nlohmann::json& body = r.body["scim"];
  if (!body.is_null()) res.set_content(dump(body), "application/scim+json");
}

void WebServer::Impl::add_routes() {
  svr->Get(R"(/invite/([^/]+))", [this](const httplib::Request& q, httplib::Response& s) { page(q, s, true); });
  svr->Get(R"(/mfa/([^/]+))", [this](const httplib::Request& q, httplib::Response& s) { page(q, s, false); });
  svr->Post(R"(/api/invite/([^/]+)/(options|register))",
            [this](const httplib::Request& q, httplib::Response& s) { api(q, s, true); });
  svr->Post(R"(/api/mfa/([^/]+)/(options|assert))",
            [this](const httplib::Request& q, httplib::Response& s) { api(q, s, false); });
  svr->Get("/static/app.js", [](const httplib::Request&, httplib::Response& s) {
    s.set_content(kWebAppJs.data(), kWebAppJs.size(), "text/javascript; charset=utf-8");
  });
  svr->Get("/static/style.css", [](const httplib::Request&, httplib::Response& s) {
    s.set_content(kWebStyleCss.data(), kWebStyleCss.size(), "text/css; charset=utf-8");
  });
  svr->Get("/healthz", [](const httplib::Request&, httplib::Response& s) { s.set_content("ok\n", "text/plain"); });
  auto scim_route = [this](const httplib::Request& q, httplib::Response& s) { scim(q, s); };
  const char* const scim_path = R"(/scim/v2(/[A-Za-z0-9._:/-]*)?)";
  svr->Get(scim_path, scim_route);
  svr->Post(scim_path, scim_route);
  svr->Put(scim_path, scim_route);
  svr->Patch(scim_path, scim_route);
  svr->Delete(scim_path, scim_route);
  // The web console (gateway/app/console_web.h).
  svr->Get("/console", [](const httplib::Request&, httplib::Response& s) {
    s.status = 303;
    s.set_header("Location", "/console/requests");
  });
  svr->Get("/console/signin",
           [](const httplib::Request&, httplib::Response& s) { send_html(s, 200, render_console_signin()); });
  svr->Get("/console/requests", [this](const httplib::Request& q, httplib::Response& s) {
    console_page(q, s, "requests", nlohmann::json::object());
  });
  svr->Get(R"(/console/requests/([^/]+))", [this](const httplib::Request& q, httplib::Response& s) {
    const std::string id = q.matches[1];
    if (!is_valid_web_token(id)) return send_html(s, 404, render_console_error(404, "no such request"));
    console_page(q, s, "request", {{"id", id}});
  });
  svr->Get("/console/live", [this](const httplib::Request& q, httplib::Response& s) {
    console_page(q, s, "live", nlohmann::json::object());
  });
  svr->Get(R"(/console/sessions/([^/]+))", [this](const httplib::Request& q, httplib::Response& s) {
    const std::string id = q.matches[1];
    if (!is_valid_web_token(id)) return send_html(s, 404, render_console_error(404, "no such session"));
    console_page(q, s, "session", {{"id", id}});
  });
  svr->Get(R"(/console/sessions/([^/]+)/watch)", [this](const httplib::Request& q, httplib::Response& s) {
    const std::string id = q.matches[1];
    if (!is_valid_web_token(id)) return send_html(s, 404, render_console_error(404, "no such session"));
    console_page(q, s, "watch-check", {{"id", id}});
  });
  svr->Get(R"(/console/sessions/([^/]+)/watch/events)",
           [this](const httplib::Request& q, httplib::Response& s) { console_watch(q, s); });
  svr->Get("/console/recordings", [this](const httplib::Request& q, httplib::Response& s) {
    nlohmann::json args = nlohmann::json::object();
    for (const char* k : {"user", "target", "customer", "command", "since", "until"}) {
      std::string v = q.get_param_value(k);
      if (!v.empty()) args[k] = v.substr(0, 256);
    }
    console_page(q, s, "recordings", args);
  });
  svr->Get(R"(/console/recordings/([^/]+))", [this](const httplib::Request& q, httplib::Response& s) {
    const std::string id = q.matches[1];
    if (!is_valid_web_token(id)) return send_html(s, 404, render_console_error(404, "no such recording"));
    console_page(q, s, "recording", {{"id", id}});
  });
  svr->Get(R"(/console/recordings/([^/]+)/([0-9]{1,5})/(cast|download|commands))",
           [this](const httplib::Request& q, httplib::Response& s) { console_file(q, s); });
  svr->Get("/console/audit",
           [this](const httplib::Request& q, httplib::Response& s) { console_page(q, s, "audit", audit_query(q)); });
  svr->Get("/console/people", [this](const httplib::Request& q, httplib::Response& s) {
    nlohmann::json args = nlohmann::json::object();
    for (const char* k : {"q", "check_user", "check_dest", "who_can"}) {
      std::string v = q.get_param_value(k);
      if (!v.empty()) args[k] = v.substr(0, 256);
    }
    console_page(q, s, "people", args);
  });
  svr->Get("/console/audit/export",
           [this](const httplib::Request& q, httplib::Response& s) { console_audit_export(q, s); });
  svr->Get("/static/player.js", [](const httplib::Request&, httplib::Response& s) {
    s.set_content(assets::kPlayerJs.data(), assets::kPlayerJs.size(), "text/javascript; charset=utf-8");
  });
  svr->Get("/static/player.css", [](const httplib::Request&, httplib::Response& s) {
    s.set_content(assets::kPlayerCss.data(), assets::kPlayerCss.size(), "text/css; charset=utf-8");
  });
  svr->Get("/static/recording.js", [](const httplib::Request&, httplib::Response& s) {
    s.set_content(kRecordingJs.data(), kRecordingJs.size(), "text/javascript; charset=utf-8");
  });
  svr->Post(R"(/api/console/([a-z-]+))",
            [this](const httplib::Request& q, httplib::Response& s) { console_api(q, s); });
  svr->Get("/static/webauthn.js", [](const httplib::Request&, httplib::Response& s) {
    s.set_content(kWebauthnJs.data(), kWebauthnJs.size(), "text/javascript; charset=utf-8");
  });
  svr->Get("/static/console.js", [](const httplib::Request&, httplib::Response& s) {
    s.set_content(kConsoleJs.data(), kConsoleJs.size(), "text/javascript; charset=utf-8");
  });

  // Errors raised by httplib itself (no route, body too large, bad request
  // line) get a body in the same form as ours: JSON under /api/, else a page.
  httplib::Server::HandlerWithResponse on_error = [this](const httplib::Request& q, httplib::Response& s) {
    if (!s.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = default_error_message(s.status, opt.max_body);
    if (q.path.rfind("/scim/", 0) == 0) {
      send_scim_error(s, s.status, message);
    } else if (q.path.rfind("/api/", 0) == 0) {
      send_json_error(s, s.status, message);
    } else {
      send_html(s, s.status, render_error_page(s.status, message));
    }
    return httplib::Server::HandlerResponse::Handled;
  };
  svr->set_error_handler(std::move(on_error));
  svr->set_exception_handler([this](const httplib::Request& q, httplib::Response& s, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(std::move(ep));
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {  // reported and answered 500 below; the server goes on
    }
    log("web: " + q.method + " " + redact_web_path(q.path) + " failed: " + what);
    send_json_error(s, 500, "internal error");
  });
  svr->set_logger([this](const httplib::Request& q, const httplib::Response& s) {
    log("web: " + q.method + " " + redact_web_path(q.path) + " " + std::to_string(s.status) + " from " + q.remote_addr);
  });
}

WebServer::WebServer(WebBackend& backend, WebServerOptions options)
    : impl_(std::make_unique<Impl>(backend, std::move(options))) {}

WebServer::~WebServer() = default;

Status WebServer::start() {
  Impl& m = *impl_;
  if (m.svr) return make_error("web server: already started");
  if (auto s = check_readable("certificate", m.opt.cert_pem_path); !s) return s;
  if (auto s = check_readable("key", m.opt.key_pem_path); !s) return s;
  SslCtx ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return make_error("cannot set up TLS: " + openssl_error());
  if (auto s = setup_tls(*ctx, m.opt); !s) return s;
  ListenerOptions lo;
  lo.threads = m.opt.threads + m.opt.max_watches;
  lo.max_connections = m.opt.max_connections;
  lo.max_connections_per_source = m.opt.max_connections_per_source;
  lo.header_deadline = m.opt.header_deadline;
  lo.body_deadline = m.opt.body_deadline;
  lo.write_timeout = kWriteTimeout;
  lo.keep_alive_max_requests = kKeepAliveMaxRequests;
  lo.stop_poll = std::chrono::milliseconds(kStopPollMillis);
  m.svr = std::make_unique<TlsListener>(std::move(ctx), lo, m.opt.log, [&m] { return m.stop_requested.load(); });

  m.svr->set_default_headers(security_headers());
  m.svr->set_payload_max_length(m.opt.max_body);
  // SECURITY: SO_REUSEADDR only. httplib's default adds SO_REUSEPORT, which
  // lets any other process of the same user bind the same port and receive a
  // share of the connections (and the tokens in them) without an error.
  m.svr->set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  m.add_routes();

  int bound = m.opt.port == 0 ? m.svr->bind_to_any_port(m.opt.bind_address)
                              : (m.svr->bind_to_port(m.opt.bind_address, m.opt.port) ? m.opt.port : -1);
  if (bound <= 0) {
    m.svr.reset();
    return make_error("cannot listen on " + m.opt.bind_address + ":" + std::to_string(m.opt.port) +
                      " (port in use, or address not available)");
  }
  // A burst of connections must reach our accept loop (and its limits) at
  // once, not wait for SYN retransmits behind httplib's backlog of 5.
  if (!m.svr->set_backlog(SOMAXCONN)) {
    m.svr.reset();
    return make_error("cannot listen on " + m.opt.bind_address + ":" + std::to_string(bound));
  }
  m.port = bound;
  return {};
}

int WebServer::port() const { return impl_->port; }

void WebServer::run() {
  if (!impl_->svr) return;
  if (impl_->stop_requested.load()) {
    impl_->svr->close_listener();
    return;
  }
  impl_->svr->serve();
}

void WebServer::stop() {
  impl_->stop_requested.store(true);
  if (impl_->svr) impl_->svr->close_listener();
}

void WebServer::request_stop() noexcept { impl_->stop_requested.store(true); }

}  // namespace bastion::gateway
