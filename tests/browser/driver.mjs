// What the page drivers share (agent.mjs, qa.mjs, campaigns.mjs): the
// arguments, Debian's Chromium, the line protocol and the commands that
// know nothing of one page. Each script keeps its page's state for failure
// messages, its own commands and its own options, and calls `run`.
//
//   node tests/browser/SCRIPT.mjs --base http://127.0.0.1:PORT
//        [--lang en|zh] [--shots DIR] [--chromium /usr/bin/chromium] ...
//
// The Rust test (tests/common/browser.rs) talks to it line by line: each
// line on stdin is a JSON command {"id": N, "cmd": "...", ...}; each answer
// is one JSON line on stdout {"id": N, "ok": true, "value": ...} or
// {"id": N, "ok": false, "error": "...", "page": {...what the page
// knew...}}; {"id": 0, ...} says whether Chromium is up. Every command
// waits for its condition up to its own `timeout` (ms) and never longer.
// Logs go to stderr. The script closes Chromium and exits when stdin closes
// (the test ended or died), on `quit`, and on SIGTERM/SIGINT.
//
// Console errors and page errors are collected; `errors` returns them.
// "Failed to load resource" lines are expected (401 for GET /api/me before
// sign-in, the 4xx answers a test asks for) and left out.
//
// The commands here: goto, wait, wait_for, text, count, visible, click,
// click_at, hover, fill, select, check, press, eval, wait_fn, reload, shot,
// errors, quit. A script's own commands come on top (and win).

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * The page, once Chromium is up. A live binding: the scripts' commands
 * import it and see the page `run` opened.
 */
export let page = null;

let context = null;
let profile = null;
let closing = null;
let log = (...parts) => process.stderr.write(parts.join(' ') + '\n');
const consoleErrors = [];

/**
 * `--key value` pairs over the defaults; without every `required` one,
 * prints `usage: SCRIPT USAGE` and exits 2.
 */
export function parseArgs(argv, { script, required, usage }) {
  const args = { lang: 'en', chromium: '/usr/bin/chromium', shots: '' };
  for (let i = 0; i < argv.length; i += 2) {
    args[argv[i].replace(/^--/, '')] = argv[i + 1];
  }
  if (!required.every((key) => args[key])) {
    process.stderr.write(`usage: ${script} ${usage}\n`);
    process.exit(2);
  }
  return args;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` (async, returns {done, value}) every `every` ms until done or the deadline. */
export async function poll(timeout, every, probe, what) {
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
export function matches(ev, want) {
  if (want === null || typeof want !== 'object') return ev === want;
  if (ev === null || typeof ev !== 'object') return false;
  return Object.entries(want).every(([k, v]) => matches(ev[k], v));
}

/** Fills the sign-in form (`user`, `pass`; the same on every page) and submits it. */
export async function signIn(c) {
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: c.timeout });
  await page.fill('#login-user', c.user);
  await page.fill('#login-pass', c.pass);
  await page.click('#login-submit');
}

/** Chinese screenshots only where a CJK font is installed (else boxes). */
function haveCjkFont() {
  try {
    return execFileSync('fc-list', [':lang=zh', 'family'], { encoding: 'utf8' }).trim() !== '';
  } catch (e) {
    return false;
  }
}

async function launch(args, opts) {
  profile = mkdtempSync(join(tmpdir(), opts.profilePrefix));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    viewport: { width: 1366, height: 768 },
    ...(opts.contextOptions || {}),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(opts.chromiumArgs || []),
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
  if (opts.init) await opts.init(context);
  page = context.pages()[0] || (await context.newPage());
  watch(page, opts);
}

function watch(p, opts) {
  p.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // 401 for GET /api/me before sign-in, the 403s, 404s, 400s and 409s
    // the tests ask for.
    if (/Failed to load resource/.test(text)) return;
    consoleErrors.push('console: ' + text);
    log('console error:', text);
  });
  p.on('pageerror', (err) => {
    consoleErrors.push('pageerror: ' + (err && err.stack ? err.stack : String(err)));
    log('page error:', String(err));
  });
  if (opts.watch) opts.watch(p);
}

/** What the page knows, for failure messages: the script's `pageState`, run in the page. */
async function pageState(opts) {
  if (!page) return null;
  try {
    return await page.evaluate(opts.pageState);
  } catch (e) {
    return { unreadable: String(e) };
  }
}

/** The commands that know nothing of one page. */
function genericCommands(args, opts, cjk) {
  const shot = opts.shot || {};
  return {
    async goto(c) {
      await page.goto(args.base + c.path, { waitUntil: 'load', timeout: c.timeout });
      return page.url();
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

    /** The element's text, trimmed: its innerText, or its textContent where the script says `text: 'textContent'`. */
    async text(c) {
      const el = page.locator(c.selector).first();
      await el.waitFor({ state: 'attached', timeout: c.timeout });
      return (await (opts.text === 'textContent' ? el.textContent() : el.innerText())).trim();
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

    /** Clicks `selector` at fractions (fx, fy) of its box. */
    async click_at(c) {
      const box = await page.locator(c.selector).first().boundingBox({ timeout: c.timeout });
      if (!box) throw new Error(`${c.selector} has no box`);
      await page.mouse.click(box.x + box.width * c.fx, box.y + box.height * (c.fy ?? 0.5));
      return { x: box.x, width: box.width };
    },

    async hover(c) {
      await page.hover(c.selector, { timeout: c.timeout });
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

    async check(c) {
      await page.setChecked(c.selector, c.checked !== false, { timeout: c.timeout });
      return true;
    },

    async press(c) {
      await page.keyboard.press(c.key);
      return true;
    },

    async eval(c) {
      return await page.evaluate(c.expr);
    },

    /** Polls the expression `expr` (page side) until it is truthy; its value. */
    async wait_fn(c) {
      const handle = await page.waitForFunction(c.expr, null, { timeout: c.timeout, polling: 50 });
      return await handle.jsonValue();
    },

    async reload(c) {
      await page.reload({ waitUntil: 'load', timeout: c.timeout });
      return page.url();
    },

    /**
     * Screenshots into --shots: `name`.png, then `name`-zh.png where a CJK
     * font exists. The script's `shot` options: `english` (the first one in
     * English whatever the page's language; else in the page's language),
     * `clearToasts`, `fullPage`.
     */
    async shot(c) {
      if (!args.shots) return [];
      const written = [];
      // No hover effect where the last click left the mouse (and no toasts,
      // where the script asks).
      await page.mouse.move(0, 0);
      if (shot.clearToasts) {
        await page.evaluate(() => document.getElementById('toasts') && document.getElementById('toasts').replaceChildren());
      }
      const take = async (file) => {
        // Let the meters and clocks draw once more.
        await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
        await page.screenshot({ path: join(args.shots, file), ...(shot.fullPage ? { fullPage: true } : {}) });
        written.push(file);
      };
      const lang = await page.evaluate(() => HL.lang);
      if (shot.english) await page.evaluate(() => HL.setLang('en'));
      await take(`${c.name}.png`);
      if (cjk) {
        await page.evaluate(() => HL.setLang('zh'));
        await take(`${c.name}-zh.png`);
      }
      if (shot.english || cjk) await page.evaluate((l) => HL.setLang(l), lang);
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
}

async function handle(line, commands, opts) {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    log('not a command:', line);
    return;
  }
  c.timeout = c.timeout || 10000;
  const fn = commands[c.cmd];
  let answer;
  if (!fn) {
    answer = { id: c.id, ok: false, error: `unknown command ${c.cmd}` };
  } else {
    try {
      const value = await fn(c);
      answer = { id: c.id, ok: true, value: value === undefined ? null : value };
    } catch (e) {
      answer = { id: c.id, ok: false, error: String(e && e.message ? e.message : e), page: await pageState(opts) };
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

/**
 * Starts Chromium and answers commands until stdin closes. `opts`:
 *   script         the script's name, for the log's prefix
 *   profilePrefix  the temporary profile's name, before mkdtemp's suffix
 *   contextOptions more options for launchPersistentContext (a time zone)
 *   chromiumArgs   more Chromium flags, after the shared ones
 *   init(context)  more init scripts, after the language's
 *   watch(page)    more listeners on the page
 *   pageState      a function run in the page: what it knows, for failures
 *   commands       the script's own commands (c) => value, over the generic
 *   text           'textContent' for `text` to read that, not innerText
 *   shot           { english, clearToasts, fullPage } (see `shot`)
 */
export async function run(args, opts) {
  log = (...parts) => process.stderr.write(`[${opts.script}] ` + parts.join(' ') + '\n');

  const cjk = args.shots ? haveCjkFont() : false;
  if (args.shots) {
    mkdirSync(args.shots, { recursive: true });
    if (!cjk) log('no CJK font (fonts-wqy-microhei): Chinese screenshots skipped');
  }
  const commands = { ...genericCommands(args, opts, cjk), ...opts.commands };

  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  try {
    await launch(args, opts);
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: 0, ok: false, error: 'chromium did not start: ' + String(e) }) + '\n');
    await shutdown();
  }
  process.stdout.write(JSON.stringify({ id: 0, ok: true, value: 'launched' }) + '\n');

  // One command at a time, in order; stdin closing ends everything.
  const lines = createInterface({ input: process.stdin });
  let queue = Promise.resolve();
  lines.on('line', (line) => {
    queue = queue.then(() => handle(line, commands, opts));
  });
  // At once, even mid-command: the test is over (or died) and waits for no answer.
  lines.on('close', shutdown);
}
