// Drives the campaigns page (/campaigns) in Debian's Chromium for
// tests/campaigns_page.rs.
//
//   node tests/browser/campaigns.mjs --base http://127.0.0.1:PORT
//        [--lang en|zh] [--shots DIR] [--chromium /usr/bin/chromium]
//        [--tz Asia/Shanghai]
//
// `--tz` is the browser's time zone, as in qa.mjs.
//
// The line protocol (the same as qa.mjs's and agent.mjs's), the launch, the
// shutdown and the generic commands (`wait_fn` polls any expression until
// it is truthy) are driver.mjs's. The page's own test hook is
// `window.campaigns` (web/campaigns.js): `state` returns
// window.campaigns.state(); `login` is this page's too. Screenshots are of
// the full page.

import { parseArgs, run, page, signIn } from './driver.mjs';

const args = parseArgs(process.argv.slice(2), {
  script: 'campaigns.mjs',
  required: ['base'],
  usage: '--base URL [--lang en|zh] [--shots DIR]',
});

await run(args, {
  script: 'campaigns.mjs',
  profilePrefix: 'hotline-chromium-campaigns-',
  contextOptions: args.tz ? { timezoneId: args.tz } : {},

  /** What the page knows, for failure messages (run in the page). */
  pageState: () => {
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
  },

  shot: { english: true, clearToasts: true, fullPage: true },

  commands: {
    /** Signs in with the form; resolves once the page (or its refusal) shows. */
    async login(c) {
      await signIn(c);
      const view = c.expect === 'denied' ? '#denied-view' : '#app-view';
      await page.locator(view).waitFor({ state: 'visible', timeout: c.timeout });
      return await page.evaluate(() => window.campaigns.state());
    },

    async state() {
      return await page.evaluate(() => window.campaigns.state());
    },
  },
});
