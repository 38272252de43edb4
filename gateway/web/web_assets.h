// The HTML pages, script and style sheet of the WebAuthn front end.
//
// Pages carry no inline script or style, so the strict Content-Security-Policy
// the server sends ("default-src 'self'") holds. Every value from the backend
// is HTML-escaped. The script finds its flow and token in <body data-flow
// data-token>, and reports through #status and <body data-state>:
// "working", then "done" (status text starts "Done") or "failed" ("Failed:").
// Pure functions over strings; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace bastion::gateway {

extern const std::string_view kWebAppJs;
extern const std::string_view kWebauthnJs;  // /static/webauthn.js: helpers the pages share
extern const std::string_view kWebStyleCss;

std::string html_escape(std::string_view text);

// Registration page; `info` is WebBackend::invite_info's body.
std::string render_invite_page(const std::string& token, const nlohmann::json& info);
// Step-up page; `info` is WebBackend::stepup_info's body.
std::string render_stepup_page(const std::string& code, const nlohmann::json& info);
// A page with no action: the link is unknown, used or expired, or the server
// failed. <body data-state="failed">, #status holds "Failed: <message>".
std::string render_error_page(int status, const std::string& message);

}  // namespace bastion::gateway
