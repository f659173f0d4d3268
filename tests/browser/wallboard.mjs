// Drives the supervisor's wallboard (/wallboard) in Debian's Chromium for
// tests/wallboard_page.rs.
//
//   node tests/browser/wallboard.mjs --base http://127.0.0.1:PORT
//        [--lang en|zh] [--shots DIR] [--chromium /usr/bin/chromium]
//        [--tz Asia/Shanghai]
//
// A wall screen: the window is 1920x1080. The line protocol, the launch,
// the shutdown and the generic commands (`wait_fn` polls any expression
// until it is truthy, `eval`, `shot`) are driver.mjs's. The page's own test
// hook is `window.wallboard` (web/wallboard.js): `state` returns
// window.wallboard.state(); `login` is this page's; `style` reads a
// computed style. Screenshots are of the full page.

import { parseArgs, run, page, signIn } from './driver.mjs';

const args = parseArgs(process.argv.slice(2), {
  script: 'wallboard.mjs',
  required: ['base'],
  usage: '--base URL [--lang en|zh] [--shots DIR]',
});

await run(args, {
  script: 'wallboard.mjs',
  profilePrefix: 'hotline-chromium-wallboard-',
  contextOptions: {
    viewport: { width: 1920, height: 1080 },
    ...(args.tz ? { timezoneId: args.tz } : {}),
  },

  /** What the page knows, for failure messages (run in the page). */
  pageState: () => {
    const el = (id) => document.getElementById(id);
    const text = (id) => (el(id) && !el(id).hidden ? el(id).innerText : null);
    const s = window.wallboard ? window.wallboard.state() : null;
    return {
      url: location.href,
      user: s && s.user,
      conn: s && s.conn,
      frames: s && s.frames,
      stale: s && s.stale,
      totals: s && s.board ? s.board.totals : null,
      alerts: s && s.board ? s.board.alerts : null,
      login_error: text('login-error'),
      banner: text('banner'),
      alerts_shown: text('alerts'),
    };
  },

  shot: { english: true, clearToasts: true, fullPage: true },

  commands: {
    /** Signs in with the form; resolves once the board (or its refusal) shows. */
    async login(c) {
      await signIn(c);
      const view = c.expect === 'denied' ? '#denied-view' : '#app-view';
      await page.locator(view).waitFor({ state: 'visible', timeout: c.timeout });
      return await page.evaluate(() => window.wallboard.state());
    },

    async state() {
      return await page.evaluate(() => window.wallboard.state());
    },

    /** The computed `property` of the first element matching `selector`. */
    async style(c) {
      await page.locator(c.selector).first().waitFor({ state: 'attached', timeout: c.timeout });
      return await page.evaluate(
        ({ selector, property }) => getComputedStyle(document.querySelector(selector)).getPropertyValue(property),
        { selector: c.selector, property: c.property },
      );
    },
  },
});
