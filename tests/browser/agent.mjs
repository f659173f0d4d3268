// Drives one agent's page (/agent) in Debian's Chromium for tests/softphone.rs.
//
//   node tests/browser/agent.mjs --base http://127.0.0.1:PORT --wav TONE.wav
//        [--lang en|zh] [--shots DIR] [--chromium /usr/bin/chromium]
//
// `--wav` is the microphone: Chromium's fake capture device plays it.
//
// The line protocol, the launch, the shutdown and the generic commands are
// driver.mjs's. Here: what the page knew (window.hotline, web/agent.js), and
// the agent's commands: login, keys, event_count, wait_event, peak and a
// reload that can hold the microphone back. `text` reads textContent, and
// screenshots are in the page's language first.

import { parseArgs, run, page, signIn, poll, matches, sleep } from './driver.mjs';

const args = parseArgs(process.argv.slice(2), {
  script: 'agent.mjs',
  required: ['base', 'wav'],
  usage: '--base URL --wav FILE [--lang en|zh] [--shots DIR]',
});

await run(args, {
  script: 'agent.mjs',
  profilePrefix: 'hotline-chromium-',
  chromiumArgs: [
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    '--use-file-for-fake-audio-capture=' + args.wav,
    '--autoplay-policy=no-user-gesture-required',
  ],

  async init(context) {
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
  },

  /** What the page knows, for failure messages (run in the page). */
  pageState: () => {
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
  },

  text: 'textContent',
  shot: { english: false, clearToasts: false, fullPage: false },

  commands: {
    /** Signs in with the form; resolves once the desk has its hello. */
    async login(c) {
      await signIn(c);
      await page.locator('#desk-view').waitFor({ state: 'visible', timeout: c.timeout });
      await page.waitForFunction(() => window.hotline && window.hotline.events.some((e) => e.type === 'hello'), null, {
        timeout: c.timeout,
      });
      return await page.evaluate(() => window.hotline.events.find((e) => e.type === 'hello'));
    },

    /** Clicks the keypad's keys one by one. */
    async keys(c) {
      for (const key of c.keys) {
        await page.click(`#keypad button[data-key="${key}"]`, { timeout: c.timeout });
        await sleep(c.gap || 0);
      }
      return true;
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
      let streak = 0;
      return await poll(c.timeout, 100, async () => {
        const hz = await page.evaluate((w) => (window.hotline ? window.hotline.peakHz(w) : null), c.which);
        readings.push(hz === null ? null : Math.round(hz * 10) / 10);
        if (readings.length > 60) readings.shift();
        streak = hz !== null && Math.abs(hz - c.hz) <= c.tol ? streak + 1 : 0;
        return { done: streak >= (c.consecutive || 3), value: readings.slice(-20) };
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
  },
});
