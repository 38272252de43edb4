#include "gateway/web/console_pages.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "common/ed25519_key.h"
#include "common/encoding.h"
#include "gateway/web/web_assets.h"

namespace bastion::gateway {

std::string subresource_integrity(std::string_view bytes) {
  auto digest = sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  return "sha256-" + base64_encode(digest);
}

// The recording page: each [data-cast] element gets a player over the
// recording's text, fetched with the console's cookie. Skipping idle time
// compresses the timeline the player shows, so a command's offset (in the
// recording's own time) is mapped onto it before seeking.
const std::string_view kRecordingJs = R"JS('use strict';
(function () {
  var body = document.body;
  var statusEl = document.getElementById('status');
  var kIdle = 2;
  function setState(state, text) {
    if (statusEl) statusEl.textContent = text;
    body.setAttribute('data-state', state);
  }
  // Event times of an asciicast v2 text, for mapping offsets.
  function eventTimes(text) {
    var times = [];
    var lines = text.split('\n');
    for (var i = 1; i < lines.length; i++) {
      if (!lines[i]) continue;
      try {
        var ev = JSON.parse(lines[i]);
        if (Array.isArray(ev) && typeof ev[0] === 'number') times.push(ev[0]);
      } catch (e) { break; }
    }
    return times;
  }
  // The player's time for `offset` when gaps are capped at `limit` seconds.
  function mapped(times, offset, limit) {
    if (!limit) return offset;
    var t = 0, prev = 0;
    for (var i = 0; i < times.length && times[i] <= offset; i++) {
      t += Math.min(times[i] - prev, limit);
      prev = times[i];
    }
    return t + Math.min(offset - prev, limit);
  }

  // "+0:01:02.5" for an offset in seconds, as the server writes it.
  var kMaxCommands = 1000;
  function offsetText(seconds) {
    var tenths = Math.round(Math.max(0, seconds) * 10);
    function two(n) { return (n < 10 ? '0' : '') + n; }
    return '+' + Math.floor(tenths / 36000) + ':' + two(Math.floor(tenths / 600) % 60) + ':' +
      two(Math.floor(tenths / 10) % 60) + '.' + (tenths % 10);
  }

  // Encrypted recordings (recorder/cast_crypto.h), opened here with the
  // reviewer's private key file; the key never leaves this page.
  var kMagic = 'bastion-encrypted-cast v1 ';
  function fromBase64(text) {
    var bin = atob(text.replace(/-/g, '+').replace(/_/g, '/').replace(/\s+/g, ''));
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function same(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  async function openSealed(bytes, keyText) {
    var eol = bytes.indexOf(10);
    var header = eol < 0 ? '' : new TextDecoder().decode(bytes.subarray(0, eol));
    if (header.indexOf(kMagic) !== 0) throw new Error('not an encrypted recording');
    var parts = header.slice(kMagic.length).split(' ');
    var ephemeral = fromBase64(parts[0] || ''), reviewer = fromBase64(parts[1] || '');
    var pem = /-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/.exec(keyText);
    if (!pem) throw new Error('that file is not a reviewer key (PREFIX.key from bastionctl recording keygen)');
    var mine;
    try {
      mine = await crypto.subtle.importKey('pkcs8', fromBase64(pem[1]), { name: 'X25519' }, true, ['deriveBits']);
    } catch (e) {
      throw new Error('that file is not an X25519 reviewer key (' + e.name + ')');
    }
    var jwk = await crypto.subtle.exportKey('jwk', mine);
    if (jwk.x && !same(fromBase64(jwk.x), reviewer)) {
      throw new Error('that key is not the one this recording is encrypted to');
    }
    var theirs = await crypto.subtle.importKey('raw', ephemeral, { name: 'X25519' }, false, []);
    var shared = await crypto.subtle.deriveBits({ name: 'X25519', public: theirs }, mine, 256);
    var hkdf = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
    var salt = new Uint8Array(ephemeral.length + reviewer.length);
    salt.set(ephemeral, 0);
    salt.set(reviewer, ephemeral.length);
    var key = await crypto.subtle.deriveKey(
      { name: 'HKDF', hash: 'SHA-256', salt: salt, info: new TextEncoder().encode('bastion recording v1') },
      hkdf, { name: 'AES-GCM', length: 256 }, false, ['decrypt']);
    var chunks = [], total = 0, pos = eol + 1;
    for (var counter = 0; pos + 4 <= bytes.length; counter++) {
      var len = ((bytes[pos] << 24) >>> 0) + (bytes[pos + 1] << 16) + (bytes[pos + 2] << 8) + bytes[pos + 3];
      if (len < 28 || len > 64 * 1024 * 1024) throw new Error('corrupt recording frame ' + counter);
      if (pos + 4 + len > bytes.length) break;  // cut off mid-write: the last flush is lost
      var nonce = bytes.subarray(pos + 4, pos + 16);
      var want = new Uint8Array(12);
      new DataView(want.buffer).setUint32(4, Math.floor(counter / 4294967296));
      new DataView(want.buffer).setUint32(8, counter % 4294967296);
      if (!same(nonce, want)) throw new Error('recording frames out of order');
      var plain;
      try {
        plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce }, key, bytes.subarray(pos + 16, pos + 4 + len));
      } catch (e) {
        throw new Error('recording frame ' + counter + ' fails authentication (altered, or not this key)');
      }
      chunks.push(new Uint8Array(plain));
      total += plain.byteLength;
      pos += 4 + len;
    }
    var all = new Uint8Array(total), at = 0;
    chunks.forEach(function (c) { all.set(c, at); at += c.length; });
    return new TextDecoder().decode(all);
  }

  function fetchFrom(url, asBytes) {
    return fetch(url, { credentials: 'same-origin', cache: 'no-store' }).then(function (res) {
      if (!res.ok) throw new Error('the server answered ' + res.status);
      return asBytes ? res.arrayBuffer() : res.text();
    });
  }

  function setUp(div) {
    var ch = div.getAttribute('data-channel');
    var speedEl = document.getElementById('speed-' + ch);
    var idleEl = document.getElementById('idle-' + ch);
    var state = { text: null, times: [], player: null };
    function idle() { return idleEl && idleEl.checked ? kIdle : undefined; }
    function create(startAt, play) {
      if (state.text === null) return;
      var at = 0;
      if (state.player) {
        at = state.player.getCurrentTime() || 0;
        state.player.dispose();
      }
      state.player = window.AsciinemaPlayer.create({ data: state.text }, div, {
        speed: Number(speedEl ? speedEl.value : 1),
        idleTimeLimit: idle(),
        fit: 'width',
        controls: true,
        terminalFontSize: 'small',
        startAt: startAt === undefined ? at : startAt,
        autoPlay: !!play
      });
      div.setAttribute('data-ready', 'true');
    }
    function show(text, play) {
      state.text = text;
      state.times = eventTimes(text);
      // A link from a search by command: ?channel=N&at=SECONDS starts there.
      var asked = new URLSearchParams(window.location.search);
      var at = Number(asked.get('at'));
      var start = asked.get('channel') === ch && at > 0 ? mapped(state.times, at, idle()) : 0;
      create(start, play || start > 0);
    }
    if (speedEl) speedEl.addEventListener('change', function () { create(undefined, false); });
    if (idleEl) idleEl.addEventListener('change', function () { create(0, false); });
    function wireJump(b) {
      b.addEventListener('click', function () {
        if (!state.player) return;
        var at = mapped(state.times, Number(b.getAttribute('data-jump')), idle());
        state.player.seek(at).then(function () { state.player.play(); });
      });
    }
    Array.prototype.forEach.call(document.querySelectorAll('button[data-jump][data-channel="' + ch + '"]'), wireJump);
    // A command index (recorder/command_index.h), opened: its commands as
    // the list the server renders for plaintext recordings. Text only
    // (textContent): a command is what the recorded person typed.
    function listCommands(text) {
      var list = document.getElementById('commands-' + ch);
      var heading = document.getElementById('commands-h-' + ch);
      if (!list) return;
      var lines = text.split('\n');
      var header = JSON.parse(lines[0]);
      if (!header || header.format !== 'bastion-command-index') throw new Error('not a command index');
      list.textContent = '';
      for (var i = 1; i < lines.length && list.children.length < kMaxCommands; i++) {
        if (!lines[i]) continue;
        var entry = JSON.parse(lines[i]);
        if (typeof entry.t !== 'number' || typeof entry.cmd !== 'string') throw new Error('line ' + (i + 1));
        var item = document.createElement('li');
        var jump = document.createElement('button');
        jump.type = 'button';
        jump.className = 'link';
        jump.setAttribute('data-jump', String(entry.t));
        jump.setAttribute('data-channel', ch);
        jump.textContent = offsetText(entry.t);
        wireJump(jump);
        var code = document.createElement('code');
        code.textContent = entry.cmd;
        item.appendChild(jump);
        item.appendChild(document.createTextNode(' '));
        item.appendChild(code);
        list.appendChild(item);
      }
      list.hidden = list.children.length === 0;
      if (heading) heading.hidden = list.hidden;
    }
    var sealed = div.getAttribute('data-sealed');
    if (!sealed) {
      return fetchFrom(div.getAttribute('data-cast'), false).then(function (text) { show(text, false); });
    }
    var sealedCommands = div.getAttribute('data-commands');
    var keyEl = document.getElementById('key-' + ch);
    if (keyEl) {
      keyEl.addEventListener('change', function () {
        var file = keyEl.files && keyEl.files[0];
        if (!file) return;
        setState('working', 'Decrypting on this computer...');
        var index = sealedCommands ? fetchFrom(sealedCommands, true).catch(function (e) { return e; }) : null;
        Promise.all([file.text(), fetchFrom(sealed, true), index]).then(async function (got) {
          var text = await openSealed(new Uint8Array(got[1]), got[0]);
          // The recording plays even if its commands cannot be read.
          var note = '';
          if (got[2] instanceof ArrayBuffer) {
            try {
              listCommands(await openSealed(new Uint8Array(got[2]), got[0]));
            } catch (e) {
              note = ' Its command list cannot be read: ' + e.message + '.';
            }
          } else if (got[2]) {
            note = ' Its command list cannot be fetched: ' + got[2].message + '.';
          }
          return { text: text, note: note };
        }).then(function (opened) {
          show(opened.text, true);
          setState('done', 'Done: decrypted with your key, on this computer; playing.' + opened.note);
        }, function (err) {
          setState('failed', 'Failed: ' + err.message);
        });
      });
    }
    return Promise.resolve();
  }
  var players = document.querySelectorAll('[data-cast], [data-sealed]');
  var live = document.getElementById('watch-player');
  if (!window.AsciinemaPlayer) {
    if (players.length || live) setState('failed', 'Failed: the player did not load.');
    return;
  }
  // A live session (the watch page): the server streams its terminal as
  // Server-Sent Events; no buffering, so what happens shows at once.
  if (live) {
    var player = window.AsciinemaPlayer.create(
      { driver: 'eventsource', url: live.getAttribute('data-live'), bufferTime: 0 }, live,
      { fit: 'width', controls: false, autoPlay: true, terminalFontSize: 'small' });
    player.addEventListener('playing', function () {
      live.setAttribute('data-ready', 'true');
      setState('watching', 'Watching live.');
    });
    player.addEventListener('ended', function () {
      setState('ended', 'The watch has ended: the session ended, or you may no longer watch it.');
    });
    return;
  }
  Promise.all(Array.prototype.map.call(players, setUp)).then(function () {
    if (!body.hasAttribute('data-state')) setState('ready', '');
  }, function (err) {
    setState('failed', 'Failed: cannot load the recording: ' + err.message);
  });
})();
)JS";

// Runs in browsers with WebAuthn level 2 (async/await, fetch); nothing is
// built or bundled.
const std::string_view kConsoleJs = R"JS('use strict';
// bastion console: sign-in with a security key, and actions confirmed by one.
(function () {
  var body = document.body;
  var page = body.getAttribute('data-page');
  var csrf = body.getAttribute('data-csrf') || '';
  var statusEl = document.getElementById('status');

  function setState(state, text) {
    if (statusEl) statusEl.textContent = text;
    body.setAttribute('data-state', state);
  }
  var webauthn = window.bastionWebauthn;

  async function post(op, data) {
    var res = await fetch('/api/console/' + op, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
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
  function assertWith(options) { return webauthn.getAssertion(options.publicKey); }
  var describe = webauthn.describe;
  function value(id) {
    var el = document.getElementById(id);
    return el ? el.value.trim() : '';
  }
  // Runs `action` on a click of `button`, with the page's state around it.
  function wire(button, needsKey, action) {
    if (!button) return;
    if (needsKey && (!window.PublicKeyCredential || !navigator.credentials)) {
      setState('failed', 'Failed: this browser cannot use security keys (no WebAuthn).');
      button.disabled = true;
      return;
    }
    button.addEventListener('click', async function (ev) {
      ev.preventDefault();
      button.disabled = true;
      setState('working', needsKey ? 'Waiting for your security key: touch it, and enter its PIN if asked.'
                                   : 'Working...');
      try {
        setState('done', 'Done: ' + await action());
      } catch (err) {
        setState('failed', 'Failed: ' + describe(err));
        button.disabled = false;
      }
    });
  }

  wire(document.getElementById('signin'), true, async function () {
    var options = await post('signin-options', { user: value('user') });
    var credential = await assertWith(options);
    var result = await post('signin-assert', { ceremony: options.ceremony, credential: credential });
    window.location.assign(result.next || '/console/requests');
    return 'signed in as ' + result.user + '.';
  });
  wire(document.getElementById('signout'), false, async function () {
    var result = await post('signout', {});
    window.location.assign(result.next || '/console/signin');
    return 'signed out.';
  });
  wire(document.getElementById('request-new'), false, async function () {
    var result = await post('request-new', {
      destination: value('destination'), duration: value('duration'), reason: value('reason')
    });
    return result.message;
  });
  Array.prototype.forEach.call(document.querySelectorAll('button[data-action]'), function (button) {
    wire(button, true, async function () {
      var action = button.getAttribute('data-action');
      var options = await post('action-options', {
        action: action, id: body.getAttribute('data-id') || '',
        duration: action === 'approve' || action === 'break-glass' ? value(action + '-duration') : '',
        reason: value(action + '-reason'),
        user: action === 'break-glass' ? value('break-glass-user') : '',
        destination: action === 'break-glass' ? value('break-glass-destination') : ''
      });
      // The page shows what the key is about to confirm before it is touched.
      var summary = document.getElementById('confirm-summary');
      if (summary) summary.textContent = 'Confirming: ' + options.summary;
      var credential = await assertWith(options);
      var result = await post('action-assert', { ceremony: options.ceremony, credential: credential });
      Array.prototype.forEach.call(document.querySelectorAll('button[data-action]'), function (b) {
        b.disabled = true;
      });
      return result.message;
    });
  });
  if (page && !body.hasAttribute('data-state')) body.setAttribute('data-state', 'ready');
})();
)JS";

namespace {

std::string str(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  if (it == j.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number() || it->is_boolean()) return it->dump();
  return {};
}

std::string e(const std::string& s) { return html_escape(s); }

// "2026-12-04T06:27:43.167549Z" -> "2026-12-04 06:27:43 UTC"; anything else as it is.
std::string when(const std::string& t) {
  if (t.size() < 19 || t[10] != 'T') return t;
  return t.substr(0, 10) + " " + t.substr(11, 8) + " UTC";
}

const char* const kStatus = "<p id=\"status\" role=\"status\" aria-live=\"polite\"></p>\n";

// `data`: the page's answer; its "user" and "roles" (what the person may
// open) make the bar. Links to pages the person cannot use are left out.
std::string console_page(const std::string& title, const std::string& attrs, const nlohmann::json& data,
                         const std::string& content, const std::string& head = "") {
  const std::string user = str(data, "user");
  std::string bar = "<header class=\"bar\"><a class=\"brand\" href=\"/console/requests\">bastion</a>\n";
  if (!user.empty()) {
    const nlohmann::json roles = data.is_object() ? data.value("roles", nlohmann::json::object()) : nlohmann::json();
    const bool auditor = roles.is_object() && roles.value("auditor", false);
    const bool admin = roles.is_object() && roles.value("admin", false);
    const bool approver = roles.is_object() && roles.contains("approver_of") && roles["approver_of"].is_array() &&
                          !roles["approver_of"].empty();
    bar +=
        "<nav aria-label=\"Console\"><a href=\"/console/requests\">Requests</a> "
        "<a href=\"/console/live\">Live sessions</a>";
    if (auditor || approver) bar += " <a href=\"/console/recordings\">Recordings</a>";
    if (auditor) bar += " <a href=\"/console/audit\">Audit log</a>";
    if (admin) bar += " <a href=\"/console/people\">People</a>";
    bar += "</nav>\n<span class=\"who\">Signed in as <strong id=\"signed-in-as\">" + e(user) +
           "</strong> <button type=\"button\" id=\"signout\" class=\"link\">Sign out</button></span>\n";
  }
  bar += "</header>\n";
  return "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<meta name=\"referrer\" content=\"no-referrer\">\n<title>" +
         e(title) +
         " - bastion</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n"
         "<script src=\"/static/webauthn.js\" defer></script>\n"
         "<script src=\"/static/console.js\" defer></script>\n" +
         head + "</head>\n<body class=\"console\"" + attrs + ">\n" + bar + "<main>\n" + content +
         "<noscript><p>The console needs JavaScript to talk to your security key.</p></noscript>\n"
         "</main>\n</body>\n</html>\n";
}

std::string state_badge(const std::string& state) {
  return "<span class=\"state state-" + e(state) + "\">" + e(state) + "</span>";
}

std::string requests_table(const nlohmann::json& list, const std::string& id, const std::string& empty) {
  if (!list.is_array() || list.empty()) return "<p class=\"empty\">" + e(empty) + "</p>\n";
  std::string out = "<table id=\"" + e(id) +
                    "\">\n<thead><tr><th scope=\"col\">Request</th><th scope=\"col\">Person</th>"
                    "<th scope=\"col\">Access</th><th scope=\"col\">Customer</th><th scope=\"col\">For</th>"
                    "<th scope=\"col\">Reason</th><th scope=\"col\">State</th><th scope=\"col\">Requested</th>"
                    "</tr></thead>\n<tbody>\n";
  for (const auto& r : list) {
    const std::string rid = str(r, "id");
    out += "<tr data-id=\"" + e(rid) + "\"><td><a href=\"/console/requests/" + e(rid) + "\">" + e(rid) +
           "</a></td><td>" + e(str(r, "user")) + "</td><td><code>" + e(str(r, "login") + "@" + str(r, "target")) +
           "</code></td><td>" + e(str(r, "customer")) + "</td><td>" + e(str(r, "duration")) + "</td><td>" +
           e(str(r, "reason")) + "</td><td>" + state_badge(str(r, "state")) + "</td><td>" +
           e(when(str(r, "created_at"))) + "</td></tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

std::string row(const std::string& label, const std::string& value_html) {
  return "<dt>" + e(label) + "</dt><dd>" + value_html + "</dd>\n";
}

}  // namespace

std::string render_console_signin(const std::string& notice) {
  std::string content =
      "<h1>Sign in to the bastion console</h1>\n" +
      (notice.empty() ? std::string() : "<p class=\"notice\">" + e(notice) + "</p>\n") +
      "<p>Sign in with your security key: touch it and enter its PIN when asked. There is no password.</p>\n"
      "<form id=\"signin-form\">\n<p><label for=\"user\">Your user name</label><br>\n"
      "<input id=\"user\" name=\"user\" autocomplete=\"username webauthn\" autocapitalize=\"none\" "
      "spellcheck=\"false\"></p>\n"
      "<p class=\"hint\">Leave it empty if your security key remembers you.</p>\n"
      "<p><button type=\"submit\" id=\"signin\">Sign in with security key</button></p>\n</form>\n" +
      std::string(kStatus);
  return console_page("Sign in", " data-page=\"signin\"", nlohmann::json::object(), content);
}

std::string render_console_requests(const nlohmann::json& data) {
  const std::string user = str(data, "user");
  std::string approver_of;
  if (data.contains("approver_of") && data["approver_of"].is_array()) {
    for (const auto& c : data["approver_of"]) {
      if (!c.is_string()) continue;
      approver_of += (approver_of.empty() ? "" : ", ") + c.get<std::string>();
    }
  }
  std::string content = "<h1>Requests</h1>\n";
  if (!approver_of.empty()) {
    content += "<p>You approve requests for: <strong>" + e(approver_of) + "</strong>.</p>\n";
  }
  content +=
      "<section aria-labelledby=\"h-awaiting\"><h2 id=\"h-awaiting\">Waiting for your decision</h2>\n" +
      requests_table(data.value("awaiting", nlohmann::json::array()), "awaiting", "Nothing waits for your decision.") +
      "</section>\n";
  content += "<section aria-labelledby=\"h-mine\"><h2 id=\"h-mine\">Your requests</h2>\n" +
             requests_table(data.value("mine", nlohmann::json::array()), "mine", "You have made no request.") +
             "<details><summary id=\"request-form-toggle\">Request access</summary>\n<form id=\"request-form\">\n"
             "<p><label for=\"destination\">Login and target</label><br>"
             "<input id=\"destination\" placeholder=\"root@acme-app\" spellcheck=\"false\" autocapitalize=\"none\">"
             "</p>\n<p><label for=\"duration\">For how long</label><br>"
             "<input id=\"duration\" placeholder=\"30m\" size=\"8\"></p>\n"
             "<p><label for=\"reason\">Reason (the approver reads it; give the ticket)</label><br>"
             "<input id=\"reason\" size=\"50\"></p>\n"
             "<p><button type=\"submit\" id=\"request-new\">Request</button></p>\n</form>\n</details>\n"
             "</section>\n";
  if (!approver_of.empty() || !data.value("others", nlohmann::json::array()).empty()) {
    content += "<section aria-labelledby=\"h-others\"><h2 id=\"h-others\">Requests for your customers</h2>\n" +
               requests_table(data.value("others", nlohmann::json::array()), "others", "None yet.") + "</section>\n";
  }
  content += kStatus;
  return console_page("Requests", " data-page=\"requests\" data-csrf=\"" + e(str(data, "csrf")) + "\"", data, content);
}

std::string render_console_request(const nlohmann::json& data) {
  const std::string user = str(data, "user");
  const nlohmann::json r = data.value("request", nlohmann::json::object());
  const std::string id = str(r, "id");
  std::string content =
      "<p><a href=\"/console/requests\">&larr; All requests</a></p>\n<h1>Request " + e(id) + "</h1>\n";
  content += "<dl class=\"facts\">\n" + row("Person", e(str(r, "user"))) +
             row("Access", "<code>" + e(str(r, "login") + "@" + str(r, "target")) + "</code>") +
             row("Customer", e(str(r, "customer").empty() ? "-" : str(r, "customer"))) +
             row("Asked for", e(str(r, "duration"))) + row("Reason", e(str(r, "reason"))) +
             row("State", state_badge(str(r, "state"))) + row("Requested", e(when(str(r, "created_at")))) +
             row("Expires if undecided", e(when(str(r, "expires_at"))));
  if (!str(r, "grant_id").empty()) {
    content += row("Grant", e(str(r, "grant_id"))) +
               row("Window", e(when(str(r, "starts_at"))) + " to " + e(when(str(r, "ends_at"))));
  }
  if (!str(r, "denied_by").empty()) {
    content += row("Denied by", e(str(r, "denied_by") + ": " + str(r, "deny_reason")));
  }
  if (!str(r, "ended_by").empty()) {
    content += row("Ended by", e(str(r, "ended_by") + " at " + when(str(r, "ended_at")) + ": " + str(r, "end_reason")));
  }
  std::string approvals;
  if (data.contains("approvals") && data["approvals"].is_array()) {
    for (const auto& a : data["approvals"]) {
      approvals += (approvals.empty() ? "" : "; ") + str(a, "approver") + " (" + str(a, "kind") + ", " +
                   when(str(a, "at")) + ")";
    }
  }
  content += row("Approvals", e(approvals.empty() ? "none yet" : approvals)) + "</dl>\n";
  if (data.value("can_decide", false)) {
    content +=
        "<section aria-labelledby=\"h-decide\"><h2 id=\"h-decide\">Your decision</h2>\n"
        "<p>Each decision asks your security key again: it confirms this decision, on this request, only.</p>\n"
        "<form id=\"approve-form\"><p><label for=\"approve-duration\">Approve for (optional, shorter than asked)"
        "</label><br><input id=\"approve-duration\" placeholder=\"" +
        e(str(r, "duration")) +
        "\" size=\"8\"></p>\n<p><button type=\"submit\" id=\"approve\" data-action=\"approve\">Approve with security "
        "key</button></p></form>\n"
        "<form id=\"deny-form\"><p><label for=\"deny-reason\">Reason to deny (the requester reads it)</label><br>"
        "<input id=\"deny-reason\" size=\"50\"></p>\n<p><button type=\"submit\" id=\"deny\" data-action=\"deny\">"
        "Deny with security key</button></p></form>\n</section>\n";
  } else if (data.contains("cannot_decide")) {
    content += "<p class=\"notice\">" + e(str(data, "cannot_decide")) + "</p>\n";
  }
  const std::string state = str(r, "state");
  // An approved grant can be revoked (its live sessions end); a pending
  // request only withdrawn by its requester (an approver denies it instead).
  const bool withdraw = state == "pending" && str(r, "user") == user;
  if (data.value("can_revoke", false) && (state == "approved" || withdraw)) {
    const std::string verb = withdraw ? "Withdraw" : "Revoke";
    content += "<section aria-labelledby=\"h-revoke\"><h2 id=\"h-revoke\">" + verb +
               "</h2>\n<form id=\"revoke-form\"><p><label for=\"revoke-reason\">Reason" +
               std::string(withdraw ? "" : " (shown to the sessions it ends)") +
               "</label><br><input id=\"revoke-reason\" size=\"50\"></p>\n<p><button type=\"submit\" id=\"revoke\" "
               "data-action=\"revoke\">" +
               verb + " with security key</button></p></form>\n</section>\n";
  }
  content += "<p id=\"confirm-summary\" class=\"purpose\"></p>\n" + std::string(kStatus);
  content +=
      "<section aria-labelledby=\"h-history\"><h2 id=\"h-history\">" + e(str(r, "user")) + "'s earlier requests to " +
      e(str(r, "customer").empty() ? "these targets" : str(r, "customer")) + "</h2>\n" +
      requests_table(data.value("history", nlohmann::json::array()), "history", "No earlier request.") + "</section>\n";
  return console_page("Request " + id,
                      " data-page=\"request\" data-id=\"" + e(id) + "\" data-csrf=\"" + e(str(data, "csrf")) + "\"",
                      data, content);
}

namespace {

std::string bytes(const nlohmann::json& r) {
  auto n = [&](const char* k) { return r.contains(k) && r[k].is_number() ? r[k].get<int64_t>() : int64_t{0}; };
  return std::to_string(n("bytes_in")) + " in, " + std::to_string(n("bytes_out")) + " out";
}

}  // namespace

std::string render_console_live(const nlohmann::json& data) {
  const nlohmann::json list = data.value("sessions", nlohmann::json::array());
  std::string content = "<h1>Live sessions</h1>\n<p>Your own sessions and those on your customers' targets, now.</p>\n";
  if (list.empty()) {
    content += "<p class=\"empty\">No live session you can see.</p>\n";
  } else {
    content +=
        "<table id=\"live\">\n<thead><tr><th scope=\"col\">Session</th><th scope=\"col\">Person</th>"
        "<th scope=\"col\">Access</th><th scope=\"col\">Customer</th><th scope=\"col\">Grant</th>"
        "<th scope=\"col\">Started</th><th scope=\"col\">Node</th><th scope=\"col\">Watch</th></tr></thead>\n"
        "<tbody>\n";
    for (const auto& r : list) {
      const std::string id = str(r, "id");
      const std::string watch = r.value("can_watch", false)
                                    ? "<a class=\"watch\" href=\"/console/sessions/" + e(id) + "/watch\">Watch</a>"
                                    : "";
      content += "<tr data-id=\"" + e(id) + "\"><td><a href=\"/console/sessions/" + e(id) + "\">" + e(id) +
                 "</a></td><td>" + e(str(r, "user")) + "</td><td><code>" + e(str(r, "login") + "@" + str(r, "target")) +
                 "</code></td><td>" + e(str(r, "customer")) + "</td><td>" + e(str(r, "grant_id")) + "</td><td>" +
                 e(when(str(r, "started_at"))) + "</td><td>" + e(str(r, "node")) + "</td><td>" + watch + "</td></tr>\n";
    }
    content += "</tbody>\n</table>\n";
  }
  content += kStatus;
  return console_page("Live sessions", " data-page=\"live\" data-csrf=\"" + e(str(data, "csrf")) + "\"", data, content);
}

std::string render_console_session(const nlohmann::json& data) {
  const nlohmann::json r = data.value("session", nlohmann::json::object());
  const std::string id = str(r, "id");
  std::string content = "<p><a href=\"/console/live\">&larr; Live sessions</a></p>\n<h1>Session " + e(id) +
                        "</h1>\n<dl class=\"facts\">\n" + row("Person", e(str(r, "user"))) +
                        row("Access", "<code>" + e(str(r, "login") + "@" + str(r, "target")) + "</code>") +
                        row("Customer", e(str(r, "customer").empty() ? "-" : str(r, "customer"))) +
                        row("Grant", e(str(r, "grant_id").empty() ? "-" : str(r, "grant_id"))) +
                        row("Gateway node", e(str(r, "node"))) + row("Started", e(when(str(r, "started_at"))));
  // Byte counts are stored when a session ends.
  if (!str(r, "ended_at").empty()) {
    content += row("Ended", e(when(str(r, "ended_at")) + ": " + str(r, "end_reason"))) + row("Bytes", e(bytes(r)));
  }
  content += "</dl>\n";
  if (data.value("can_watch", false)) {
    content += "<p><a id=\"watch\" href=\"/console/sessions/" + e(id) + "/watch\">Watch it live</a></p>\n";
  }
  if (data.value("can_end", false)) {
    content +=
        "<section aria-labelledby=\"h-end\"><h2 id=\"h-end\">End this session</h2>\n"
        "<p>It ends within a second; the person sees the reason. Your security key confirms it.</p>\n"
        "<form id=\"end-form\"><p><label for=\"end-reason\">Reason (shown to the person)</label><br>"
        "<input id=\"end-reason\" size=\"50\"></p>\n<p><button type=\"submit\" id=\"end\" "
        "data-action=\"end\">End session with security key</button></p></form>\n</section>\n";
  }
  content += "<p id=\"confirm-summary\" class=\"purpose\"></p>\n" + std::string(kStatus);
  return console_page("Session " + id,
                      " data-page=\"session\" data-id=\"" + e(id) + "\" data-csrf=\"" + e(str(data, "csrf")) + "\"",
                      data, content);
}

namespace {

std::string number(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].dump() : std::string();
}

std::string input(const char* id, const char* label, const std::string& value, const char* type, const char* hint) {
  return "<p><label for=\"" + std::string(id) + "\">" + label + "</label><br><input id=\"" + id + "\" name=\"" + id +
         "\" type=\"" + type + "\" value=\"" + e(value) + "\" placeholder=\"" + hint +
         "\" spellcheck=\"false\" autocapitalize=\"none\"></p>\n";
}

// "+0:01:02.5", an offset into a recording.
std::string offset_text(double seconds) {
  if (seconds < 0) seconds = 0;
  long long tenths = std::llround(seconds * 10);
  char buf[48];
  std::snprintf(buf, sizeof buf, "+%lld:%02lld:%02lld.%lld", tenths / 36000, tenths / 600 % 60, tenths / 10 % 60,
                tenths % 10);
  return buf;
}

std::string check_badge(const nlohmann::json& check) {
  const std::string state = str(check, "state");
  if (state.empty()) return "";
  return "<p class=\"check check-" + e(state) + "\" data-check=\"" + e(state) + "\">Verification against the audit " +
         "log: " + e(str(check, "text")) + "</p>\n";
}

std::string speed_controls(const std::string& ch) {
  return "<div class=\"player-controls\"><label for=\"speed-" + e(ch) + "\">Speed</label> <select id=\"speed-" + e(ch) +
         "\" data-speed><option value=\"0.5\">0.5x</option><option value=\"1\" selected>1x</option>"
         "<option value=\"2\">2x</option><option value=\"4\">4x</option><option value=\"8\">8x</option></select> "
         "<label><input type=\"checkbox\" id=\"idle-" +
         e(ch) + "\" data-idle checked> Skip idle time (over 2 s)</label></div>\n";
}

std::string channel_section(const std::string& id, const nlohmann::json& c) {
  const std::string ch = number(c, "channel");
  const std::string kind = str(c, "kind");
  const std::string base = "/console/recordings/" + e(id) + "/" + e(ch);
  std::string out = "<section class=\"recording\" aria-labelledby=\"h-ch" + e(ch) + "\"><h2 id=\"h-ch" + e(ch) +
                    "\">Channel " + e(ch) + "</h2>\n";
  out += check_badge(c.value("check", nlohmann::json::object()));
  if (!str(c, "problem").empty()) out += "<p class=\"notice\">" + e(str(c, "problem")) + "</p>\n";
  if (kind == "terminal") {
    out += speed_controls(ch);
    out += "<div class=\"player\" id=\"player-" + e(ch) + "\" data-channel=\"" + e(ch) + "\" data-cast=\"" + base +
           "/cast\"></div>\n";
    const nlohmann::json commands = c.value("commands", nlohmann::json::array());
    if (!commands.empty()) {
      out += "<h3>Commands</h3>\n<ol class=\"commands\" id=\"commands-" + e(ch) + "\">\n";
      for (const auto& cmd : commands) {
        const double at = cmd.contains("offset") && cmd["offset"].is_number() ? cmd["offset"].get<double>() : 0;
        out += "<li><button type=\"button\" class=\"link\" data-jump=\"" + e(std::to_string(at)) +
               "\" data-channel=\"" + e(ch) + "\">" + e(offset_text(at)) + "</button> <code>" + e(str(cmd, "command")) +
               "</code></li>\n";
      }
      out += "</ol>\n";
    }
  } else if (kind == "encrypted") {
    out +=
        "<p>This recording is encrypted to the reviewers' key. Choose your key file to replay it here: it is "
        "read and used on this computer only, never sent.</p>\n<p><label for=\"key-" +
        e(ch) + "\">Reviewer key file (PREFIX.key)</label><br><input type=\"file\" id=\"key-" + e(ch) +
        "\" accept=\".key,.pem\"></p>\n" + speed_controls(ch) + "<div class=\"player\" id=\"player-" + e(ch) +
        "\" data-channel=\"" + e(ch) + "\" data-sealed=\"" + base + "/cast\"" +
        (c.value("sealed_commands", false) ? " data-commands=\"" + base + "/commands\"" : std::string()) + "></div>\n";
    // Filled by the page once the key opens the sealed command index.
    out += "<h3 id=\"commands-h-" + e(ch) + "\" hidden>Commands</h3>\n<ol class=\"commands\" id=\"commands-" + e(ch) +
           "\" hidden></ol>\n<p>Or replay it on your own machine, where the key is:</p>\n<pre>bastionctl sessions "
           "replay " +
           e(id) + " --channel " + e(ch) + " --key REVIEWER.key</pre>\n";
  } else if (kind == "stream") {
    out +=
        "<p>A byte-exact recording of a non-terminal channel (a command's input and output, or a file transfer). "
        "Download it, or export it with:</p>\n<pre>bastionctl sessions export " +
        e(id) + " --channel " + e(ch) + "</pre>\n";
  }
  if (kind == "terminal" || kind == "encrypted" || kind == "stream") {
    out += "<p><a href=\"" + base + "/download\" download>Download the recording file</a> (" + e(number(c, "size")) +
           " bytes)</p>\n";
  }
  return out + "</section>\n";
}

}  // namespace

std::string render_console_recordings(const nlohmann::json& data, const nlohmann::json& query) {
  std::string content = "<h1>Recordings</h1>\n";
  if (!str(data, "note").empty()) {
    content += "<p class=\"notice\">" + e(str(data, "note")) + "</p>\n";
  } else {
    content += "<form id=\"search-form\" method=\"get\" action=\"/console/recordings\" class=\"search\">\n" +
               input("user", "Person", str(query, "user"), "text", "bob") +
               input("target", "Target", str(query, "target"), "text", "acme-app") +
               input("customer", "Customer", str(query, "customer"), "text", "acme") +
               input("command", "Command typed", str(query, "command"), "text", "systemctl restart") +
               input("since", "From (UTC)", str(query, "since"), "date", "") +
               input("until", "To (UTC, included)", str(query, "until"), "date", "") +
               "<p><button type=\"submit\" id=\"search\">Search</button></p>\n</form>\n";
    const bool by_command = !str(query, "command").empty();
    if (by_command) {
      content +=
          "<p class=\"hint\">Commands are found in terminal recordings that are not encrypted (the gateway cannot "
          "read encrypted ones: <code>bastionctl sessions search --command REGEX --key REVIEWER.key</code>), the "
          "first 10,000 of a channel.</p>\n";
    }
    const nlohmann::json list = data.value("sessions", nlohmann::json::array());
    if (list.empty()) {
      content += "<p class=\"empty\">No recorded session matches.</p>\n";
    } else {
      content +=
          "<table id=\"recordings\">\n<thead><tr><th scope=\"col\">Session</th><th scope=\"col\">Person</th>"
          "<th scope=\"col\">Access</th><th scope=\"col\">Customer</th><th scope=\"col\">Started</th>"
          "<th scope=\"col\">Ended</th>" +
          std::string(by_command ? "<th scope=\"col\">Commands found</th>" : "") + "</tr></thead>\n<tbody>\n";
      for (const auto& r : list) {
        const std::string id = str(r, "id");
        const std::string ended = str(r, "ended_at").empty() ? "live" : when(str(r, "ended_at"));
        content += "<tr data-id=\"" + e(id) + "\"><td><a href=\"/console/recordings/" + e(id) + "\">" + e(id) +
                   "</a></td><td>" + e(str(r, "user")) + "</td><td><code>" +
                   e(str(r, "login") + "@" + str(r, "target")) + "</code></td><td>" + e(str(r, "customer")) +
                   "</td><td>" + e(when(str(r, "started_at"))) + "</td><td>" + e(ended) + "</td>";
        if (by_command) {
          content += "<td><ul class=\"found\">";
          for (const auto& c : r.value("commands", nlohmann::json::array())) {
            const double at = c.contains("offset") && c["offset"].is_number() ? c["offset"].get<double>() : 0;
            content += "<li><a href=\"/console/recordings/" + e(id) + "?channel=" + e(number(c, "channel")) +
                       "&amp;at=" + e(std::to_string(at)) + "\">" + e(offset_text(at)) + "</a> <code>" +
                       e(str(c, "command")) + "</code></li>";
          }
          content += "</ul></td>";
        }
        content += "</tr>\n";
      }
      content += "</tbody>\n</table>\n";
      if (data.value("limited", false)) {
        content += "<p class=\"hint\">Only the newest " + std::to_string(list.size()) +
                   " are listed: narrow the search.</p>\n";
      }
    }
  }
  content += kStatus;
  return console_page("Recordings", " data-page=\"recordings\" data-csrf=\"" + e(str(data, "csrf")) + "\"", data,
                      content);
}

std::string render_console_audit(const nlohmann::json& data, const nlohmann::json& query) {
  std::string content = "<h1>Audit log</h1>\n";
  if (!str(data, "note").empty()) {
    content += "<p class=\"notice\">" + e(str(data, "note")) + "</p>\n";
    content += kStatus;
    return console_page("Audit log", " data-page=\"audit\"", data, content);
  }
  const nlohmann::json chain = data.value("chain", nlohmann::json::object());
  content += "<p class=\"check check-" + e(str(chain, "state")) + "\" id=\"chain\" data-check=\"" +
             e(str(chain, "state")) + "\">The chain: " + e(str(chain, "text")) + ".</p>\n";
  if (chain.contains("checkpoint")) {
    const auto& cp = chain["checkpoint"];
    content += "<p>Newest signed checkpoint: record " + e(str(cp, "seq")) + ", " + e(when(str(cp, "at"))) + " (" +
               e(str(cp, "kind")) + ").</p>\n";
  }
  content +=
      "<p class=\"hint\">This checks the newest part of the chain. The whole chain: <code>bastionctl audit "
      "verify</code>, or <code>bastion-verify</code> on an evidence pack.</p>\n";
  content += "<form id=\"audit-form\" method=\"get\" action=\"/console/audit\" class=\"search\">\n" +
             input("actor", "Actor", str(query, "actor"), "text", "carol") +
             input("action", "Action", str(query, "action"), "text", "grant.approve") +
             input("session", "Session", str(query, "session"), "text", "s-...") +
             input("text", "Reason or details contain", str(query, "text"), "text", "REQ-...") +
             input("since", "From (UTC)", str(query, "since"), "date", "") +
             input("until", "To (UTC, included)", str(query, "until"), "date", "") +
             "<p><button type=\"submit\" id=\"filter\">Filter</button></p>\n</form>\n";
  std::string export_query;
  for (const char* k : {"actor", "action", "session", "text", "since", "until"}) {
    const std::string v = str(query, k);
    if (v.empty()) continue;
    std::string enc;
    for (unsigned char c : v) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        enc += static_cast<char>(c);
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        enc += buf;
      }
    }
    export_query += (export_query.empty() ? "?" : "&") + std::string(k) + "=" + enc;
  }
  content += "<p><a id=\"export\" href=\"/console/audit/export" + e(export_query) +
             "\" download>Export the matching records as JSON lines</a> (each with its hash; at most 50,000)</p>\n";
  const nlohmann::json list = data.value("records", nlohmann::json::array());
  if (list.empty()) {
    content += "<p class=\"empty\">No record matches.</p>\n";
  } else {
    content +=
        "<table id=\"audit\">\n<thead><tr><th scope=\"col\">#</th><th scope=\"col\">Time</th>"
        "<th scope=\"col\">Actor</th><th scope=\"col\">Action</th><th scope=\"col\">Outcome</th>"
        "<th scope=\"col\">Target</th><th scope=\"col\">Reason</th></tr></thead>\n<tbody>\n";
    for (const auto& r : list) {
      std::string target = str(r, "target");
      if (!str(r, "login").empty()) target = str(r, "login") + "@" + target;
      content += "<tr data-seq=\"" + e(str(r, "seq")) + "\"><td>" + e(str(r, "seq")) + "</td><td>" +
                 e(when(str(r, "time"))) + "</td><td>" + e(str(r, "actor")) + "</td><td><code>" + e(str(r, "action")) +
                 "</code></td><td>" + e(str(r, "outcome")) + "</td><td>" + e(target) + "</td><td>" +
                 e(str(r, "reason")) + "</td></tr>\n";
    }
    content += "</tbody>\n</table>\n";
    if (data.value("limited", false)) {
      content += "<p class=\"hint\">The newest " + std::to_string(list.size()) +
                 " are listed: narrow the filter, or export.</p>\n";
    }
  }
  content += kStatus;
  return console_page("Audit log", " data-page=\"audit\"", data, content);
}

namespace {

// A person's active SSH keys, one per line (type, fingerprint, whether an
// attestation proved it a security key), and how many were revoked.
std::string ssh_keys_cell(const nlohmann::json& keys) {
  std::string out;
  int revoked = 0;
  for (const auto& k : keys) {
    if (!k.value("active", false)) {
      ++revoked;
      continue;
    }
    out += (out.empty() ? "" : "<br>") + std::string("<code>") + e(str(k, "type")) + "</code> <code title=\"" +
           e(str(k, "fingerprint")) + "\">" + e(str(k, "fingerprint").substr(0, 19)) + "&hellip;</code>" +
           (k.value("attested", false) ? " attested" : "");
  }
  if (out.empty()) out = "none";
  if (revoked > 0) out += "<br><span class=\"hint\">" + std::to_string(revoked) + " revoked</span>";
  return out;
}

// How many security-key credentials the person has in each state, and when one was last used.
std::string credentials_cell(const nlohmann::json& creds) {
  std::map<std::string, int> by_state;
  std::string last_used;
  for (const auto& c : creds) {
    ++by_state[str(c, "state")];
    last_used = std::max(last_used, str(c, "last_used_at"));
  }
  if (by_state.empty()) return "none";
  std::string out;
  for (const auto& [state, n] : by_state) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + e(state);
  if (!last_used.empty()) out += "<br><span class=\"hint\">used " + e(when(last_used)) + "</span>";
  return out;
}

}  // namespace

std::string render_console_people(const nlohmann::json& data, const nlohmann::json& query) {
  std::string content = "<h1>People and access</h1>\n";
  if (!str(data, "note").empty()) {
    content += "<p class=\"notice\">" + e(str(data, "note")) + "</p>\n" + kStatus;
    return console_page("People and access", " data-page=\"people\"", data, content);
  }
  content += "<p class=\"hint\">Read-only. Changes are made with bastionctl, or by HR.</p>\n";
  // access check
  content +=
      "<section aria-labelledby=\"h-check\"><h2 id=\"h-check\">Would this person get in now?</h2>\n"
      "<form id=\"check-form\" method=\"get\" action=\"/console/people\" class=\"search\">\n" +
      input("check_user", "Person", str(query, "check_user"), "text", "bob") +
      input("check_dest", "Login and target", str(query, "check_dest"), "text", "root@acme-app") +
      "<p><button type=\"submit\" id=\"check\">Check</button></p>\n</form>\n";
  if (data.contains("check")) {
    const auto& c = data["check"];
    if (!str(c, "error").empty()) {
      content += "<p class=\"check check-failed\" id=\"check-result\">" + e(str(c, "error")) + "</p>\n";
    } else {
      const bool allow = c.value("allow", false);
      std::string text = std::string(allow ? "allow: " : "deny: ") + str(c, "reason");
      if (allow && str(c, "grant_id").empty()) text += " (decided by standing role " + str(c, "role") + ")";
      if (allow && !str(c, "grant_id").empty()) {
        text += " (decided by grant " + str(c, "grant_id") + ", request " + str(c, "request_id") + ", until " +
                when(str(c, "until")) + ")";
      }
      if (!allow && !str(c, "eligible_role").empty()) {
        text += "; eligible: role " + str(c, "eligible_role") + " lets them request it with the consent of " +
                "customer " + str(c, "customer");
      }
      content += "<p class=\"check check-" + std::string(allow ? "intact" : "failed") +
                 "\" id=\"check-result\" data-allow=\"" + (allow ? "true" : "false") + "\">" + e(text) + "</p>\n";
    }
  }
  content += "</section>\n";
  // who-can
  content +=
      "<section aria-labelledby=\"h-who\"><h2 id=\"h-who\">Who can reach a target?</h2>\n"
      "<form id=\"who-form\" method=\"get\" action=\"/console/people\" class=\"search\">\n" +
      input("who_can", "Target", str(query, "who_can"), "text", "acme-app") +
      "<p><button type=\"submit\" id=\"who\">Show</button></p>\n</form>\n";
  if (data.contains("who_can")) {
    const auto& w = data["who_can"];
    if (!str(w, "error").empty()) {
      content += "<p class=\"check check-failed\" id=\"who-result\">" + e(str(w, "error")) + "</p>\n";
    } else {
      const nlohmann::json rows = w.value("rows", nlohmann::json::array());
      if (rows.empty()) {
        content += "<p class=\"empty\" id=\"who-result\">Nobody.</p>\n";
      } else {
        content +=
            "<table id=\"who-result\">\n<thead><tr><th scope=\"col\">Person</th><th scope=\"col\">Login"
            "</th><th scope=\"col\">How</th><th scope=\"col\">Detail</th></tr></thead>\n<tbody>\n";
        for (const auto& r : rows) {
          content += "<tr><td>" + e(str(r, "user")) + "</td><td>" + e(str(r, "login").empty() ? "-" : str(r, "login")) +
                     "</td><td>" + e(str(r, "how")) + "</td><td>" + e(str(r, "detail")) + "</td></tr>\n";
        }
        content += "</tbody>\n</table>\n";
      }
    }
  }
  content += "</section>\n";
  // people
  content +=
      "<section aria-labelledby=\"h-people\"><h2 id=\"h-people\">People</h2>\n"
      "<form id=\"people-form\" method=\"get\" action=\"/console/people\" class=\"search\">\n" +
      input("q", "Name or email contains", str(query, "q"), "text", "bob") +
      "<p><button type=\"submit\" id=\"find\">Find</button></p>\n</form>\n";
  const nlohmann::json people = data.value("people", nlohmann::json::array());
  content +=
      "<table id=\"people\">\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">State</th>"
      "<th scope=\"col\">Roles</th><th scope=\"col\">SSH keys</th><th scope=\"col\">Security keys (web)</th>"
      "<th scope=\"col\">Last login</th><th scope=\"col\">Department</th><th scope=\"col\">Email</th></tr>"
      "</thead>\n<tbody>\n";
  for (const auto& p : people) {
    std::string roles;
    for (const auto& r : p.value("roles", nlohmann::json::array())) {
      if (r.is_string()) roles += (roles.empty() ? "" : ", ") + r.get<std::string>();
    }
    content += "<tr data-name=\"" + e(str(p, "name")) + "\"><td>" + e(str(p, "name")) +
               (p.value("service_account", false) ? " <span class=\"state\">service</span>" : "") + "</td><td>" +
               state_badge(str(p, "state")) + "</td><td>" + e(roles.empty() ? "-" : roles) +
               "</td><td class=\"keys\">" + ssh_keys_cell(p.value("ssh_keys", nlohmann::json::array())) +
               "</td><td class=\"credentials\">" + credentials_cell(p.value("credentials", nlohmann::json::array())) +
               "</td><td class=\"last-login\">" +
               e(str(p, "last_login").empty() ? "never" : when(str(p, "last_login"))) + "</td><td>" +
               e(str(p, "department")) + "</td><td>" + e(str(p, "email")) + "</td></tr>\n";
  }
  content += "</tbody>\n</table>\n";
  const auto matched = data.value("matched", static_cast<size_t>(0));
  if (matched > people.size()) {
    content += "<p class=\"hint\">" + std::to_string(people.size()) + " of " + std::to_string(matched) +
               " listed: narrow the search.</p>\n";
  }
  content += "</section>\n";
  content +=
      "<section aria-labelledby=\"h-break-glass\"><h2 id=\"h-break-glass\">Break-glass</h2>\n"
      "<p>An emergency grant <strong>without the customer's consent</strong>, for when it cannot be asked. It is "
      "audited as such (elevation.break-glass), listed by <code>bastionctl elevate list --break-glass</code>, and "
      "your security key confirms it.</p>\n<form id=\"break-glass-form\" class=\"search\">\n" +
      input("break-glass-user", "Person", "", "text", "bob") +
      input("break-glass-destination", "Login and target", "", "text", "root@acme-app") +
      input("break-glass-duration", "For how long", "", "text", "30m") +
      input("break-glass-reason", "Why consent cannot be asked (incident)", "", "text", "INC-1234") +
      "<p><button type=\"submit\" id=\"break-glass\" data-action=\"break-glass\">Break glass with security key"
      "</button></p>\n</form>\n<p id=\"confirm-summary\" class=\"purpose\"></p>\n</section>\n" +
      std::string(kStatus);
  return console_page("People and access", " data-page=\"people\" data-csrf=\"" + e(str(data, "csrf")) + "\"", data,
                      content);
}

namespace {

// The player's files (embedded, pinned) with Subresource Integrity: a changed byte does not run.
const std::string& player_head() {
  static const std::string head =
      "<link rel=\"stylesheet\" href=\"/static/player.css\" integrity=\"" + subresource_integrity(assets::kPlayerCss) +
      "\">\n<script src=\"/static/player.js\" integrity=\"" + subresource_integrity(assets::kPlayerJs) +
      "\" defer></script>\n<script src=\"/static/recording.js\" integrity=\"" + subresource_integrity(kRecordingJs) +
      "\" defer></script>\n";
  return head;
}

}  // namespace

std::string render_console_recording(const nlohmann::json& data) {
  const nlohmann::json r = data.value("session", nlohmann::json::object());
  const std::string id = str(r, "id");
  std::string content = "<p><a href=\"/console/recordings\">&larr; Recordings</a></p>\n<h1>Recording of " + e(id) +
                        "</h1>\n<dl class=\"facts\">\n" + row("Person", e(str(r, "user"))) +
                        row("Access", "<code>" + e(str(r, "login") + "@" + str(r, "target")) + "</code>") +
                        row("Customer", e(str(r, "customer").empty() ? "-" : str(r, "customer"))) +
                        row("Grant", e(str(r, "grant_id").empty() ? "-" : str(r, "grant_id"))) +
                        row("From", e(str(r, "source"))) + row("Started", e(when(str(r, "started_at"))));
  content +=
      row("Ended", str(r, "ended_at").empty() ? "live" : e(when(str(r, "ended_at")) + ": " + str(r, "end_reason")));
  content += "</dl>\n<p class=\"hint\">Replaying or downloading is recorded in the audit log under your name.</p>\n";
  const nlohmann::json channels = data.value("recordings", nlohmann::json::array());
  if (channels.empty()) content += "<p class=\"empty\">Nothing was recorded in this session.</p>\n";
  for (const auto& c : channels) content += channel_section(id, c);
  content += kStatus;
  return console_page("Recording " + id, " data-page=\"recording\" data-id=\"" + e(id) + "\"", data, content,
                      player_head());
}

std::string render_console_watch(const nlohmann::json& data) {
  const nlohmann::json r = data.value("session", nlohmann::json::object());
  const std::string id = str(r, "id");
  std::string content = "<p><a href=\"/console/sessions/" + e(id) + "\">&larr; Session " + e(id) +
                        "</a></p>\n<h1>Watching " + e(str(r, "user")) + " on <code>" +
                        e(str(r, "login") + "@" + str(r, "target")) + "</code></h1>\n";
  if (!data.value("live", false)) {
    content += "<p class=\"empty\">This session has ended. <a href=\"/console/recordings/" + e(id) +
               "\">Replay its recording</a>.</p>\n";
    return console_page("Session " + id, " data-page=\"watch\" data-id=\"" + e(id) + "\" data-state=\"ended\"", data,
                        content);
  }
  content += std::string("<p class=\"hint\">Read-only, as it happens. Watching is recorded in the audit log under ") +
             "your name" +
             (data.value("told", true) ? "; " + e(str(r, "user")) + " is told that you are watching." : ".") +
             "</p>\n<div class=\"player\" id=\"watch-player\" data-live=\"/console/sessions/" + e(id) +
             "/watch/events\"></div>\n" + kStatus;
  return console_page("Watching " + id, " data-page=\"watch\" data-id=\"" + e(id) + "\"", data, content, player_head());
}

std::string render_console_error(int status, const std::string& message) {
  std::string heading = status == 404 ? "Not found" : status >= 500 ? "Something went wrong" : "Refused";
  return console_page(heading, " data-page=\"error\" data-state=\"failed\"", nlohmann::json::object(),
                      "<h1>" + e(heading) + "</h1>\n<p id=\"status\" role=\"status\">Failed: " + e(message) +
                          "</p>\n<p><a href=\"/console/requests\">Back to the console</a></p>\n");
}

}  // namespace bastion::gateway
