// The supervisor's wallboard (/wallboard): every queue's callers waiting
// and longest wait, today's service level, answers, abandons and average
// speed of answer; every agent's state, time in it, call and calls today;
// the calls in progress; alerts when a threshold is crossed. Made to be
// read across a room: large figures, colour only where something is wrong.
//
// The server pushes a whole `board` frame over GET /api/wallboard/ws when
// the floor changes and at least every second (docs/wallboard.md); the
// page draws the latest frame and, between frames, moves the clocks on by
// the time passed since it came (so durations tick every second even if a
// frame is late). Supervisors and admins only (the server enforces it
// too); others are told the page is not for them. A dropped connection is
// retried with backoff; the board greys out while it is not current.
//
// The page's test hook is `window.wallboard.state()`.
'use strict';

(function () {
  const $ = HL.$;
  const t = HL.t;
  const el = HL.el;

  /** Who may watch the board. */
  const LEADS = ['supervisor', 'admin'];
  /** A board older than this (no frame came) is shown as not current. */
  const STALE_MS = 3500;
  /** Agents in this order of states, then by name. */
  const STATE_ORDER = ['ringing', 'on_call', 'on_hold', 'consulted', 'wrap_up', 'ready', 'not_ready', 'logged_out'];
  const DEFINED = ['waiting', 'longest', 'service_level', 'answered', 'abandoned', 'asa', 'agents', 'handled', 'alerts', 'monitor'];

  const S = {
    user: null, // GET /api/me
    socket: null,
    conn: { state: 'stopped' },
    /** The latest frame, and when it came (Date.now()). */
    board: null,
    receivedAt: 0,
    frames: 0,
    /** When the page opened: SLA breaches found since are marked new. */
    openedAt: Date.now(),
    timer: null,
  };

  document.addEventListener('DOMContentLoaded', boot);

  let page = null;

  function boot() {
    HL.langListeners.push(() => renderAll());
    page = HL.staffPage({
      brand: 'wb.brand',
      allowed: (user) => LEADS.includes(user.role),
      deniedKey: 'wb.not_for_you',
      enter,
      leave,
    });
  }

  function enter(user) {
    S.user = user;
    S.openedAt = Date.now();
    connect();
    clearInterval(S.timer);
    // The clocks move every second between frames.
    S.timer = setInterval(() => {
      renderClock();
      if (S.board) renderBoard();
    }, 1000);
    renderAll();
  }

  function connect() {
    if (S.socket) S.socket.stop();
    S.socket = new HL.Socket({
      url: HL.wsUrl('/api/wallboard/ws'),
      onEvent: onFrame,
      onStatus: (status) => {
        S.conn = status;
        if (status.state === 'open') S.socket.resetBackoff();
        renderConn();
      },
      // Signed out meanwhile: stop and ask to sign in again.
      beforeReconnect: async () => {
        const user = await HL.currentUser();
        if (!user) {
          page.sessionEnded();
          return false;
        }
        return true;
      },
    });
    S.socket.start();
  }

  function onFrame(frame) {
    if (frame.type === 'board') {
      S.board = frame;
      S.receivedAt = Date.now();
      S.frames++;
      // The thresholds the definitions quote come with the first frame.
      if (S.frames === 1) renderDefinitions();
      renderBoard();
      renderConn();
    } else if (frame.type === 'error' && frame.code === 'session_ended') {
      page.sessionEnded();
    }
  }

  function leave() {
    S.user = null;
    clearInterval(S.timer);
    S.timer = null;
    if (S.socket) S.socket.stop();
    S.socket = null;
    S.board = null;
  }

  // -------------------------------------------------------------------------
  // Time: the server's moment of the frame, moved on by the time since.
  // -------------------------------------------------------------------------

  /** Milliseconds since the frame came (0 without one). */
  function since() {
    return S.board ? Math.max(0, Date.now() - S.receivedAt) : 0;
  }

  /** The server's now, as well as the page can tell. */
  function serverNow() {
    return S.board ? S.board.at_ms + since() : Date.now();
  }

  /** A duration that was `ms` at the frame's moment, now. */
  function grown(ms) {
    return ms === null || ms === undefined ? null : ms + since();
  }

  function stale() {
    return !S.board || S.conn.state !== 'open' || since() > STALE_MS;
  }

  // -------------------------------------------------------------------------
  // Formatting.
  // -------------------------------------------------------------------------

  const dur = (ms) => (ms === null || ms === undefined ? '—' : HL.fmtDuration(ms));

  /** 0.8 -> "80%", 0.8333 -> "83.3%"; null -> "—". */
  function pct(fraction) {
    if (fraction === null || fraction === undefined) return '—';
    const p = Math.round(fraction * 1000) / 10;
    return `${p}%`;
  }

  const queueName = (name) => HL.label('queue', name) || name;
  const stateName = (state) => HL.label('state', state);
  const reasonName = (reason) => (reason ? HL.label('reason', reason) : '');

  // -------------------------------------------------------------------------
  // Drawing.
  // -------------------------------------------------------------------------

  function renderAll() {
    renderClock();
    renderConn();
    renderDefinitions();
    renderBoard();
  }

  function renderClock() {
    const d = new Date();
    const pad = (n) => String(n).padStart(2, '0');
    $('wb-day').textContent = HL.isoDate(d);
    $('wb-time').textContent = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function renderConn() {
    const state = S.conn.state;
    const conn = $('conn');
    conn.dataset.conn = state;
    $('conn-text').textContent = t('conn.' + (state === 'open' ? 'open' : state));
    const banner = $('banner');
    if (!S.user) return;
    if (state === 'waiting') {
      const s = Math.max(0, Math.ceil((S.conn.retryAt - Date.now()) / 1000));
      banner.textContent = t('banner.lost', { s });
    } else if (state === 'connecting' && S.board) {
      banner.textContent = t('banner.connecting');
    } else if (S.board && since() > STALE_MS) {
      banner.textContent = t('wb.stale');
    } else {
      banner.textContent = '';
    }
    HL.show(banner, !!banner.textContent);
    $('app-view').classList.toggle('stale', !!S.board && stale());
  }

  /** Alerts of `kind` about `queue` in the current frame. */
  function alertsOf(kind, queue) {
    return (S.board ? S.board.alerts : []).filter((a) => a.kind === kind && (queue === undefined || a.queue === queue));
  }

  function figure(name, value, opts) {
    opts = opts || {};
    return el(
      'div',
      { class: 'fig ' + (opts.cls || ''), dataset: { fig: name }, title: t('wb.def.' + name, defParams()) },
      el('span', { class: 'value mono' }, value),
      el('span', { class: 'label' }, t('wb.fig.' + name)),
      opts.note ? el('span', { class: 'fig-note' }, opts.note) : null,
    );
  }

  /** The figures of a queue (or of every queue: `q.name` empty). */
  function queueFigures(q, big) {
    const b = S.board;
    const target = b.thresholds.service_level_target / 100;
    const lowSl = q.service_level !== null && q.service_level < target;
    const longWait = q.name ? alertsOf('long_wait', q.name).length > 0 : alertsOf('long_wait').length > 0;
    const longest = q.waiting ? grown(q.longest_wait_ms) : null;
    return [
      figure('waiting', String(q.waiting), { cls: (big ? 'huge ' : 'big ') + (longWait ? 'bad' : q.waiting ? 'warn' : '') }),
      figure('longest', dur(longest), { cls: longWait ? 'bad' : '' }),
      figure('service_level', pct(q.service_level), {
        cls: 'big ' + (lowSl ? 'bad' : q.service_level !== null ? 'good' : ''),
        note: t('wb.fig.target', { p: b.thresholds.service_level_target, s: b.thresholds.service_level_secs }),
      }),
      figure('answered', String(q.answered)),
      figure('abandoned', String(q.abandoned), { cls: q.abandoned ? 'warn' : '' }),
      figure('asa', dur(q.asa_ms)),
      figure('agents', `${q.agents_ready} / ${q.agents_staffed}`, { note: t('wb.fig.on_call', { n: q.agents_on_call }) }),
    ];
  }

  function renderBoard() {
    renderConn();
    const b = S.board;
    if (!b) {
      $('totals').replaceChildren(el('p', { class: 'muted' }, t('loading')));
      $('queues').replaceChildren();
      $('alerts').replaceChildren();
      $('agents').replaceChildren();
      $('calls').replaceChildren();
      return;
    }
    $('totals').replaceChildren(
      el('div', { class: 'totals-title' }, t('wb.totals')),
      el('div', { class: 'figs' }, queueFigures(b.totals, true)),
    );
    $('queues').replaceChildren(
      ...b.queues.map((q) => {
        const alerting = alertsOf('service_level', q.name).length || alertsOf('long_wait', q.name).length;
        return el(
          'section',
          { class: 'card wb-queue' + (alerting ? ' alerting' : ''), dataset: { queue: q.name } },
          el('h2', { class: 'queue-name' }, queueName(q.name)),
          el('div', { class: 'figs' }, queueFigures(q, false)),
        );
      }),
    );
    renderAlerts(b);
    renderAgents(b);
    renderCalls(b);
  }

  function alertText(a) {
    switch (a.kind) {
      case 'service_level':
        return t('wb.alert.service_level', { queue: queueName(a.queue), sl: pct(a.service_level), target: pct(a.target) });
      case 'long_wait':
        return t('wb.alert.long_wait', { caller: a.caller, queue: queueName(a.queue), t: dur(grown(a.wait_ms)) });
      case 'not_ready':
        return t('wb.alert.not_ready', { name: a.name, reason: reasonName(a.reason) || '—', t: dur(grown(a.for_ms)) });
      case 'sla_breach':
        return t('wb.alert.sla_breach', { ticket: a.ticket, stage: HL.label('stage', a.stage), due: HL.fmtTime(a.due_at) });
      default:
        return a.kind;
    }
  }

  function renderAlerts(b) {
    const items = b.alerts.map((a) => {
      const fresh = a.kind === 'sla_breach' && a.detected_at >= S.openedAt;
      return el(
        'li',
        { class: 'alert-item' + (fresh ? ' fresh' : ''), dataset: { kind: a.kind } },
        el('span', { class: 'alert-text' }, alertText(a)),
        fresh ? el('span', { class: 'badge new' }, t('wb.alert.new')) : null,
      );
    });
    if (!items.length) items.push(el('li', { class: 'all-clear' }, t('wb.alerts.none')));
    $('alerts').replaceChildren(...items);
    $('alert-count').textContent = b.alerts.length ? String(b.alerts.length) : '';
    $('breaches-today').textContent = b.breaches_today ? t('wb.breaches_today', { n: b.breaches_today }) : '';
  }

  function renderAgents(b) {
    const rank = (s) => {
      const i = STATE_ORDER.indexOf(s);
      return i < 0 ? STATE_ORDER.length : i;
    };
    const away = new Set(alertsOf('not_ready').map((a) => a.agent));
    const agents = b.agents.slice().sort((x, y) => rank(x.state) - rank(y.state) || x.display_name.localeCompare(y.display_name));
    if (!agents.length) {
      $('agents').replaceChildren(el('p', { class: 'muted' }, t('wb.agents.none')));
      return;
    }
    $('agents').replaceChildren(
      ...agents.map((a) => {
        const reason = a.state === 'not_ready' ? reasonName(a.reason) : '';
        const call = a.call
          ? el(
              'div',
              { class: 'agent-call' },
              el('span', { class: 'mono' }, a.call.caller || a.call.id),
              a.call.duration_ms !== null ? el('span', { class: 'mono call-time' }, dur(grown(a.call.duration_ms))) : null,
            )
          : null;
        return el(
          'div',
          {
            class: 'wb-agent' + (away.has(a.id) ? ' alerting' : '') + (a.online ? '' : ' offline'),
            dataset: { agent: String(a.id), state: a.state },
          },
          el(
            'div',
            { class: 'agent-head' },
            el('span', { class: 'agent-name' }, a.display_name || a.username),
            el('span', { class: 'handled', title: t('wb.def.handled') }, t('wb.agent.handled', { n: a.handled_today })),
          ),
          el(
            'div',
            { class: 'agent-state' },
            el('span', { class: 'state-name' }, stateName(a.state) + (reason ? ` · ${reason}` : '')),
            el('span', { class: 'mono state-time' }, dur(grown(a.in_state_ms))),
          ),
          call,
          a.online || a.state === 'logged_out' ? null : el('div', { class: 'muted small' }, t('wb.agent.offline')),
        );
      }),
    );
  }

  const MONITOR_MODES = ['listen', 'whisper', 'barge'];

  /**
   * The cell for listening in on a call an agent is talking on: listen,
   * whisper and barge (the one you are in lit), and leave; a call another
   * supervisor is in says who and how. Your SIP phone rings the first
   * time; switching only changes what is mixed.
   */
  function monitorCell(call) {
    const td = el('td', { class: 'col-monitor', dataset: { call: call.id } });
    const m = call.monitor;
    const mine = !!(m && S.user && m.supervisor === S.user.id);
    if (m && !mine) {
      const name = m.supervisor_name;
      td.append(el('span', { class: 'monitor-by muted small' }, t('wb.monitor.by', { name, mode: t('wb.monitor.' + m.mode) })));
      return td;
    }
    if (!mine && !['talking', 'on_hold'].includes(call.state)) return td;
    for (const mode of MONITOR_MODES) {
      const active = mine && m.mode === mode;
      td.append(
        el(
          'button',
          { type: 'button', class: 'monitor-btn' + (active ? ' active' : ''), dataset: { mode }, 'aria-pressed': active ? 'true' : 'false', onclick: () => monitor(call.id, mode) },
          t('wb.monitor.' + mode),
        ),
      );
    }
    if (mine) {
      td.append(el('button', { type: 'button', class: 'monitor-btn leave', dataset: { mode: 'leave' }, onclick: () => monitor(call.id, null) }, t('wb.monitor.leave')));
      if (!m.connected) td.append(el('span', { class: 'monitor-ringing small' }, t('wb.monitor.ringing')));
    }
    return td;
  }

  /** Steps into `callId` in `mode`, switches to it, or (null) leaves. */
  async function monitor(callId, mode) {
    const path = `/api/calls/${encodeURIComponent(callId)}/monitor`;
    try {
      if (mode) await HL.api('POST', path, { mode });
      else await HL.api('DELETE', path);
    } catch (e) {
      HL.toast(e.message);
    }
  }

  function renderCalls(b) {
    const waitLimit = b.thresholds.alert_wait_secs * 1000;
    const rows = b.calls.map((c) => {
      const wait = grown(c.wait_ms);
      const talk = grown(c.talk_ms);
      const late = c.state === 'waiting' && wait !== null && wait > waitLimit;
      const detail = wait !== null ? t('wb.waited', { t: dur(wait) }) : talk !== null ? dur(talk) : '';
      return el(
        'tr',
        { class: late ? 'late' : '', dataset: { call: c.id, state: c.state } },
        el('td', { class: 'mono call-id' }, c.id),
        el('td', { class: 'mono' }, c.caller, c.campaign ? el('span', { class: 'badge kind' }, c.campaign) : null),
        el('td', {}, c.queue ? queueName(c.queue) : '—'),
        el('td', {}, c.agent_name || '—'),
        el('td', {}, el('span', { class: 'call-state', dataset: { state: c.state } }, t('wb.call.' + c.state)), detail ? el('span', { class: 'muted small detail mono' }, ` ${detail}`) : null),
        el('td', { class: 'mono num' }, dur(grown(c.duration_ms))),
        monitorCell(c),
      );
    });
    $('calls').replaceChildren(...rows);
    HL.show('calls-none', !rows.length);
    $('call-count').textContent = rows.length ? String(rows.length) : '';
  }

  function defParams() {
    const th = S.board ? S.board.thresholds : { service_level_secs: 20, service_level_target: 80, alert_wait_secs: 60, alert_not_ready_mins: 15 };
    return { s: th.service_level_secs, p: th.service_level_target, w: th.alert_wait_secs, m: th.alert_not_ready_mins };
  }

  function renderDefinitions() {
    const params = defParams();
    $('definitions').replaceChildren(
      ...DEFINED.flatMap((name) => [el('dt', { dataset: { fig: name } }, t('wb.fig.' + name)), el('dd', {}, t('wb.def.' + name, params))]),
    );
  }

  // -------------------------------------------------------------------------
  // The test hook.
  // -------------------------------------------------------------------------

  window.wallboard = {
    state: () => ({
      user: S.user ? { id: S.user.id, role: S.user.role } : null,
      conn: S.conn.state,
      frames: S.frames,
      stale: stale(),
      board: S.board,
    }),
  };
})();
