#include "gateway/web/web_assets.h"

namespace bastion::gateway {

// The script runs in browsers released since WebAuthn level 2 (async/await,
// fetch); nothing is built or bundled.
const std::string_view kWebAppJs = R"JS('use strict';
// bastion: WebAuthn registration (/invite/TOKEN) and step-up (/mfa/CODE).
(function () {
  var body = document.body;
  var flow = body.getAttribute('data-flow');
  var token = body.getAttribute('data-token') || '';
  var statusEl = document.getElementById('status');

  function setState(state, text) {
    statusEl.textContent = text;
    body.setAttribute('data-state', state);
  }

  var webauthn = window.bastionWebauthn;
  var toBuffer = webauthn.toBuffer, fromBuffer = webauthn.fromBuffer, listToBuffers = webauthn.listToBuffers;

  async function postJson(path, data) {
    var res = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(data),
      credentials: 'same-origin',
      cache: 'no-store'
    });
    var json = null;
    try { json = await res.json(); } catch (e) { json = null; }
    if (!res.ok || json === null || typeof json !== 'object') {
      throw new Error(json && json.error ? json.error : 'the server answered ' + res.status);
    }
    return json;
  }

  function api(step) {
    var base = flow === 'invite' ? '/api/invite/' : '/api/mfa/';
    return base + encodeURIComponent(token) + '/' + step;
  }

  function publicKeyOf(options) {
    if (!options.publicKey || typeof options.publicKey !== 'object') {
      throw new Error('the server sent no options');
    }
    return options.publicKey;
  }

  async function register() {
    var pk = publicKeyOf(await postJson(api('options'), {}));
    pk.challenge = toBuffer(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: toBuffer(pk.user && pk.user.id) });
    pk.excludeCredentials = listToBuffers(pk.excludeCredentials);
    var cred = await navigator.credentials.create({ publicKey: pk });
    var result = await postJson(api('register'), {
      id: cred.id,
      rawId: fromBuffer(cred.rawId),
      type: cred.type,
      response: {
        clientDataJSON: fromBuffer(cred.response.clientDataJSON),
        attestationObject: fromBuffer(cred.response.attestationObject)
      }
    });
    var c = result.confirmation;
    if (c && typeof c === 'object' && typeof c.command === 'string') {
      document.getElementById('confirm-command').textContent = c.command;
      document.getElementById('confirm-expires').textContent = String(c.expires_at || '');
      document.getElementById('confirm-admin').textContent = String(c.admin_command || '');
      document.getElementById('confirm').hidden = false;
    }
    if (typeof result.ssh_instructions === 'string' && result.ssh_instructions !== '') {
      document.getElementById('ssh-instructions').textContent = result.ssh_instructions;
      document.getElementById('next').hidden = false;
    }
    return result.message || 'your security key is registered.';
  }

  async function approve() {
    var options = await postJson(api('options'), {});
    var credential = await webauthn.getAssertion(publicKeyOf(options));
    var result = await postJson(api('assert'), credential);
    return result.message || 'approved. Your SSH login continues; you can close this page.';
  }

  var describe = webauthn.describe;

  function wire(buttonId, action) {
    var button = document.getElementById(buttonId);
    if (!button) return;
    if (!window.PublicKeyCredential || !navigator.credentials) {
      setState('failed', 'Failed: this browser cannot use security keys (no WebAuthn).');
      button.disabled = true;
      return;
    }
    button.addEventListener('click', async function () {
      button.disabled = true;
      setState('working', 'Waiting for your security key: touch it, and enter its PIN if asked.');
      try {
        setState('done', 'Done: ' + await action());
      } catch (err) {
        setState('failed', 'Failed: ' + describe(err));
        button.disabled = false;
      }
    });
  }

  if (flow === 'invite') wire('register', register);
  if (flow === 'mfa') wire('approve', approve);
})();
)JS";

// Shared by every page that talks to a security key (loaded before the page's own script).
const std::string_view kWebauthnJs = R"JS('use strict';
// bastion: WebAuthn helpers shared by the registration, step-up and console pages.
window.bastionWebauthn = (function () {
  // base64url without padding <-> ArrayBuffer.
  function toBuffer(text) {
    if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) {
      throw new Error('the server sent malformed binary data');
    }
    var b64 = text.replace(/-/g, '+').replace(/_/g, '/');
    b64 += '==='.slice((b64.length + 3) % 4);
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function fromBuffer(buffer) {
    var bytes = new Uint8Array(buffer);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function listToBuffers(list) {
    return (list || []).map(function (c) {
      var copy = Object.assign({}, c);
      copy.id = toBuffer(c.id);
      return copy;
    });
  }
  // navigator.credentials.get() with the server's PublicKeyCredentialRequestOptions
  // (binary fields in base64url); the assertion as JSON, binary fields in base64url.
  async function getAssertion(pk) {
    if (!pk || typeof pk !== 'object') throw new Error('the server sent no options');
    pk.challenge = toBuffer(pk.challenge);
    pk.allowCredentials = listToBuffers(pk.allowCredentials);
    var cred = await navigator.credentials.get({ publicKey: pk });
    var response = {
      clientDataJSON: fromBuffer(cred.response.clientDataJSON),
      authenticatorData: fromBuffer(cred.response.authenticatorData),
      signature: fromBuffer(cred.response.signature)
    };
    if (cred.response.userHandle) response.userHandle = fromBuffer(cred.response.userHandle);
    return { id: cred.id, rawId: fromBuffer(cred.rawId), type: cred.type, response: response };
  }
  function describe(err) {
    if (err && err.name && err.name !== 'Error') return err.name + ': ' + err.message;
    return err && err.message ? err.message : String(err);
  }
  return { toBuffer: toBuffer, fromBuffer: fromBuffer, listToBuffers: listToBuffers, getAssertion: getAssertion,
           describe: describe };
})();
)JS";

const std::string_view kWebStyleCss = R"CSS(:root { color-scheme: light dark; }
body { font-family: system-ui, sans-serif; line-height: 1.5; margin: 0; padding: 2rem 1rem; }
main { max-width: 40rem; margin: 0 auto; }
h1 { font-size: 1.6rem; margin-top: 0; }
button { font: inherit; font-size: 1.1rem; padding: 0.6rem 1.2rem; border-radius: 0.4rem; cursor: pointer; }
button:focus-visible { outline: 3px solid #2563eb; outline-offset: 2px; }
button:disabled { cursor: progress; opacity: 0.6; }
#status { min-height: 1.5em; font-weight: 600; }
body[data-state="done"] #status { color: #15803d; }
body[data-state="failed"] #status { color: #b91c1c; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; padding: 1rem; border: 1px solid #8888; border-radius: 0.4rem; }
.purpose { font-size: 1.1rem; }
.notice { border-left: 4px solid #b45309; padding-left: 0.8rem; }
body.console { padding: 0; }
body.console main { max-width: 72rem; padding: 1rem; }
.bar { display: flex; gap: 1.5rem; align-items: center; padding: 0.6rem 1rem; border-bottom: 1px solid #8886; }
.bar .brand { font-weight: 700; text-decoration: none; }
.bar nav a { margin-right: 1rem; }
.bar .who { margin-left: auto; }
button.link { font-size: 1rem; padding: 0.2rem 0.6rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; }
th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid #8884; vertical-align: top; }
input { font: inherit; padding: 0.3rem 0.4rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.state { padding: 0.05rem 0.45rem; border-radius: 0.3rem; border: 1px solid #8888; font-size: 0.9em; }
.state-pending { border-color: #b45309; }
.state-approved { border-color: #15803d; }
form.search { display: flex; flex-wrap: wrap; gap: 0 1rem; align-items: flex-end; }
form.search p { margin: 0.3rem 0; }
.check-intact, .check-partial { color: #15803d; }
.check-failed { color: #b91c1c; font-weight: bold; }
.player { max-width: 60rem; margin: 0.5rem 0; }
.player-controls { margin: 0.5rem 0; }
ol.commands code { white-space: pre-wrap; }
ul.found { margin: 0; padding-left: 1.1rem; }
ul.found code { white-space: pre-wrap; }
.state-denied, .state-revoked { border-color: #b91c1c; }
.empty, .hint { color: #666; }
)CSS";

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string text_field(const nlohmann::json& info, const char* key) {
  if (!info.is_object()) return {};
  auto it = info.find(key);
  return it != info.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::string page(const std::string& title, const std::string& body_attrs, const std::string& content) {
  return "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<meta name=\"referrer\" content=\"no-referrer\">\n"
         "<title>" +
         html_escape(title) +
         " - bastion</title>\n"
         "<link rel=\"stylesheet\" href=\"/static/style.css\">\n"
         "<script src=\"/static/webauthn.js\" defer></script>\n"
         "<script src=\"/static/app.js\" defer></script>\n</head>\n"
         "<body" +
         body_attrs + ">\n<main>\n" + content +
         "<noscript><p>This page needs JavaScript to talk to your security key.</p></noscript>\n"
         "</main>\n</body>\n</html>\n";
}

std::string flow_attrs(const char* flow, const std::string& token) {
  return std::string(" data-flow=\"") + flow + "\" data-token=\"" + html_escape(token) + "\"";
}

const char* const kStatusRegion = "<p id=\"status\" role=\"status\" aria-live=\"polite\"></p>\n";

}  // namespace

std::string render_invite_page(const std::string& token, const nlohmann::json& info) {
  std::string user = text_field(info, "user");
  std::string display = text_field(info, "display_name");
  std::string who = display.empty()
                        ? "<code>" + html_escape(user) + "</code>"
                        : "<strong>" + html_escape(display) + "</strong> (<code>" + html_escape(user) + "</code>)";
  std::string invited_by = text_field(info, "invited_by");
  std::string expires = text_field(info, "expires_at");
  // SECURITY: the link is a bearer token; the page says whom it is for, so a
  // person who got someone else's link (or a forwarded one) can tell.
  std::string content =
      "<h1>Register your security key</h1>\n"
      "<p>This registers a security key for " +
      who +
      ".</p>\n"
      "<p>Invitation from <code>" +
      html_escape(invited_by.empty() ? "?" : invited_by) + "</code>, valid until " +
      html_escape(expires.empty() ? "?" : expires) +
      ", once.</p>\n"
      "<p>If you are not this person, close this page and tell your administrator.</p>\n"
      "<p>Press the button, then touch your security key and enter its PIN when asked.</p>\n"
      "<p><button type=\"button\" id=\"register\">Register security key</button></p>\n" +
      std::string(kStatusRegion) +
      "<section id=\"confirm\" hidden>\n<h2>Now confirm it</h2>\n"
      "<p>The key works only once you confirm it. With your SSH key (enrolled at the gateway), run:</p>\n"
      "<pre id=\"confirm-command\"></pre>\n"
      "<p>The code is shown only here and works until <span id=\"confirm-expires\"></span>. "
      "No SSH key yet, or the code expired? Ask an administrator to check it is you and run:</p>\n"
      "<pre id=\"confirm-admin\"></pre>\n</section>\n"
      "<section id=\"next\" hidden>\n<h2>Next: your SSH key</h2>\n<pre id=\"ssh-instructions\"></pre>\n"
      "</section>\n";
  return page("Register your security key", flow_attrs("invite", token), content);
}

std::string render_stepup_page(const std::string& code, const nlohmann::json& info) {
  std::string user = text_field(info, "user");
  std::string purpose = text_field(info, "purpose");
  std::string notice = text_field(info, "notice");
  // SECURITY: the page shows what is being approved and the code, so the
  // person can compare both with their terminal before touching the key; an
  // approval link sent by someone else then looks wrong.
  std::string content =
      "<h1>Approve with your security key</h1>\n"
      "<p class=\"purpose\">" +
      html_escape(purpose) +
      "</p>\n"
      "<p>User <code>" +
      html_escape(user) + "</code>, code <code>" + html_escape(code) +
      "</code>.</p>\n"
      "<p>Approve only if you started this yourself just now and the code matches your terminal.</p>\n" +
      (notice.empty() ? std::string()
                      : "<p class=\"notice\"><strong>Note:</strong> " + html_escape(notice) + "</p>\n") +
      "<p><button type=\"button\" id=\"approve\">Approve</button></p>\n" + std::string(kStatusRegion);
  return page("Approve sign-in", flow_attrs("mfa", code), content);
}

std::string render_error_page(int status, const std::string& message) {
  std::string heading = status == 404   ? "This link is not valid"
                        : status == 410 ? "This link has expired or was already used"
                        : status >= 500 ? "Something went wrong"
                                        : "This request cannot be completed";
  std::string content = "<h1>" + heading +
                        "</h1>\n<p id=\"status\" role=\"status\" aria-live=\"polite\">Failed: " + html_escape(message) +
                        "</p>\n";
  return page(heading, " data-state=\"failed\"", content);
}

}  // namespace bastion::gateway
