#!/usr/bin/env node
// Drives bastion's WebAuthn pages (/invite/TOKEN, /mfa/CODE) in headless
// Chromium with a DevTools virtual authenticator, for end-to-end tests.
//
//   node tests/browser/webauthn.mjs register|approve --url URL --state FILE
//        [--uv on|off] [--spki-hash BASE64 | --cert PEM] [--timeout-ms N]
//        [--chromium PATH] [--page-text FILE]
//
// register: opens URL, clicks #register. approve: loads the credentials in
// FILE into the authenticator first, then clicks #approve. Both wait for
// <body data-state="done|failed">, save the authenticator's credentials
// (private keys and signature counters) to FILE, print one line
// "done: ..." or "failed: ..." on stdout and exit 0 (done), 1 (failed) or
// 2 (usage). Page console output goes to stderr when the run fails.
// --page-text saves the page's visible text at the end (what a person sees).
//
// TLS: the gateway's certificate is usually self-signed. --spki-hash (or
// --cert, from which the hash is computed) makes Chromium accept exactly that
// key (--ignore-certificate-errors-spki-list); any other certificate still
// fails. Without either, Chromium verifies as usual.
import { parseArgs } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const USAGE = `usage: webauthn.mjs register|approve --url URL --state FILE [--uv on|off]
                   [--spki-hash BASE64 | --cert PEM] [--timeout-ms N] [--chromium PATH]
                   [--page-text FILE]`;

function usageError(message) {
  process.stderr.write(`webauthn.mjs: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseCommandLine(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        state: { type: 'string' },
        uv: { type: 'string', default: 'on' },
        'spki-hash': { type: 'string' },
        cert: { type: 'string' },
        'timeout-ms': { type: 'string', default: '30000' },
        chromium: { type: 'string', default: '/usr/bin/chromium' },
        'page-text': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    usageError(err.message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const mode = positionals[0];
  if (positionals.length !== 1 || !['register', 'approve'].includes(mode)) usageError('say register or approve');
  if (!values.url) usageError('--url is required');
  if (!values.state) usageError('--state is required');
  if (!['on', 'off'].includes(values.uv)) usageError('--uv is on or off');
  const timeoutMs = Number(values['timeout-ms']);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) usageError('--timeout-ms takes a positive integer');
  if (values['spki-hash'] && values.cert) usageError('give --spki-hash or --cert, not both');
  let spkiHash = values['spki-hash'];
  if (values.cert) {
    try {
      spkiHash = spkiHashOfCertificate(values.cert);
    } catch (err) {
      usageError(`--cert ${values.cert}: ${err.message}`);
    }
  }
  if (spkiHash && !/^[A-Za-z0-9+/]{43}=$/.test(spkiHash)) usageError('--spki-hash is a base64 SHA-256 (44 characters)');
  return {
    mode, url: values.url, statePath: values.state, userVerified: values.uv === 'on',
    spkiHash, timeoutMs, executablePath: values.chromium, pageTextPath: values['page-text'],
  };
}

// base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo (DER).
function spkiHashOfCertificate(pemPath) {
  const cert = new crypto.X509Certificate(fs.readFileSync(pemPath));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}

function loadCredentials(statePath, required) {
  if (!fs.existsSync(statePath)) {
    if (required) throw new Error(`no credential state in ${statePath} (run register first)`);
    return [];
  }
  const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
  if (!state || !Array.isArray(state.credentials)) throw new Error(`${statePath} holds no "credentials" list`);
  if (required && state.credentials.length === 0) throw new Error(`${statePath} holds no credentials`);
  return state.credentials;
}

// The file holds the virtual authenticator's private keys (test keys only):
// written 0600 and replaced atomically so a crash never leaves half a file.
function saveCredentials(statePath, credentials) {
  const tmp = path.join(path.dirname(statePath), `.${path.basename(statePath)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, `${JSON.stringify({ version: 1, credentials }, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, statePath);
}

function oneLine(text) {
  return String(text).replace(/\s+/g, ' ').trim();
}

async function drive(opts, log) {
  const deadline = Date.now() + opts.timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const args = [];
  // Chromium's sandbox refuses to start as root (CI containers).
  if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--no-sandbox');
  if (opts.spkiHash) args.push(`--ignore-certificate-errors-spki-list=${opts.spkiHash}`);

  const browser = await chromium.launch({
    executablePath: opts.executablePath, headless: true, args, timeout: remaining(),
  });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'usb',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: opts.userVerified,
        automaticPresenceSimulation: true,
      },
    });
    for (const credential of loadCredentials(opts.statePath, opts.mode === 'approve')) {
      await cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
    }

    await page.goto(opts.url, { waitUntil: 'load', timeout: remaining() });
    const button = opts.mode === 'register' ? '#register' : '#approve';
    const failed = 'body[data-state="failed"]';
    // An error page (unknown or expired link) has no button and is failed already.
    await page.waitForSelector(`${button}, ${failed}`, { timeout: remaining() });
    if (!(await page.$(failed))) {
      await page.click(button, { timeout: remaining() });
      await page.waitForSelector(`body[data-state="done"], ${failed}`, { timeout: remaining() });
    }
    const state = await page.getAttribute('body', 'data-state');
    const status = oneLine((await page.textContent('#status')) || '');
    if (opts.pageTextPath) fs.writeFileSync(opts.pageTextPath, await page.innerText('body'));

    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    if (credentials.length > 0) saveCredentials(opts.statePath, credentials);
    const detail = status.replace(/^(Done|Failed):?\s*/, '');
    return { ok: state === 'done', detail: detail || state };
  } finally {
    await browser.close().catch(() => {});
  }
}

async function main() {
  const opts = parseCommandLine(process.argv.slice(2));
  // A hung browser must not hang the test that runs us.
  setTimeout(() => {
    process.stdout.write(`failed: no result within ${opts.timeoutMs + 15000} ms\n`);
    process.exit(1);
  }, opts.timeoutMs + 15000).unref();
  const log = [];
  let result;
  try {
    result = await drive(opts, log);
  } catch (err) {
    result = { ok: false, detail: oneLine(String(err.message || err).split('\n')[0]) };
  }
  if (!result.ok && log.length > 0) process.stderr.write(`${log.join('\n')}\n`);
  process.stdout.write(`${result.ok ? 'done' : 'failed'}: ${result.detail}\n`);
  process.exit(result.ok ? 0 : 1);
}

main();
