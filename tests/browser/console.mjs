#!/usr/bin/env node
// Drives bastion's web console in headless Chromium with a DevTools virtual
// authenticator, step by step, for end-to-end tests.
//
//   node tests/browser/console.mjs --base URL --state FILE --steps FILE
//        [--uv on|off] [--cert PEM] [--screenshots DIR] [--timeout-ms N]
//        [--chromium PATH]
//
// --state holds the authenticator's credentials (from webauthn.mjs
// register); they are loaded first and saved back at the end (counters).
// --steps is a JSON array; each step is one of:
//   {"goto": "/console/signin"}                 load a page (its HTTP status lands in results.status)
//   {"fill": "#user", "value": "carol"}          type into an input
//   {"click": "#signin"}                         click
//   {"waitFor": "body[data-state=done]"}         wait for a selector (comma = any of them)
//   {"text": "NAME"}                             results.NAME = the page's visible text
//   {"attr": "body", "name": "data-state", "as": "NAME"}
//   {"fetch": {"method","path","headers","body"}, "as": "NAME"}
//                                                a same-origin fetch from the page; results.NAME = {status, body}
//   {"cookie": "NAME"}                           results.NAME = the console cookie's value, "" if none
//   {"screenshot": "NAME"}                       DIR/NAME.png (full page)
//   {"upload": "#key-1", "path": "/dir/x.key"}  choose a file in a file input (it stays in the browser)
//   {"log": "NAME"}                              results.NAME = the page's console messages and errors so far
//   {"now": "NAME"}                              results.NAME = the wall clock, ms since the epoch
//   {"touch": "/dir/file"}                       write the file (the test waits for it: "the steps got here")
// Prints one JSON line {"ok", "error", "results"} and exits 0 when every
// step ran, 1 when one failed (error says which), 2 on usage errors.
import { parseArgs } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const USAGE = `usage: console.mjs --base URL --state FILE --steps FILE [--uv on|off] [--cert PEM]
                  [--screenshots DIR] [--timeout-ms N] [--chromium PATH]`;

function usageError(message) {
  process.stderr.write(`console.mjs: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        base: { type: 'string' },
        state: { type: 'string' },
        steps: { type: 'string' },
        uv: { type: 'string', default: 'on' },
        cert: { type: 'string' },
        screenshots: { type: 'string' },
        'timeout-ms': { type: 'string', default: '60000' },
        chromium: { type: 'string', default: '/usr/bin/chromium' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    usageError(err.message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  for (const k of ['base', 'state', 'steps']) if (!v[k]) usageError(`--${k} is required`);
  if (!['on', 'off'].includes(v.uv)) usageError('--uv is on or off');
  const timeoutMs = Number(v['timeout-ms']);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) usageError('--timeout-ms takes a positive integer');
  let steps;
  try {
    steps = JSON.parse(fs.readFileSync(v.steps, 'utf8'));
  } catch (err) {
    usageError(`--steps ${v.steps}: ${err.message}`);
  }
  if (!Array.isArray(steps)) usageError('--steps holds a JSON array');
  let spkiHash;
  if (v.cert) {
    const cert = new crypto.X509Certificate(fs.readFileSync(v.cert));
    spkiHash = crypto.createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  }
  return {
    base: v.base.replace(/\/+$/, ''), statePath: v.state, steps, userVerified: v.uv === 'on', spkiHash,
    screenshots: v.screenshots, timeoutMs, executablePath: v.chromium,
  };
}

function loadCredentials(statePath) {
  if (!fs.existsSync(statePath)) return [];
  const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
  return Array.isArray(state.credentials) ? state.credentials : [];
}

function saveCredentials(statePath, credentials) {
  const tmp = path.join(path.dirname(statePath), `.${path.basename(statePath)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, `${JSON.stringify({ version: 1, credentials }, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, statePath);
}

async function run(opts, results, log) {
  const deadline = Date.now() + opts.timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const args = [];
  if (typeof process.getuid === 'function' && process.getuid() === 0) args.push('--no-sandbox');
  if (opts.spkiHash) args.push(`--ignore-certificate-errors-spki-list=${opts.spkiHash}`);
  const browser = await chromium.launch({ executablePath: opts.executablePath, headless: true, args, timeout: remaining() });
  let cdp;
  let authenticatorId;
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const page = await context.newPage();
    page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2', transport: 'usb', hasResidentKey: true, hasUserVerification: true,
        isUserVerified: opts.userVerified, automaticPresenceSimulation: true,
      },
    }));
    for (const credential of loadCredentials(opts.statePath)) {
      await cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
    }
    for (const [i, step] of opts.steps.entries()) {
      const what = `step ${i + 1} ${JSON.stringify(step)}`;
      try {
        if (step.goto !== undefined) {
          const res = await page.goto(opts.base + step.goto, { waitUntil: 'load', timeout: remaining() });
          results.status = res ? res.status() : 0;
        } else if (step.fill !== undefined) {
          await page.fill(step.fill, String(step.value ?? ''), { timeout: remaining() });
        } else if (step.click !== undefined) {
          await page.click(step.click, { timeout: remaining() });
        } else if (step.waitFor !== undefined) {
          await page.waitForSelector(step.waitFor, { timeout: remaining() });
        } else if (step.upload !== undefined) {
          await page.setInputFiles(step.upload, step.path, { timeout: remaining() });
        } else if (step.log !== undefined) {
          results[step.log] = log.slice();
        } else if (step.text !== undefined) {
          results[step.text] = await page.innerText('body');
        } else if (step.attr !== undefined) {
          results[step.as] = await page.getAttribute(step.attr, step.name);
        } else if (step.fetch !== undefined) {
          results[step.as] = await page.evaluate(async (f) => {
            const res = await fetch(f.path, {
              method: f.method || 'GET', headers: f.headers || {}, body: f.body === undefined ? undefined : f.body,
              credentials: 'same-origin', cache: 'no-store',
            });
            return { status: res.status, body: await res.text() };
          }, step.fetch);
        } else if (step.cookie !== undefined) {
          const cookies = await context.cookies();
          const c = cookies.find((x) => x.name === '__Host-bastion-console');
          results[step.cookie] = c ? c.value : '';
          if (c) results[`${step.cookie}_attributes`] = { httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite, path: c.path };
        } else if (step.now !== undefined) {
          // The wall clock (ms since the epoch), for the test to measure against its own.
          results[step.now] = Date.now();
        } else if (step.touch !== undefined) {
          // Tells the test (which polls for the file) that the steps got this far.
          fs.writeFileSync(step.touch, String(Date.now()));
        } else if (step.screenshot !== undefined) {
          if (opts.screenshots) {
            fs.mkdirSync(opts.screenshots, { recursive: true });
            await page.screenshot({ path: path.join(opts.screenshots, `${step.screenshot}.png`), fullPage: true });
          }
        } else {
          throw new Error('unknown step');
        }
      } catch (err) {
        let text = '';
        try { text = (await page.innerText('body')).replace(/\s+/g, ' ').slice(0, 400); } catch (e) { text = ''; }
        throw new Error(`${what}: ${String(err.message || err).split('\n')[0]} (page: ${text})`);
      }
    }
  } finally {
    if (cdp && authenticatorId) {
      try {
        const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
        if (credentials.length > 0) saveCredentials(opts.statePath, credentials);
      } catch (e) { log.push(`could not save credentials: ${e.message}`); }
    }
    await browser.close().catch(() => {});
  }
}

async function main() {
  const opts = options();
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: `no result within ${opts.timeoutMs + 15000} ms` })}\n`);
    process.exit(1);
  }, opts.timeoutMs + 15000).unref();
  const results = {};
  const log = [];
  let error = '';
  try {
    await run(opts, results, log);
  } catch (err) {
    error = String(err.message || err);
  }
  if (error && log.length > 0) process.stderr.write(`${log.join('\n')}\n`);
  process.stdout.write(`${JSON.stringify({ ok: !error, error, results })}\n`);
  process.exit(error ? 1 : 0);
}

main();
