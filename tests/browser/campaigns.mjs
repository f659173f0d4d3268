// Drives the campaigns page (/campaigns) in Debian's Chromium for
// tests/campaigns_page.rs.
//
//   node tests/browser/campaigns.mjs --base http://127.0.0.1:PORT
//        [--lang en|zh] [--shots DIR] [--chromium /usr/bin/chromium]
//        [--tz Asia/Shanghai]
//
// The same line protocol as qa.mjs and agent.mjs: each line on stdin is a
// JSON command {"id": N, "cmd": "...", ...}; each answer is one JSON line
// on stdout {"id": N, "ok": true, "value": ...} or {"id": N, "ok": false,
// "error": "...", "page": {...what the page knew...}}. Every command waits
// for its condition up to its own `timeout` (ms). Logs go to stderr. The
// script closes Chromium and exits when stdin closes, on `quit`, and on
// SIGTERM/SIGINT.
//
// The page's own test hook is `window.campaigns` (web/campaigns.js):
// `state` returns window.campaigns.state(), `wait_fn` polls any expression
// until it is truthy.

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

function parseArgs(argv) {
  const args = { lang: 'en', chromium: '/usr/bin/chromium', shots: '' };
  for (let i = 0; i < argv.length; i += 2) {
    args[argv[i].replace(/^--/, '')] = argv[i + 1];
  }
  if (!args.base) {
    process.stderr.write('usage: campaigns.mjs --base URL [--lang en|zh] [--shots DIR]\n');
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const log = (...parts) => process.stderr.write('[campaigns.mjs] ' + parts.join(' ') + '\n');
const consoleErrors = [];
let context = null;
let page = null;
let profile = null;
let closing = null;

function haveCjkFont() {
  try {
    return execFileSync('fc-list', [':lang=zh', 'family'], { encoding: 'utf8' }).trim() !== '';
  } catch (e) {
    return false;
  }
}

async function launch() {
  profile = mkdtempSync(join(tmpdir(), 'hotline-chromium-campaigns-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    viewport: { width: 1366, height: 768 },
    ...(args.tz ? { timezoneId: args.tz } : {}),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  await context.addInitScript((lang) => {
    try {
      if (!localStorage.getItem('hotline.lang')) localStorage.setItem('hotline.lang', lang);
    } catch (e) {
      /* no storage on about:blank */
    }
  }, args.lang);
  page = context.pages()[0] || (await context.newPage());
  watch(page);
}

function watch(p) {
  p.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // 401 for GET /api/me before sign-in, the 400s and 409s the test asks for.
    if (/Failed to load resource/.test(text)) return;
    consoleErrors.push('console: ' + text);
    log('console error:', text);
  });
  p.on('pageerror', (err) => {
    consoleErrors.push('pageerror: ' + (err && err.stack ? err.stack : String(err)));
    log('page error:', String(err));
  });
}

/** What the page knows, for failure messages. */
async function pageState() {
  if (!page) return null;
  try {
    return await page.evaluate(() => {
      const el = (id) => document.getElementById(id);
      const text = (id) => (el(id) && !el(id).hidden ? el(id).innerText : null);
      return {
        url: location.href,
        campaigns: window.campaigns ? window.campaigns.state() : null,
        login_error: text('login-error'),
        range_error: text('range-error'),
        list_error: text('list-error'),
        contact_error: text('contact-error'),
        dnc_error: text('dnc-error'),
        toasts: text('toasts'),
      };
    });
  } catch (e) {
    return { unreadable: String(e) };
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const cjk = args.shots ? haveCjkFont() : false;
if (args.shots) {
  mkdirSync(args.shots, { recursive: true });
  if (!cjk) log('no CJK font (fonts-wqy-microhei): Chinese screenshots skipped');
}

const COMMANDS = {
  async goto(c) {
    await page.goto(args.base + c.path, { waitUntil: 'load', timeout: c.timeout });
    return page.url();
  },

  /** Signs in with the form; resolves once the page (or its refusal) shows. */
  async login(c) {
    await page.locator('#login-form').waitFor({ state: 'visible', timeout: c.timeout });
    await page.fill('#login-user', c.user);
    await page.fill('#login-pass', c.pass);
    await page.click('#login-submit');
    const view = c.expect === 'denied' ? '#denied-view' : '#app-view';
    await page.locator(view).waitFor({ state: 'visible', timeout: c.timeout });
    return await page.evaluate(() => window.campaigns.state());
  },

  async state() {
    return await page.evaluate(() => window.campaigns.state());
  },

  /** Polls the expression `expr` (page side) until it is truthy; its value. */
  async wait_fn(c) {
    const handle = await page.waitForFunction(c.expr, null, { timeout: c.timeout, polling: 50 });
    return await handle.jsonValue();
  },

  async eval(c) {
    return await page.evaluate(c.expr);
  },

  async wait(c) {
    await page.locator(c.selector).first().waitFor({ state: c.state || 'visible', timeout: c.timeout });
    return true;
  },

  async text(c) {
    const el = page.locator(c.selector).first();
    await el.waitFor({ state: 'attached', timeout: c.timeout });
    return (await el.innerText()).trim();
  },

  async count(c) {
    return await page.locator(c.selector).count();
  },

  async visible(c) {
    return await page.locator(c.selector).first().isVisible();
  },

  async click(c) {
    await page.click(c.selector, { timeout: c.timeout });
    return true;
  },

  async fill(c) {
    await page.fill(c.selector, c.value, { timeout: c.timeout });
    return true;
  },

  async select(c) {
    await page.selectOption(c.selector, c.value, { timeout: c.timeout });
    return true;
  },

  async reload(c) {
    await page.reload({ waitUntil: 'load', timeout: c.timeout });
    return page.url();
  },

  /** Full-page screenshots into --shots (English, then Chinese where a CJK font exists). */
  async shot(c) {
    if (!args.shots) return [];
    const written = [];
    // No hover effect where the last click left the mouse, no toasts.
    await page.mouse.move(0, 0);
    await page.evaluate(() => document.getElementById('toasts') && document.getElementById('toasts').replaceChildren());
    const take = async (file) => {
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      await page.screenshot({ path: join(args.shots, file), fullPage: true });
      written.push(file);
    };
    const lang = await page.evaluate(() => HL.lang);
    await page.evaluate(() => HL.setLang('en'));
    await take(`${c.name}.png`);
    if (cjk) {
      await page.evaluate(() => HL.setLang('zh'));
      await take(`${c.name}-zh.png`);
    }
    await page.evaluate((l) => HL.setLang(l), lang);
    return written;
  },

  async errors() {
    return consoleErrors.slice();
  },

  async quit() {
    setImmediate(shutdown);
    return true;
  },
};

async function handle(line) {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    log('not a command:', line);
    return;
  }
  c.timeout = c.timeout || 10000;
  const fn = COMMANDS[c.cmd];
  let answer;
  if (!fn) {
    answer = { id: c.id, ok: false, error: `unknown command ${c.cmd}` };
  } else {
    try {
      const value = await fn(c);
      answer = { id: c.id, ok: true, value: value === undefined ? null : value };
    } catch (e) {
      answer = { id: c.id, ok: false, error: String(e && e.message ? e.message : e), page: await pageState() };
    }
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}

async function shutdown() {
  if (closing) return closing;
  closing = (async () => {
    try {
      if (context) await Promise.race([context.close(), sleep(10000)]);
    } catch (e) {
      log('closing chromium:', String(e));
    }
    try {
      if (profile) rmSync(profile, { recursive: true, force: true });
    } catch (e) {
      /* best effort */
    }
    process.exit(0);
  })();
  return closing;
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

try {
  await launch();
} catch (e) {
  process.stdout.write(JSON.stringify({ id: 0, ok: false, error: 'chromium did not start: ' + String(e) }) + '\n');
  await shutdown();
}
process.stdout.write(JSON.stringify({ id: 0, ok: true, value: 'launched' }) + '\n');

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(() => handle(line));
});
lines.on('close', shutdown);
