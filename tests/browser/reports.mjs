// Drives the reports page (/reports) in Debian's Chromium for
// tests/reports_page.rs.
//
//   node tests/browser/reports.mjs --base http://127.0.0.1:PORT
//        [--lang en|zh] [--shots DIR] [--chromium /usr/bin/chromium]
//        [--tz Asia/Shanghai]
//
// `--tz` is the browser's time zone, as in qa.mjs.
//
// The line protocol, the launch, the shutdown and the generic commands
// (`wait_fn` polls any expression until it is truthy) are driver.mjs's.
// The page's own test hook is `window.reports` (web/reports.js): `state`
// returns window.reports.state(); `login` is this page's too; `download`
// clicks a link and returns the file the browser saved: its suggested
// name and its text. Screenshots are of the viewport (the page is long):
// the test scrolls to what it wants shown.

import { readFileSync } from 'node:fs';
import { parseArgs, run, page, signIn } from './driver.mjs';

const args = parseArgs(process.argv.slice(2), {
  script: 'reports.mjs',
  required: ['base'],
  usage: '--base URL [--lang en|zh] [--shots DIR]',
});

await run(args, {
  script: 'reports.mjs',
  profilePrefix: 'hotline-chromium-reports-',
  contextOptions: { acceptDownloads: true, ...(args.tz ? { timezoneId: args.tz } : {}) },

  /** What the page knows, for failure messages (run in the page). */
  pageState: () => {
    const el = (id) => document.getElementById(id);
    const text = (id) => (el(id) && !el(id).hidden ? el(id).innerText : null);
    return {
      url: location.href,
      reports: window.reports ? window.reports.state() : null,
      login_error: text('login-error'),
      range_error: text('range-error'),
      toasts: text('toasts'),
    };
  },

  shot: { english: true, clearToasts: true, fullPage: false },

  commands: {
    /** Signs in with the form; resolves once the page (or its refusal) shows. */
    async login(c) {
      await signIn(c);
      const view = c.expect === 'denied' ? '#denied-view' : '#app-view';
      await page.locator(view).waitFor({ state: 'visible', timeout: c.timeout });
      return await page.evaluate(() => window.reports.state());
    },

    async state() {
      return await page.evaluate(() => window.reports.state());
    },

    /** Clicks `selector` (a download link); the saved file's name and text. */
    async download(c) {
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: c.timeout }),
        page.click(c.selector, { timeout: c.timeout }),
      ]);
      const path = await download.path();
      return { name: download.suggestedFilename(), text: readFileSync(path, 'utf8') };
    },
  },
});
