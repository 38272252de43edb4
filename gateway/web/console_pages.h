// The web console's pages and script: server-rendered HTML from the
// monitor's answers (gateway/app/console_web.h), with one static script
// (/static/console.js) for the security-key ceremonies and the forms.
//
// As the WebAuthn pages: no inline script or style (the CSP holds), every
// value HTML-escaped. <body data-page data-csrf data-id> tell the script
// where it is; it reports through #status and <body data-state>: "working",
// then "done" or "failed". Pure functions over strings; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace bastion::gateway {

extern const std::string_view kConsoleJs;

// /console/signin.
std::string render_console_signin(const std::string& notice = "");
// /console/requests: `data` is the "requests" answer.
std::string render_console_requests(const nlohmann::json& data);
// /console/requests/ID: `data` is the "request" answer.
std::string render_console_request(const nlohmann::json& data);
// /console/live: `data` is the "live" answer.
std::string render_console_live(const nlohmann::json& data);
// /console/sessions/ID: `data` is the "session" answer.
std::string render_console_session(const nlohmann::json& data);
// A live session's terminal as it happens (the player over /console/sessions/ID/watch/events).
std::string render_console_watch(const nlohmann::json& data);
// /console/recordings: `data` is the "recordings" answer, `query` the search asked.
std::string render_console_recordings(const nlohmann::json& data, const nlohmann::json& query);
// /console/audit: `data` is the "audit" answer, `query` the filter asked.
std::string render_console_audit(const nlohmann::json& data, const nlohmann::json& query);
// /console/people: `data` is the "people" answer, `query` what was asked.
std::string render_console_people(const nlohmann::json& data, const nlohmann::json& query);
// /console/recordings/ID: `data` is the "recording" answer.
std::string render_console_recording(const nlohmann::json& data);
// The recording page's script (/static/recording.js): plays each terminal
// recording with asciinema-player (speed, skipping idle time, jumping to a
// command).
extern const std::string_view kRecordingJs;

// The embedded asciinema-player (gateway/web/assets, cmake/EmbedAsset.cmake).
namespace assets {
extern const std::string_view kPlayerJs;
extern const std::string_view kPlayerCss;
}  // namespace assets
// "sha256-BASE64" of `bytes`: a Subresource Integrity value.
std::string subresource_integrity(std::string_view bytes);

// A console page that could not be shown (404, 500, ...), with the bar.
std::string render_console_error(int status, const std::string& message);

}  // namespace bastion::gateway
