// Drives one agent's page (/agent) in Debian's Chromium for tests/softphone.rs.
//
//   node tests/browser/agent.mjs --base http://127.0.0.1:PORT --wav TONE.wav
//        [--lang en|zh] [--shots DIR] [--chromium /usr/bin/chromium]
//
// The Rust test talks to it line by line: each line on stdin is a JSON
// command {"id": N, "cmd": "...", ...}; each answer is one JSON line on
// stdout {"id": N, "ok": true, "value": ...} or {"id": N, "ok": false,
// "error": "...", "page": {...what the page knew...}}. Every command waits
// for its condition up to its own `timeout` (ms) and never longer. Logs go
// to stderr. The script closes Chromium and exits when stdin closes (the
// test ended or died), on `quit`, and on SIGTERM/SIGINT.
//
// Console errors and page errors are collected; `errors` returns them.
// "Failed to load resource" lines are expected (401 for GET /api/me before
// sign-in) and left out.

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

function parseArgs(argv) {
  const args = { lang: 'en', chromium: '/usr/bin/chromium', shots: '' };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    args[key] = argv[i + 1];
  }
  if (!args.base || !args.wav) {
    process.stderr.write('usage: agent.mjs --base URL --wav FILE [--lang en|zh] [--shots DIR]\n');
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const log = (...parts) => process.stderr.write('[agent.mjs] ' + parts.join(' ') + '\n');
const consoleErrors = [];
let context = null;
let page = null;
let profile = null;
let closing = null;

/** Chinese screenshots only where a CJK font is installed (else boxes). */
function haveCjkFont() {
  try {
    return execFileSync('fc-list', [':lang=zh', 'family'], { encoding: 'utf8' }).trim() !== '';
  } catch (e) {
    return false;
  }
}

async function launch() {
  profile = mkdtempSync(join(tmpdir(), 'hotline-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    viewport: { width: 1366, height: 768 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--use-file-for-fake-audio-capture=' + args.wav,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  // The page's language, unless the page itself changed it since.
  await context.addInitScript((lang) => {
    try {
      if (!localStorage.getItem('hotline.lang')) localStorage.setItem('hotline.lang', lang);
    } catch (e) {
      /* no storage on about:blank */
    }
  }, args.lang);
  // A test may hold the microphone back on the next load (a slow
  // permission prompt, say): `reload` with `mic_delay_ms`.
  await context.addInitScript(() => {
    let delay = 0;
    try {
      delay = Number(sessionStorage.getItem('hotline.test.micDelayMs') || 0);
      sessionStorage.removeItem('hotline.test.micDelayMs');
    } catch (e) {
      return;
    }
    if (!delay || !navigator.mediaDevices) return;
    const md = navigator.mediaDevices;
    const getUserMedia = md.getUserMedia.bind(md);
    md.getUserMedia = (constraints) =>
      new Promise((resolve, reject) => setTimeout(() => getUserMedia(constraints).then(resolve, reject), delay));
  });
  page = context.pages()[0] || (await context.newPage());
  watch(page);
}

function watch(p) {
  p.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
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
      const h = window.hotline;
      const el = (id) => document.getElementById(id);
      const events = h ? h.events : [];
      return {
        url: location.href,
        state: el('state-name') ? el('state-name').dataset.state : null,
        media: el('media-state') ? el('media-state').textContent : null,
        banner: el('banner') && !el('banner').hidden ? el('banner').innerText : null,
        toasts: el('toasts') ? el('toasts').innerText : null,
        events_total: events.length,
        last_events: events.slice(-25),
      };
    });
  } catch (e) {
    return { unreadable: String(e) };
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` (async, returns {done, value}) every `every` ms until done or the deadline. */
async function poll(timeout, every, probe, what) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await probe();
    if (last.done) return last.value;
    if (Date.now() > deadline) {
      const err = new Error(`${what}: not within ${timeout} ms; last: ${JSON.stringify(last.value)}`);
      throw err;
    }
    await sleep(every);
  }
}

/** Does `ev` hold every field of `want` (nested objects compared the same way)? */
function matches(ev, want) {
  if (want === null || typeof want !== 'object') return ev === want;
  if (ev === null || typeof ev !== 'object') return false;
  return Object.entries(want).every(([k, v]) => matches(ev[k], v));
}

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

  /** Signs in with the form; resolves once the desk has its hello. */
  async login(c) {
    await page.locator('#login-form').waitFor({ state: 'visible', timeout: c.timeout });
    await page.fill('#login-user', c.user);
    await page.fill('#login-pass', c.pass);
    await page.click('#login-submit');
    await page.locator('#desk-view').waitFor({ state: 'visible', timeout: c.timeout });
    await page.waitForFunction(() => window.hotline && window.hotline.events.some((e) => e.type === 'hello'), null, {
      timeout: c.timeout,
    });
    return await page.evaluate(() => window.hotline.events.find((e) => e.type === 'hello'));
  },

  async wait(c) {
    await page.locator(c.selector).first().waitFor({ state: c.state || 'visible', timeout: c.timeout });
    return true;
  },

  /** Waits until an attribute (or, with no attr, the text) of the element equals `value`. */
  async wait_for(c) {
    const read = () =>
      page.evaluate(
        ({ selector, attr }) => {
          const el = document.querySelector(selector);
          if (!el) return null;
          return attr ? el.getAttribute(attr) : el.textContent.trim();
        },
        { selector: c.selector, attr: c.attr || null },
      );
    return await poll(c.timeout, 50, async () => {
      const v = await read();
      return { done: v === c.value, value: v };
    }, `${c.selector}${c.attr ? '[' + c.attr + ']' : ' text'} = ${JSON.stringify(c.value)}`);
  },

  async text(c) {
    const el = page.locator(c.selector).first();
    await el.waitFor({ state: 'attached', timeout: c.timeout });
    return (await el.textContent()).trim();
  },

  async visible(c) {
    return await page.locator(c.selector).first().isVisible();
  },

  async click(c) {
    await page.click(c.selector, { timeout: c.timeout });
    return true;
  },

  async select(c) {
    await page.selectOption(c.selector, c.value, { timeout: c.timeout });
    return true;
  },

  async fill(c) {
    await page.fill(c.selector, c.value, { timeout: c.timeout });
    return true;
  },

  /** Clicks the keypad's keys one by one. */
  async keys(c) {
    for (const key of c.keys) {
      await page.click(`#keypad button[data-key="${key}"]`, { timeout: c.timeout });
      await sleep(c.gap || 0);
    }
    return true;
  },

  async press(c) {
    await page.keyboard.press(c.key);
    return true;
  },

  async eval(c) {
    return await page.evaluate(c.expr);
  },

  /** How many events the page has seen (since its last load). */
  async event_count() {
    return await page.evaluate(() => (window.hotline ? window.hotline.events.length : 0));
  },

  /** Waits for an event holding every field of `match`, at index `from` or later. */
  async wait_event(c) {
    return await poll(c.timeout, 50, async () => {
      const events = await page.evaluate(() => (window.hotline ? window.hotline.events : []));
      const from = c.from || 0;
      const i = events.findIndex((e, n) => n >= from && matches(e, c.match));
      return i >= 0 ? { done: true, value: { index: i, event: events[i] } } : { done: false, value: events.length };
    }, `event ${JSON.stringify(c.match)}`);
  },

  /**
   * Polls peakHz(which) every 100 ms until `consecutive` readings in a row
   * are within `tol` of `hz`; returns the readings.
   */
  async peak(c) {
    const readings = [];
    let run = 0;
    return await poll(c.timeout, 100, async () => {
      const hz = await page.evaluate((w) => (window.hotline ? window.hotline.peakHz(w) : null), c.which);
      readings.push(hz === null ? null : Math.round(hz * 10) / 10);
      if (readings.length > 60) readings.shift();
      run = hz !== null && Math.abs(hz - c.hz) <= c.tol ? run + 1 : 0;
      return { done: run >= (c.consecutive || 3), value: readings.slice(-20) };
    }, `peakHz('${c.which}') within ${c.tol} Hz of ${c.hz}`);
  },

  /** page.reload(); with `mic_delay_ms`, the reloaded page gets its microphone that much later. */
  async reload(c) {
    if (c.mic_delay_ms) {
      await page.evaluate((ms) => sessionStorage.setItem('hotline.test.micDelayMs', String(ms)), c.mic_delay_ms);
    }
    await page.reload({ waitUntil: 'load', timeout: c.timeout });
    return page.url();
  },

  /** Screenshots into --shots (English, then Chinese where a CJK font exists). */
  async shot(c) {
    if (!args.shots) return [];
    const written = [];
    // No hover effect where the last click left the mouse.
    await page.mouse.move(0, 0);
    const take = async (file) => {
      // Let the meters and clocks draw once more.
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      await page.screenshot({ path: join(args.shots, file) });
      written.push(file);
    };
    const lang = await page.evaluate(() => HL.lang);
    await take(`${c.name}.png`);
    if (cjk) {
      await page.evaluate(() => HL.setLang('zh'));
      await take(`${c.name}-zh.png`);
      await page.evaluate((l) => HL.setLang(l), lang);
    }
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

// One command at a time, in order; stdin closing ends everything.
const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(() => handle(line));
});
// At once, even mid-command: the test is over (or died) and waits for no answer.
lines.on('close', shutdown);
