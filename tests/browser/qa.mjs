// Drives the QA page (/qa) in Debian's Chromium for tests/qa_page.rs.
//
//   node tests/browser/qa.mjs --base http://127.0.0.1:PORT
//        [--lang en|zh] [--shots DIR] [--chromium /usr/bin/chromium]
//        [--tz Asia/Shanghai]
//
// `--tz` is the browser's time zone: the page's "today" and the times it
// shows are the browser's, the server's day boundaries are the hotline's
// (`tickets.time_zone`), so a test runs the browser in the hotline's zone.
//
// The line protocol (the same as agent.mjs's), the launch, the shutdown and
// the generic commands (`wait_fn` polls any expression until it is truthy)
// are driver.mjs's. The page's own test hook is `window.qa` (web/qa.js):
// `state` returns window.qa.state(); `login` and `recording_requests` are
// this page's too.

import { parseArgs, run, page, signIn } from './driver.mjs';

const args = parseArgs(process.argv.slice(2), {
  script: 'qa.mjs',
  required: ['base'],
  usage: '--base URL [--lang en|zh] [--shots DIR]',
});

/** Requests for recordings the page made, with their Range header and status. */
const recordingRequests = [];

await run(args, {
  script: 'qa.mjs',
  profilePrefix: 'hotline-chromium-qa-',
  contextOptions: args.tz ? { timezoneId: args.tz } : {},
  chromiumArgs: ['--autoplay-policy=no-user-gesture-required'],

  watch(p) {
    // Every request for a recording (the <audio> element's and the
    // waveform's fetch), with its Range header and the answer's status.
    p.on('response', async (res) => {
      const url = res.url();
      if (!/\/api\/calls\/[^/]+\/recording(\?|$)/.test(url)) return;
      const req = res.request();
      let range = null;
      try {
        range = (await req.allHeaders()).range || null;
      } catch (e) {
        range = null;
      }
      recordingRequests.push({ url: url.replace(args.base, ''), type: req.resourceType(), range, status: res.status() });
    });
  },

  /** What the page knows, for failure messages (run in the page). */
  pageState: () => {
    const el = (id) => document.getElementById(id);
    const text = (id) => (el(id) && !el(id).hidden ? el(id).innerText : null);
    return {
      url: location.href,
      qa: window.qa ? window.qa.state() : null,
      login_error: text('login-error'),
      search_error: text('search-error'),
      call_error: text('call-error'),
      score_error: text('score-error'),
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
      return await page.evaluate(() => window.qa.state());
    },

    async state() {
      return await page.evaluate(() => window.qa.state());
    },

    /** The recording requests seen so far: [{url, type, range, status}]. */
    async recording_requests() {
      return recordingRequests.slice();
    },
  },
});
