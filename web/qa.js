// The QA page (/qa): find recorded calls, listen to them with both channels
// drawn as a waveform and the call's timeline against the audio, score them
// on a scorecard, and pin comments to moments of the recording.
//
// How it is built, like the agent page: one state object `S` holds what the
// server told us, render functions redraw parts of the page from it. The
// open call is in the address (#/call/ID), so a reload opens it again.
//
// Who sees what: qa, supervisor and admin see every call and may score and
// comment; an agent sees their own calls, read-only (the API enforces this
// too); outlet users are told the page is not for them.
//
// The waveform is drawn from the WAV itself (16-bit PCM, 8 kHz, left = the
// caller, right = what the caller heard), fetched once beside the <audio>
// element, whose own requests use HTTP Range to seek.
'use strict';

(function () {
  const $ = HL.$;
  const t = HL.t;

  /** Roles that review calls: every call, scores and comments. */
  const REVIEWERS = ['qa', 'supervisor', 'admin'];
  const PAGE_SIZE = 50;
  /** Disposition codes (the agent page's wrap-up list). */
  const DISPOSITIONS = ['resolved', 'ticket_opened', 'callback_needed', 'transferred', 'no_fault', 'wrong_number', 'other'];
  /** Suggestions for the queue filter (free text works too). */
  const QUEUES = ['repair', 'installation', 'complaint', 'general'];
  /** Timeline kinds drawn against the audio, by group (colour and legend). */
  const GROUPS = [
    { key: 'ivr', color: '#7d5ba6', kinds: ['prompt', 'menu'] },
    { key: 'keys', color: '#56677c', kinds: ['dtmf'] },
    { key: 'queue', color: '#c98a12', kinds: ['queued', 'offered'] },
    { key: 'agent', color: '#1e9e5a', kinds: ['agent-answered'] },
    { key: 'hold', color: '#d9822b', kinds: ['agent-hold', 'agent-resume', 'hold', 'resume'] },
    { key: 'transfer', color: '#2b8a9e', kinds: ['transfer', 'consult'] },
    { key: 'recording', color: '#d0453f', kinds: ['recording-paused', 'recording-resumed'] },
    { key: 'hangup', color: '#1f2d3d', kinds: ['hangup'] },
  ];
  const GROUP_OF = {};
  GROUPS.forEach((g) => g.kinds.forEach((k) => (GROUP_OF[k] = g)));
  const COLORS = {
    caller: ['#2d6cb5', '#b3cbe8'], // played, still to play
    heard: ['#2b8a9e', '#b0d9e1'],
    paused: 'rgba(208, 69, 63, 0.09)',
    pausedEdge: 'rgba(208, 69, 63, 0.45)',
    playhead: '#d0453f',
    pin: '#b8407a',
    grid: '#e3e8ee',
    ruler: '#7a8596',
  };
  /** Marker rows in the timeline strip before markers may overlap. */
  const MARKER_ROWS = 3;
  const SEARCH_KEY = 'hotline.qa.search';

  const S = {
    user: null, // GET /api/me
    tab: 'search', // search | sample | call
    agents: [], // GET /api/agents
    agentNames: new Map(),
    scorecards: null, // GET /api/qa/scorecards, null until loaded
    scorecardsError: null,
    search: { params: null, offset: 0, total: 0, calls: [], loaded: false, loading: false, stale: false },
    sample: { calls: [], loaded: false, date: null },
    callId: null,
    call: null, // GET /api/calls/{id}
    callError: null,
    qa: { scores: [], comments: [], loaded: false, error: null },
    scorecard: null, // the name picked in the score form
    lastScore: null, // the last PUT's answer
    markers: [], // [{kind, detail, offset_ms, seq, group}]
    spans: [], // paused spans [{from, to}] in ms
    lastError: null,
    seq: 0, // bumps on every call opened, so late answers of an older one are dropped
  };

  /** The waveform. */
  const W = {
    state: 'none', // none | loading | ready | error
    error: null,
    rate: 8000,
    channels: 0,
    frames: 0,
    left: null, // Int16Array
    right: null,
    peaks: null, // {width, left: Float32Array(2*w), right}
    drawn: false,
    draws: 0,
    scrubbing: false,
  };

  const audio = () => $('audio');

  document.addEventListener('DOMContentLoaded', boot);

  let page = null;

  function boot() {
    buildStatic();
    wire();
    HL.langListeners.push(() => {
      buildStatic();
      renderAll();
    });
    page = HL.staffPage({
      brand: 'qa.brand',
      // Reviewers and agents (their own calls) get the page.
      allowed: (user) => REVIEWERS.includes(user.role) || user.role === 'agent',
      deniedKey: 'qa.not_for_you',
      enter,
      leave,
    });
  }

  const isReviewer = () => !!S.user && REVIEWERS.includes(S.user.role);
  const isAgent = () => !!S.user && S.user.role === 'agent';

  function enter(user) {
    S.user = user;
    HL.show('own-only', isAgent());
    HL.show('f-agent-row', !isAgent());
    // The daily sample is for reviewers (the API refuses agents).
    HL.show('tab-sample', !isAgent());
    $('app-view').classList.toggle('read-only', !isReviewer());
    resetSearch();
    restoreSearchForm();
    loadAgents();
    loadScorecards();
    route();
  }

  function resetSearch() {
    S.search = { params: null, offset: 0, total: 0, calls: [], loaded: false, loading: false, stale: false };
    S.sample = { calls: [], loaded: false, date: null };
    closeCall();
  }

  function leave(signedOut) {
    S.user = null;
    closeCall();
    if (!signedOut) return;
    try {
      sessionStorage.removeItem(SEARCH_KEY); // the next user starts afresh
    } catch (e) {
      /* nothing kept */
    }
    if (location.hash) history.replaceState(null, '', location.pathname);
  }

  // -------------------------------------------------------------------------
  // The address: #/search, #/sample, #/call/ID.
  // -------------------------------------------------------------------------

  function route() {
    if (!S.user) return;
    const hash = location.hash.replace(/^#\/?/, '');
    const m = /^call\/(.+)$/.exec(hash);
    if (m) {
      const id = decodeURIComponent(m[1]);
      if (id !== S.callId || !S.call) openCall(id);
      setTab('call');
    } else if (hash === 'sample' && !isAgent()) {
      setTab('sample');
      if (!S.sample.loaded) loadSample();
    } else {
      setTab('search');
      if (!S.search.loaded || S.search.stale) runSearch(S.search.loaded ? S.search.offset : 0);
    }
  }

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  function setTab(tab) {
    S.tab = tab;
    HL.show('view-search', tab === 'search');
    HL.show('view-sample', tab === 'sample');
    HL.show('view-call', tab === 'call');
    HL.show('tab-call', !!S.callId);
    document.querySelectorAll('.tabs [data-view]').forEach((b) => {
      b.classList.toggle('active', b.dataset.view === tab);
      b.setAttribute('aria-selected', String(b.dataset.view === tab));
    });
    if (tab !== 'call' && !audio().paused) audio().pause();
    if (tab === 'call') {
      renderMarkers(); // their rows depend on the strip's width, 0 while hidden
      requestAnimationFrame(drawWave);
    }
  }

  // -------------------------------------------------------------------------
  // Static parts: selects that depend on the language.
  // -------------------------------------------------------------------------

  function buildStatic() {
    const disp = $('f-disposition');
    const keep = disp.value;
    disp.replaceChildren(
      HL.el('option', { value: '' }, t('qa.any')),
      ...DISPOSITIONS.map((d) => HL.el('option', { value: d }, HL.label('disp', d))),
    );
    disp.value = keep;
    $('queue-list').replaceChildren(...QUEUES.map((q) => HL.el('option', { value: q }, HL.label('queue', q))));
    fillAgentSelect();
    renderLegend();
  }

  function fillAgentSelect() {
    const sel = $('f-agent');
    const keep = sel.value;
    const agents = S.agents.slice().sort((a, b) => (a.display_name || a.username).localeCompare(b.display_name || b.username));
    sel.replaceChildren(
      HL.el('option', { value: '' }, t('qa.any_agent')),
      ...agents.map((a) => HL.el('option', { value: String(a.id) }, (a.display_name || a.username) + ' (' + a.username + ')')),
    );
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }

  async function loadAgents() {
    try {
      const res = await HL.api('GET', '/api/agents');
      S.agents = (res && res.agents) || [];
    } catch (e) {
      S.agents = [];
    }
    S.agentNames = new Map(S.agents.map((a) => [a.id, a.display_name || a.username]));
    fillAgentSelect();
    renderResults();
    renderSample();
    if (S.call) renderCallHead();
  }

  async function loadScorecards() {
    try {
      const res = await HL.api('GET', '/api/qa/scorecards');
      S.scorecards = (res && res.scorecards) || [];
      S.scorecardsError = null;
    } catch (e) {
      S.scorecards = [];
      S.scorecardsError = e.message;
    }
    if (!S.scorecard && S.scorecards.length) S.scorecard = S.scorecards[0].name;
    renderScoreForm();
    renderScores();
  }

  function agentName(id) {
    if (id === null || id === undefined) return '—';
    if (S.user && id === S.user.id) return S.user.display_name || S.user.username;
    return S.agentNames.get(id) || '#' + id;
  }

  // -------------------------------------------------------------------------
  // Controls.
  // -------------------------------------------------------------------------

  function wire() {
    document.querySelectorAll('.tabs [data-view]').forEach((b) =>
      b.addEventListener('click', () => go(b.dataset.view === 'call' ? '#/call/' + encodeURIComponent(S.callId) : '#/' + b.dataset.view)),
    );
    window.addEventListener('hashchange', route);

    $('search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      runSearch(0);
    });
    $('btn-search-reset').addEventListener('click', () => {
      $('search-form').reset();
      setDefaultDates();
      runSearch(0);
    });
    $('btn-prev').addEventListener('click', () => runSearch(Math.max(0, S.search.offset - PAGE_SIZE)));
    $('btn-next').addEventListener('click', () => runSearch(S.search.offset + PAGE_SIZE));
    $('sample-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      loadSample();
    });
    $('btn-back').addEventListener('click', () => go(S.sample.calls.some((c) => c.id === S.callId) && !S.search.calls.some((c) => c.id === S.callId) ? '#/sample' : '#/search'));

    const a = audio();
    ['timeupdate', 'seeked', 'seeking', 'durationchange', 'loadedmetadata'].forEach((type) => a.addEventListener(type, onAudioTime));
    a.addEventListener('play', () => {
      onAudioTime();
      requestAnimationFrame(followPlayhead);
    });
    a.addEventListener('pause', onAudioTime);
    a.addEventListener('error', onAudioError);

    const wave = $('wave');
    wave.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0) return;
      W.scrubbing = true;
      wave.setPointerCapture(ev.pointerId);
      seekToX(ev);
    });
    wave.addEventListener('pointermove', (ev) => {
      if (W.scrubbing) seekToX(ev);
      else hoverWave(ev);
    });
    const stop = () => (W.scrubbing = false);
    wave.addEventListener('pointerup', stop);
    wave.addEventListener('pointercancel', stop);
    wave.addEventListener('pointerleave', hideTip);
    window.addEventListener('resize', () => {
      W.peaks = null;
      drawWave();
      renderMarkers();
    });

    $('scorecard-pick').addEventListener('change', () => {
      S.scorecard = $('scorecard-pick').value;
      renderScoreForm();
    });
    $('score-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      saveScore();
    });
    $('comment-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      addComment();
    });

    document.addEventListener('keydown', onKey);
  }

  /**
   * Space plays or pauses, the arrows skip 5 s: not while typing, and not
   * on a control where the key has its own meaning (a button, a checkbox,
   * the player itself).
   */
  function onKey(ev) {
    if (S.tab !== 'call' || !S.call || !S.call.recording || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const el = ev.target;
    const tag = el && el.tagName;
    if (['INPUT', 'TEXTAREA', 'SELECT', 'BUTTON', 'A', 'AUDIO'].includes(tag) || (el && el.isContentEditable)) return;
    if (ev.code === 'Space' || ev.key === ' ') {
      ev.preventDefault();
      togglePlay();
    } else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
      ev.preventDefault();
      seekMs(audio().currentTime * 1000 + (ev.key === 'ArrowLeft' ? -5000 : 5000));
    }
  }

  function togglePlay() {
    const a = audio();
    if (!a.getAttribute('src')) return;
    if (a.paused) {
      a.play().catch((e) => {
        if (e && e.name !== 'AbortError') HL.toast(t('qa.err.play', { msg: e.message || e.name }));
      });
    } else a.pause();
  }

  // -------------------------------------------------------------------------
  // Search.
  // -------------------------------------------------------------------------

  function setDefaultDates() {
    const today = new Date();
    const week = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 6);
    $('f-from').value = HL.isoDate(week);
    $('f-to').value = HL.isoDate(today);
  }

  function restoreSearchForm() {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(SEARCH_KEY) || 'null');
    } catch (e) {
      saved = null;
    }
    $('search-form').reset();
    setDefaultDates();
    if (saved && typeof saved === 'object') {
      for (const [name, value] of Object.entries(saved)) {
        const input = $('search-form').elements[name];
        if (!input) continue;
        if (input.type === 'checkbox') input.checked = value === 'false';
        else input.value = value;
      }
    }
    $('s-date').value = HL.isoDate(new Date());
  }

  /** The form's filters as query parameters; throws a sentence when they make no sense. */
  function searchParams() {
    const f = $('search-form').elements;
    const p = {};
    const text = (name) => {
      const v = f[name].value.trim();
      if (v !== '') p[name] = v;
    };
    ['from', 'to', 'queue', 'phone', 'customer', 'ticket', 'disposition', 'min_secs', 'max_secs', 'min_score', 'max_score'].forEach(text);
    if (!isAgent() && f.agent.value) p.agent = f.agent.value;
    if (f.reviewed.checked) p.reviewed = 'false';
    if (p.from && p.to && p.from > p.to) throw new Error(t('qa.err.dates'));
    for (const [lo, hi] of [['min_secs', 'max_secs'], ['min_score', 'max_score']]) {
      if (p[lo] !== undefined && p[hi] !== undefined && Number(p[lo]) > Number(p[hi])) throw new Error(t('qa.err.range_order'));
    }
    for (const name of ['min_secs', 'max_secs', 'min_score', 'max_score']) {
      if (p[name] !== undefined && !/^\d+$/.test(p[name])) throw new Error(t('qa.err.whole_number'));
    }
    return p;
  }

  const query = (params) =>
    Object.entries(params)
      .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v))
      .join('&');

  async function runSearch(offset) {
    $('search-error').textContent = '';
    let params;
    try {
      params = searchParams();
    } catch (e) {
      $('search-error').textContent = e.message;
      return;
    }
    try {
      sessionStorage.setItem(SEARCH_KEY, JSON.stringify(params));
    } catch (e) {
      /* private mode: not kept */
    }
    S.search.loading = true;
    S.search.params = params;
    renderResults();
    const path = '/api/recordings?' + query(Object.assign({}, params, { limit: PAGE_SIZE, offset }));
    try {
      const res = await HL.api('GET', path);
      if (S.search.params !== params) return; // a newer search went out
      S.search.calls = (res && res.calls) || [];
      S.search.total = (res && res.total) || 0;
      S.search.offset = offset;
      S.search.loaded = true;
      S.search.stale = false;
    } catch (e) {
      if (S.search.params !== params) return;
      $('search-error').textContent = e.status === 400 ? badFields(e) : e.message;
      S.lastError = e.message;
    } finally {
      if (S.search.params === params) S.search.loading = false;
    }
    renderResults();
  }

  /** A 400's message with the fields it names. */
  function badFields(e) {
    const fields = (e.fields || []).map((f) => (f.field ? f.field + ': ' : '') + (f.message || '')).filter(Boolean);
    return fields.length ? e.message + ' — ' + fields.join('; ') : e.message;
  }

  async function loadSample() {
    const date = $('s-date').value || HL.isoDate(new Date());
    const per = $('s-per-agent').value || '2';
    $('sample-error').textContent = '';
    S.sample.loading = true;
    renderSample();
    try {
      const res = await HL.api('GET', '/api/qa/sample?' + query({ date, per_agent: per }));
      S.sample.calls = (res && res.calls) || [];
      S.sample.date = (res && res.date) || date;
      S.sample.loaded = true;
    } catch (e) {
      $('sample-error').textContent = e.status === 400 ? badFields(e) : e.message;
      S.lastError = e.message;
    } finally {
      S.sample.loading = false;
    }
    renderSample();
  }

  function renderResults() {
    const s = S.search;
    const box = $('results');
    $('results-count').textContent = s.loading ? t('qa.searching') : s.loaded ? t(s.total === 1 ? 'qa.found_one' : 'qa.found', { n: s.total }) : '';
    const from = s.total ? s.offset + 1 : 0;
    const to = s.offset + s.calls.length;
    $('page-info').textContent = s.loaded ? `${from}–${to} / ${s.total}` : '';
    $('btn-prev').disabled = s.loading || s.offset === 0;
    $('btn-next').disabled = s.loading || to >= s.total;
    if (!s.loaded) return box.replaceChildren();
    if (!s.calls.length) return box.replaceChildren(HL.el('p', { class: 'empty muted' }, t('qa.none')));
    box.replaceChildren(callTable(s.calls));
  }

  function renderSample() {
    const s = S.sample;
    const box = $('sample-results');
    if (s.loading) return box.replaceChildren(HL.el('p', { class: 'empty muted' }, t('loading')));
    if (!s.loaded) return box.replaceChildren();
    if (!s.calls.length) return box.replaceChildren(HL.el('p', { class: 'empty muted' }, t('qa.sample.none', { date: s.date })));
    box.replaceChildren(
      HL.el('p', { class: 'muted small' }, t('qa.sample.count', { n: s.calls.length, date: s.date })),
      callTable(s.calls),
    );
  }

  /** A table of calls; a row opens its call. */
  function callTable(calls) {
    const head = [t('qa.col.time'), t('qa.col.caller'), t('qa.col.agent'), t('qa.col.queue'), t('qa.col.length'), t('qa.col.disposition'), t('qa.col.recording'), t('qa.col.score')];
    return HL.el('table', { class: 'grid calls' },
      HL.el('thead', {}, HL.el('tr', {}, ...head.map((h) => HL.el('th', {}, h)))),
      HL.el('tbody', {}, ...calls.map((c) => {
        const open = () => go('#/call/' + encodeURIComponent(c.id));
        return HL.el('tr', {
          class: 'call-row' + (c.id === S.callId ? ' current' : ''),
          tabindex: '0',
          dataset: { id: c.id },
          onclick: open,
          onkeydown: (ev) => {
            if (ev.key === 'Enter') open();
          },
        },
        HL.el('td', { class: 'mono nowrap' }, fmtDateTime(c.arrived_at)),
        HL.el('td', {}, HL.el('span', { class: 'mono' }, c.from_number || '—'), c.customer_name ? HL.el('div', { class: 'small muted' }, c.customer_name) : null),
        HL.el('td', {}, agentName(c.agent_id)),
        HL.el('td', {}, c.queue ? HL.label('queue', c.queue) : '—'),
        HL.el('td', { class: 'mono' }, callLength(c)),
        HL.el('td', {}, c.disposition ? HL.label('disp', c.disposition) : '—'),
        HL.el('td', {}, recordingBadge(c.recording)),
        HL.el('td', {}, scoreBadge(c.score)));
      })));
  }

  function callLength(c) {
    const r = c.recording;
    if (r && typeof r.duration_ms === 'number') return HL.fmtDuration(r.duration_ms);
    if (c.ended_at && c.arrived_at) return HL.fmtDuration(c.ended_at - c.arrived_at);
    return '—';
  }

  function recordingBadge(r) {
    if (!r) return HL.el('span', { class: 'badge muted' }, t('qa.rec.none_short'));
    if (r.state === 'cut_off') return HL.el('span', { class: 'badge cut', title: t('qa.rec.cut_off') }, t('qa.rec.state.cut_off'));
    if (r.state === 'recording') return HL.el('span', { class: 'badge live' }, t('qa.rec.state.recording'));
    return HL.el('span', { class: 'badge ok' }, t('qa.rec.state.complete'), r.legal_hold ? ' · ' + t('qa.rec.hold_short') : '');
  }

  function scoreBadge(score) {
    if (!score || !score.reviews) return HL.el('span', { class: 'muted small' }, t('qa.unreviewed'));
    return HL.el('span', { class: 'score-pill' + (score.failed ? ' failed' : '') },
      HL.el('b', {}, fmtScore(score.total)),
      score.failed ? HL.el('span', { class: 'small' }, ' ' + t('qa.score.fatal_short')) : null,
      score.reviews > 1 ? HL.el('span', { class: 'small muted' }, ' ×' + score.reviews) : null);
  }

  const fmtScore = (n) => (typeof n === 'number' ? String(Math.round(n * 10) / 10) : '—');

  // -------------------------------------------------------------------------
  // One call.
  // -------------------------------------------------------------------------

  function closeCall() {
    S.seq++;
    const a = audio();
    if (a) {
      a.pause();
      a.removeAttribute('src');
      a.load();
    }
    S.callId = null;
    S.call = null;
    S.callError = null;
    S.qa = { scores: [], comments: [], loaded: false, error: null };
    S.markers = [];
    S.spans = [];
    S.lastScore = null;
    resetWave();
  }

  function resetWave() {
    Object.assign(W, { state: 'none', error: null, channels: 0, frames: 0, left: null, right: null, peaks: null, drawn: false });
  }

  async function openCall(id) {
    closeCall();
    const seq = S.seq;
    S.callId = id;
    HL.show('tab-call', true);
    $('tab-call-name').textContent = '';
    $('score-result').textContent = '';
    $('score-error').textContent = '';
    $('comment-text').value = '';
    renderAll();
    let call;
    try {
      call = await HL.api('GET', '/api/calls/' + encodeURIComponent(id));
    } catch (e) {
      if (seq !== S.seq) return;
      S.callError = e.status === 403 ? t('qa.err.forbidden') : e.status === 404 ? t('qa.err.no_call') : e.message;
      S.lastError = S.callError;
      renderAll();
      return;
    }
    if (seq !== S.seq) return;
    S.call = call && call.call ? Object.assign({}, call.call, { events: call.events, messages: call.messages }) : call;
    buildTimeline();
    const rec = S.call.recording;
    if (rec && rec.state !== 'none') {
      const src = recordingUrl(id);
      audio().src = src;
      $('download').href = src + '?download=1';
      loadWave(id, seq);
    }
    renderAll();
    loadQa(seq);
  }

  const recordingUrl = (id) => '/api/calls/' + encodeURIComponent(id) + '/recording';

  async function loadQa(seq) {
    try {
      const res = await HL.api('GET', '/api/calls/' + encodeURIComponent(S.callId) + '/qa');
      if (seq !== S.seq) return;
      S.qa = { scores: (res && res.scores) || [], comments: (res && res.comments) || [], loaded: true, error: null };
    } catch (e) {
      if (seq !== S.seq) return;
      S.qa = { scores: [], comments: [], loaded: true, error: e.status === 403 ? t('qa.err.forbidden_qa') : e.message };
    }
    renderScoreForm();
    renderScores();
    renderComments();
    drawWave();
  }

  /** Markers and paused spans from the call's events, in ms into the recording. */
  function buildTimeline() {
    const call = S.call;
    const rec = call && call.recording;
    const start = rec && rec.started_at;
    const markers = [];
    for (const e of (call && call.events) || []) {
      if (!GROUP_OF[e.kind]) continue;
      let off = e.offset_ms;
      if (typeof off !== 'number') {
        // A server without offset_ms: the recording starts at started_at.
        if (off === null || typeof start !== 'number') continue;
        off = e.at - start;
        if (off < 0) continue;
      }
      markers.push({ seq: e.seq, kind: e.kind, detail: e.detail || '', offset_ms: Math.max(0, off), group: GROUP_OF[e.kind].key });
    }
    markers.sort((a, b) => a.offset_ms - b.offset_ms || a.seq - b.seq);
    S.markers = markers;
    const spans = [];
    let open = null;
    for (const m of markers) {
      if (m.kind === 'recording-paused' && open === null) open = m.offset_ms;
      if (m.kind === 'recording-resumed' && open !== null) {
        spans.push({ from: open, to: m.offset_ms });
        open = null;
      }
    }
    if (open !== null) spans.push({ from: open, to: null }); // to the end
    S.spans = spans;
  }

  /** The recording's length in ms: the file's, else the record's, else the player's. */
  function durationMs() {
    if (W.frames && W.rate) return (W.frames / W.rate) * 1000;
    const rec = S.call && S.call.recording;
    if (rec && typeof rec.duration_ms === 'number' && rec.duration_ms > 0) return rec.duration_ms;
    const d = audio().duration;
    return isFinite(d) && d > 0 ? d * 1000 : 0;
  }

  function seekMs(ms) {
    const total = durationMs();
    if (!total || !S.call || !S.call.recording) return;
    const clamped = Math.max(0, Math.min(total - 1, ms));
    audio().currentTime = clamped / 1000;
    onAudioTime();
  }

  function seekToX(ev) {
    const box = $('wave').getBoundingClientRect();
    const frac = Math.max(0, Math.min(1, (ev.clientX - box.left) / box.width));
    seekMs(frac * durationMs());
  }

  function onAudioTime() {
    const a = audio();
    const now = (a.currentTime || 0) * 1000;
    $('comment-at').textContent = t('qa.comment.at', { t: HL.fmtDuration(now) });
    drawWave();
  }

  function followPlayhead() {
    if (audio().paused || S.tab !== 'call') return;
    drawWave();
    requestAnimationFrame(followPlayhead);
  }

  function onAudioError() {
    const a = audio();
    if (!a.getAttribute('src') || !S.call) return;
    // The waveform's fetch knows the HTTP status; the player only that it failed.
    const msg = W.state === 'error' && W.error ? W.error : t('qa.err.play', { msg: (a.error && a.error.message) || 'error ' + (a.error && a.error.code) });
    S.lastError = msg;
    showCallError(msg);
  }

  function showCallError(msg) {
    $('call-error').textContent = msg;
    HL.show('call-error', !!msg);
  }

  // -------------------------------------------------------------------------
  // The waveform: the WAV parsed here, min/max per pixel column.
  // -------------------------------------------------------------------------

  async function loadWave(id, seq) {
    W.state = 'loading';
    renderWaveStatus();
    let res;
    try {
      res = await fetch(recordingUrl(id), { credentials: 'same-origin' });
    } catch (e) {
      return waveFailed(seq, t('err.network'));
    }
    if (seq !== S.seq) return;
    if (!res.ok) {
      if (res.status === 401) return page.sessionEnded();
      let message = '';
      try {
        message = ((await res.json()) || {}).error || '';
      } catch (e) {
        /* no JSON body */
      }
      const why =
        res.status === 403 ? t('qa.err.forbidden')
          : res.status === 404 ? t('qa.err.no_recording')
            : res.status === 416 ? t('qa.err.range')
              : message || t('err.http', { status: res.status });
      return waveFailed(seq, why);
    }
    let buf;
    try {
      buf = await res.arrayBuffer();
    } catch (e) {
      return waveFailed(seq, t('err.network'));
    }
    if (seq !== S.seq) return;
    let wav;
    try {
      wav = parseWav(buf);
    } catch (e) {
      return waveFailed(seq, t('qa.err.wav', { msg: e.message }));
    }
    W.rate = wav.rate;
    W.channels = wav.channels;
    W.frames = wav.frames;
    W.left = wav.left;
    W.right = wav.right;
    W.peaks = null;
    W.state = 'ready';
    renderWaveStatus();
    renderMarkers();
    renderFacts();
    onAudioTime();
  }

  function waveFailed(seq, message) {
    if (seq !== S.seq) return;
    W.state = 'error';
    W.error = message;
    S.lastError = message;
    renderWaveStatus();
    showCallError(message);
    drawWave();
  }

  /**
   * A RIFF/WAVE file of 16-bit PCM: {rate, channels, frames, left, right}.
   * Chunks are walked, so extra ones (LIST...) are skipped; a data size
   * beyond the file (a recording cut off, still being written) is clipped.
   */
  function parseWav(buf) {
    const v = new DataView(buf);
    const tag = (o) => String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2), v.getUint8(o + 3));
    if (buf.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
    let fmt = null;
    let data = null;
    let o = 12;
    while (o + 8 <= buf.byteLength) {
      const id = tag(o);
      const size = v.getUint32(o + 4, true);
      const body = o + 8;
      if (id === 'fmt ') {
        if (size < 16 || body + 16 > buf.byteLength) throw new Error('short fmt chunk');
        fmt = {
          format: v.getUint16(body, true),
          channels: v.getUint16(body + 2, true),
          rate: v.getUint32(body + 4, true),
          align: v.getUint16(body + 12, true),
          bits: v.getUint16(body + 14, true),
        };
      } else if (id === 'data') {
        data = { offset: body, size: Math.min(size, buf.byteLength - body) };
        break;
      }
      o = body + size + (size & 1);
    }
    if (!fmt) throw new Error('no fmt chunk');
    if (!data) throw new Error('no data chunk');
    if ((fmt.format !== 1 && fmt.format !== 0xfffe) || fmt.bits !== 16) throw new Error('not 16-bit PCM');
    if (fmt.channels < 1 || !fmt.rate) throw new Error('bad format');
    const step = fmt.channels * 2;
    const frames = Math.floor(data.size / step);
    const left = new Int16Array(frames);
    const right = fmt.channels > 1 ? new Int16Array(frames) : null;
    for (let i = 0, p = data.offset; i < frames; i++, p += step) {
      left[i] = v.getInt16(p, true);
      if (right) right[i] = v.getInt16(p + 2, true);
    }
    return { rate: fmt.rate, channels: fmt.channels, frames, left, right };
  }

  /** min/max of each of `width` columns of `samples`, as -1..1 pairs. */
  function columnPeaks(samples, width) {
    const out = new Float32Array(width * 2);
    const n = samples.length;
    for (let x = 0; x < width; x++) {
      const a = Math.floor((x * n) / width);
      const b = Math.max(a + 1, Math.floor(((x + 1) * n) / width));
      let lo = 0;
      let hi = 0;
      for (let i = a; i < b && i < n; i++) {
        const s = samples[i];
        if (s < lo) lo = s;
        if (s > hi) hi = s;
      }
      out[2 * x] = lo / 32768;
      out[2 * x + 1] = hi / 32767;
    }
    return out;
  }

  /** Redraws the canvas: lanes, paused spans, marker lines, pins, playhead, ruler. */
  function drawWave() {
    const box = $('wave');
    const canvas = $('wave-canvas');
    if (!box || box.offsetParent === null) return; // hidden: drawn when shown
    const w = Math.max(1, Math.floor(box.clientWidth));
    const h = Math.max(1, Math.floor(box.clientHeight));
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.style.width = w + 'px';
      canvas.style.height = h + 'px';
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);

    const rulerH = 16;
    const gap = 6;
    const laneH = (h - rulerH - gap) / 2;
    const lanes = [
      { top: 0, name: 'caller' },
      { top: laneH + gap, name: 'heard' },
    ];
    const total = durationMs();
    const xOf = (ms) => (total ? (ms / total) * w : 0);
    const now = audio().currentTime * 1000;
    const playX = total ? Math.min(w, xOf(now)) : 0;

    // Lane backgrounds and centre lines.
    lanes.forEach((lane) => {
      ctx.fillStyle = '#f7f9fb';
      ctx.fillRect(0, lane.top, w, laneH);
      ctx.fillStyle = COLORS.grid;
      ctx.fillRect(0, Math.round(lane.top + laneH / 2), w, 1);
    });

    // Paused spans, shaded across both lanes.
    if (total) {
      for (const span of S.spans) {
        const x0 = xOf(span.from);
        const x1 = span.to === null ? w : xOf(span.to);
        ctx.fillStyle = COLORS.paused;
        ctx.fillRect(x0, 0, Math.max(2, x1 - x0), h - rulerH);
        ctx.save();
        ctx.beginPath();
        ctx.rect(x0, 0, Math.max(2, x1 - x0), h - rulerH);
        ctx.clip();
        ctx.strokeStyle = 'rgba(208, 69, 63, 0.16)';
        ctx.lineWidth = 1;
        for (let x = x0 - h; x < x1; x += 7) {
          ctx.beginPath();
          ctx.moveTo(x, h - rulerH);
          ctx.lineTo(x + h, 0);
          ctx.stroke();
        }
        ctx.restore();
        ctx.fillStyle = COLORS.pausedEdge;
        ctx.fillRect(x0, 0, 1, h - rulerH);
        if (span.to !== null) ctx.fillRect(x1, 0, 1, h - rulerH);
        if (x1 - x0 > 40) {
          ctx.fillStyle = '#b23631';
          ctx.font = '11px system-ui, sans-serif';
          ctx.fillText(t('qa.paused'), x0 + 4, 12);
        }
      }
    }

    // The samples: min/max per column, darker where already played.
    if (W.state === 'ready' && W.frames) {
      if (!W.peaks || W.peaks.width !== w) {
        W.peaks = { width: w, left: columnPeaks(W.left, w), right: W.right ? columnPeaks(W.right, w) : null };
      }
      const chans = [W.peaks.left, W.peaks.right];
      lanes.forEach((lane, li) => {
        const peaks = chans[li];
        if (!peaks) return;
        const [played, ahead] = COLORS[lane.name];
        const mid = lane.top + laneH / 2;
        const amp = laneH / 2 - 2;
        for (let x = 0; x < w; x++) {
          const lo = peaks[2 * x];
          const hi = peaks[2 * x + 1];
          const y0 = mid - hi * amp;
          const y1 = mid - lo * amp;
          ctx.fillStyle = x < playX ? played : ahead;
          ctx.fillRect(x, y0, 1, Math.max(1, y1 - y0));
        }
      });
      W.drawn = true;
    }

    // Timeline markers: a faint line through both lanes.
    if (total) {
      for (const m of S.markers) {
        const x = Math.round(xOf(m.offset_ms)) + 0.5;
        ctx.strokeStyle = GROUP_OF[m.kind].color;
        ctx.globalAlpha = 0.35;
        ctx.beginPath();
        ctx.moveTo(x, 0);
        ctx.lineTo(x, h - rulerH);
        ctx.stroke();
        ctx.globalAlpha = 1;
      }
      // Comment pins: a flag at the top of the caller's lane.
      for (const c of S.qa.comments) {
        if (typeof c.offset_ms !== 'number') continue;
        const x = Math.round(xOf(c.offset_ms)) + 0.5;
        ctx.strokeStyle = COLORS.pin;
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(x, 0);
        ctx.lineTo(x, h - rulerH);
        ctx.stroke();
        ctx.lineWidth = 1;
        ctx.fillStyle = COLORS.pin;
        ctx.beginPath();
        ctx.moveTo(x, 0);
        ctx.lineTo(x + 9, 4);
        ctx.lineTo(x, 8);
        ctx.closePath();
        ctx.fill();
      }
    }

    // The ruler: a tick every 1, 5, 10, 30 or 60 s, whichever leaves room.
    ctx.fillStyle = COLORS.ruler;
    ctx.font = '10px ' + getComputedStyle(document.body).getPropertyValue('--mono');
    if (total) {
      const stepS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => (s * 1000 * w) / total >= 56) || 1200;
      for (let s = 0; s * 1000 <= total; s += stepS) {
        const x = Math.round(xOf(s * 1000)) + 0.5;
        ctx.fillRect(x, h - rulerH, 1, 4);
        if (x < w - 24) ctx.fillText(HL.fmtDuration(s * 1000), x + 2, h - 4);
      }
    }

    // The playhead.
    if (total && S.call && S.call.recording) {
      ctx.fillStyle = COLORS.playhead;
      ctx.fillRect(Math.min(w - 2, Math.max(0, playX - 1)), 0, 2, h - rulerH);
    }
    W.draws++;
    $('wave').dataset.drawn = String(W.drawn);
  }

  function renderWaveStatus() {
    const el = $('wave-status');
    const rec = S.call && S.call.recording;
    let text = '';
    if (S.call && !rec) text = t('qa.rec.none');
    else if (W.state === 'loading') text = t('qa.wave.loading');
    else if (W.state === 'error') text = W.error || '';
    el.textContent = text;
    HL.show(el, !!text);
    $('wave').dataset.state = W.state;
  }

  /** The timeline strip: one marker per event, in up to MARKER_ROWS rows. */
  function renderMarkers() {
    const strip = $('markers');
    const total = durationMs();
    const width = strip.clientWidth || $('wave').clientWidth || 1;
    const lastX = new Array(MARKER_ROWS).fill(-Infinity);
    const items = [];
    if (total) {
      for (const m of S.markers) {
        const x = (Math.min(m.offset_ms, total) / total) * width;
        let row = lastX.findIndex((lx) => x - lx >= 12);
        if (row < 0) row = lastX.indexOf(Math.min(...lastX));
        lastX[row] = x;
        const label = markerText(m);
        items.push(
          HL.el('button', {
            type: 'button',
            class: 'marker',
            dataset: { kind: m.kind, group: m.group, offset: String(m.offset_ms) },
            style: `left:${((Math.min(m.offset_ms, total) / total) * 100).toFixed(3)}%;top:${row * 12}px;--c:${GROUP_OF[m.kind].color}`,
            'aria-label': label,
            onclick: () => seekMs(m.offset_ms),
            onmouseenter: (ev) => showTip(ev.currentTarget, m),
            onfocus: (ev) => showTip(ev.currentTarget, m),
            onmouseleave: hideTip,
            onblur: hideTip,
          }),
        );
      }
    }
    strip.replaceChildren(...items);
  }

  function markerText(m) {
    return `${HL.fmtDuration(m.offset_ms)} ${HL.label('qa.kind', m.kind)}${m.detail ? ' — ' + m.detail : ''}`;
  }

  function showTip(target, m) {
    const tip = $('wave-tip');
    tip.replaceChildren(
      HL.el('span', { class: 'mono' }, HL.fmtDuration(m.offset_ms)),
      ' ',
      HL.el('b', {}, HL.label('qa.kind', m.kind)),
      ' ',
      HL.el('code', {}, m.kind),
      m.detail ? HL.el('div', { class: 'tip-detail' }, m.detail) : null,
    );
    placeTip(target.getBoundingClientRect());
  }

  function placeTip(rect) {
    const tip = $('wave-tip');
    const wrap = tip.parentElement.getBoundingClientRect();
    tip.hidden = false;
    const left = Math.max(0, Math.min(wrap.width - tip.offsetWidth, rect.left - wrap.left + rect.width / 2 - tip.offsetWidth / 2));
    tip.style.left = left + 'px';
    tip.style.top = rect.bottom - wrap.top + 6 + 'px';
  }

  function hideTip() {
    $('wave-tip').hidden = true;
  }

  /** Hovering the waveform near a comment pin shows the comment. */
  function hoverWave(ev) {
    const total = durationMs();
    const box = $('wave').getBoundingClientRect();
    if (!total) return;
    const x = ev.clientX - box.left;
    const near = S.qa.comments.find((c) => typeof c.offset_ms === 'number' && Math.abs((c.offset_ms / total) * box.width - x) <= 5);
    if (!near) return hideTip();
    const tip = $('wave-tip');
    tip.replaceChildren(
      HL.el('span', { class: 'mono' }, HL.fmtDuration(near.offset_ms)),
      ' ',
      HL.el('b', {}, near.author || ''),
      HL.el('div', { class: 'tip-detail' }, near.text),
    );
    const px = box.left + (near.offset_ms / total) * box.width;
    placeTip({ left: px, width: 0, bottom: box.top + 10 });
  }

  function renderLegend() {
    const present = new Set(S.markers.map((m) => m.group));
    const groups = present.size ? GROUPS.filter((g) => present.has(g.key)) : GROUPS;
    $('legend').replaceChildren(
      ...groups.map((g) => HL.el('span', { class: 'legend-item' }, HL.el('i', { style: `background:${g.color}` }), t('qa.group.' + g.key))),
      HL.el('span', { class: 'legend-item' }, HL.el('i', { class: 'pin', style: `background:${COLORS.pin}` }), t('qa.group.comment')),
      HL.el('span', { class: 'legend-item' }, HL.el('i', { class: 'span' }), t('qa.group.paused')),
    );
  }

  // -------------------------------------------------------------------------
  // The call's head and its recording's facts.
  // -------------------------------------------------------------------------

  function renderAll() {
    renderResults();
    renderSample();
    renderCallHead();
    renderFacts();
    renderWaveStatus();
    renderMarkers();
    renderLegend();
    renderScoreForm();
    renderScores();
    renderComments();
    drawWave();
    onAudioTime();
  }

  function renderCallHead() {
    const c = S.call;
    showCallError(S.callError || (W.state === 'error' ? W.error : ''));
    // Nothing but the error (or the wait) until the call is there.
    $('view-call').classList.toggle('no-call', !c);
    $('c-caller').textContent = c ? c.from_number || '' : S.callId || '';
    $('c-customer').textContent = c && c.customer_name ? c.customer_name : '';
    $('tab-call-name').textContent = c ? c.from_number || '' : '';
    HL.show('player', !!(c && c.recording));
    const chips = [];
    if (c) {
      const chip = (label, value, cls) => HL.el('span', { class: 'chip' + (cls ? ' ' + cls : '') }, label + ' ', HL.el('b', {}, value));
      chips.push(chip(t('qa.col.time'), fmtDateTime(c.arrived_at)));
      chips.push(chip(t('qa.col.agent'), agentName(c.agent_id)));
      if (c.queue) chips.push(chip(t('qa.col.queue'), HL.label('queue', c.queue)));
      if (c.disposition) chips.push(chip(t('qa.col.disposition'), HL.label('disp', c.disposition), 'disp'));
      if (typeof c.talk_ms === 'number') chips.push(chip(t('qa.talk'), HL.fmtDuration(c.talk_ms)));
      if (c.digits) chips.push(chip(t('incoming.digits'), c.digits));
    }
    $('c-chips').replaceChildren(...chips);

    const rec = c && c.recording;
    let warning = '';
    if (!c && S.callId && !S.callError) warning = t('loading');
    else if (c && !rec) warning = t('qa.rec.none');
    else if (rec && rec.state === 'cut_off') warning = t('qa.rec.cut_off');
    else if (rec && rec.state === 'recording') warning = t('qa.rec.live');
    $('rec-warning').textContent = warning;
    $('rec-warning').dataset.state = rec ? rec.state : 'none';
    HL.show('rec-warning', !!warning);
  }

  function renderFacts() {
    const dl = $('rec-facts');
    const rec = S.call && S.call.recording;
    if (!S.call) return dl.replaceChildren();
    if (!rec) return dl.replaceChildren(HL.el('dd', { class: 'muted wide' }, t('qa.rec.none')));
    const row = (label, value, cls) => [HL.el('dt', {}, label), HL.el('dd', { class: cls || '' }, value)];
    const agents = (rec.agents || []).map(agentName).join(', ') || '—';
    dl.replaceChildren(
      ...row(t('qa.fact.state'), [recordingBadge(rec), rec.state === 'cut_off' ? HL.el('span', { class: 'small cut-text' }, ' ' + t('qa.rec.cut_off_short')) : null]),
      ...row(t('qa.fact.duration'), HL.el('span', { class: 'mono', id: 'fact-duration' }, typeof rec.duration_ms === 'number' ? fmtMs(rec.duration_ms) : '—')),
      ...row(t('qa.fact.started'), HL.el('span', { class: 'mono' }, rec.started_at ? fmtDateTime(rec.started_at, true) : '—')),
      ...row(t('qa.fact.size'), HL.el('span', { class: 'mono' }, typeof rec.bytes === 'number' ? fmtBytes(rec.bytes) : '—')),
      ...row(t('qa.fact.channels'), t('qa.fact.channels_text', { agents })),
      ...row(t('qa.fact.format'), W.state === 'ready' ? `${W.channels === 2 ? t('qa.fact.stereo') : t('qa.fact.mono')} · ${W.rate} Hz · 16-bit PCM` : '—'),
      ...row('SHA-256', HL.el('code', { class: 'sha', id: 'fact-sha' }, rec.sha256 || '—')),
      ...row(t('qa.fact.hold'), rec.legal_hold ? HL.el('span', { class: 'badge hold' }, t('qa.fact.hold_yes')) : t('qa.fact.hold_no')),
      ...(rec.note ? row(t('qa.fact.note'), rec.note) : []),
    );
  }

  const pad2 = (n) => String(n).padStart(2, '0');

  /** Epoch ms -> "2026-12-06 14:05" (with seconds when asked). */
  function fmtDateTime(ms, seconds) {
    if (!ms) return '—';
    const d = new Date(ms);
    return `${HL.isoDate(d)} ${pad2(d.getHours())}:${pad2(d.getMinutes())}${seconds ? ':' + pad2(d.getSeconds()) : ''}`;
  }

  /** 83456 -> "1:23.5". */
  const fmtMs = (ms) => HL.fmtDuration(ms) + '.' + Math.floor((ms % 1000) / 100);

  function fmtBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1024 / 1024).toFixed(2) + ' MiB';
  }

  // -------------------------------------------------------------------------
  // Scoring.
  // -------------------------------------------------------------------------

  const scorecardOf = (name) => (S.scorecards || []).find((c) => c.name === name) || null;

  function renderScoreForm() {
    const pick = $('scorecard-pick');
    const cards = S.scorecards || [];
    const reviewer = isReviewer();
    // Only a recording can be scored (the API answers 404 otherwise).
    HL.show('score-card', reviewer && !!(S.call && S.call.recording));
    HL.show('score-readonly', !reviewer && !!S.call);
    pick.replaceChildren(...cards.map((c) => HL.el('option', { value: c.name }, c.title || c.name)));
    if (S.scorecard) pick.value = S.scorecard;
    HL.show(pick, reviewer && cards.length > 1);
    const only = cards.length === 1 ? cards[0] : null;
    $('scorecard-title').textContent = reviewer && only ? only.title || only.name : '';
    const list = $('criteria');
    if (!reviewer) return list.replaceChildren();
    if (S.scorecards === null) return list.replaceChildren(HL.el('li', { class: 'muted small' }, t('loading')));
    const card = scorecardOf(S.scorecard);
    if (!card) {
      $('btn-score-save').disabled = true;
      return list.replaceChildren(HL.el('li', { class: 'muted small' }, S.scorecardsError || t('qa.score.no_cards')));
    }
    $('btn-score-save').disabled = !S.call;
    // A score of mine on this card: the form starts from it.
    const mine = S.qa.scores.find((s) => s.scorecard === card.name && S.user && s.reviewer_id === S.user.id);
    const was = new Map([...list.querySelectorAll('input[data-key]')].map((i) => [i.dataset.key, i.checked]));
    const sameCard = list.dataset.card === card.name && list.dataset.call === S.callId;
    list.dataset.card = card.name;
    list.dataset.call = S.callId || '';
    list.replaceChildren(
      ...card.criteria.map((c) => {
        const checked = sameCard && was.has(c.key) ? was.get(c.key) : !!(mine && mine.items && mine.items[c.key]);
        return HL.el('li', { class: 'criterion' + (c.fatal ? ' fatal' : '') },
          HL.el('label', {},
            HL.el('input', { type: 'checkbox', dataset: { key: c.key }, checked, onchange: renderPreview }),
            HL.el('span', { class: 'crit-label' }, c.label || c.key),
            c.fatal ? HL.el('span', { class: 'badge fatal', title: t('qa.score.fatal_hint') }, t('qa.score.fatal')) : null,
            HL.el('span', { class: 'weight mono', title: t('qa.score.weight') }, String(c.weight))));
      }),
    );
    if (!sameCard) $('score-note').value = mine ? mine.note || '' : '';
    renderPreview();
  }

  /** Items as the form has them: every criterion, true or false. */
  function formItems() {
    const items = {};
    $('criteria').querySelectorAll('input[data-key]').forEach((i) => (items[i.dataset.key] = i.checked));
    return items;
  }

  /**
   * Beside Save: the server's total once saved; before that, what the ticks
   * come to by the scorecard's rule (the weights met, 0 when a fatal
   * criterion is not met), marked as not saved.
   */
  function renderPreview() {
    const card = scorecardOf(S.scorecard);
    const box = $('score-result');
    if (!card || !isReviewer()) return box.replaceChildren();
    const items = formItems();
    const last = S.lastScore;
    if (last && last.scorecard === card.name && last.call_id === S.callId) {
      if (card.criteria.every((c) => !!(last.items || {})[c.key] === !!items[c.key])) return showSaved(last);
    }
    const failed = card.criteria.some((c) => c.fatal && !items[c.key]);
    const total = failed ? 0 : card.criteria.reduce((sum, c) => sum + (items[c.key] ? c.weight : 0), 0);
    box.replaceChildren(
      HL.el('span', { class: 'muted small' }, t('qa.score.preview') + ' '),
      HL.el('b', { id: 'score-preview', class: 'score-preview' + (failed ? ' failed' : '') }, String(total)),
    );
  }

  function showSaved(score) {
    $('score-result').replaceChildren(
      ...[
        HL.el('span', { class: 'muted small' }, t('qa.score.saved_total') + ' '),
        HL.el('b', { id: 'score-total', class: 'score-total' + (score.failed ? ' failed' : '') }, fmtScore(score.total)),
        score.failed ? HL.el('span', { class: 'badge fatal' }, t('qa.score.failed')) : null,
      ].filter(Boolean),
    );
  }

  async function saveScore() {
    const card = scorecardOf(S.scorecard);
    if (!card || !S.callId) return;
    const button = $('btn-score-save');
    $('score-error').textContent = '';
    button.disabled = true;
    const callId = S.callId;
    const seq = S.seq;
    try {
      const score = await HL.api('PUT', `/api/calls/${encodeURIComponent(callId)}/scores/${encodeURIComponent(card.name)}`, {
        items: formItems(),
        note: $('score-note').value.trim(),
      });
      if (seq !== S.seq) return;
      S.lastScore = score;
      const others = S.qa.scores.filter((s) => s.id !== score.id);
      S.qa.scores = [...others, score];
      S.search.stale = true;
      showSaved(score);
      HL.toast(t('qa.score.saved', { total: fmtScore(score.total) }), 'ok');
      renderScores();
      // The list as the server has it (other reviewers' scores too).
      loadQa(seq);
    } catch (e) {
      $('score-error').textContent = e.status === 400 ? badFields(e) : e.status === 403 ? t('qa.err.forbidden_score') : e.message;
      S.lastError = e.message;
    } finally {
      button.disabled = false;
    }
  }

  function renderScores() {
    const box = $('scores');
    if (!S.call) return box.replaceChildren();
    if (S.qa.error) return box.replaceChildren(HL.el('p', { class: 'form-error' }, S.qa.error));
    if (!S.qa.loaded) return box.replaceChildren(HL.el('p', { class: 'muted small' }, t('loading')));
    if (!S.qa.scores.length) return box.replaceChildren(HL.el('p', { class: 'muted small' }, t('qa.scores.none')));
    const scores = S.qa.scores.slice().sort((a, b) => (b.updated_at || 0) - (a.updated_at || 0));
    box.replaceChildren(
      ...scores.map((s) => {
        const card = scorecardOf(s.scorecard);
        const criteria = card ? card.criteria : Object.keys(s.items || {}).map((key) => ({ key, label: key }));
        return HL.el('div', { class: 'score' + (s.failed ? ' failed' : ''), dataset: { id: String(s.id), scorecard: s.scorecard } },
          HL.el('div', { class: 'score-head' },
            HL.el('span', { class: 'score-big' }, fmtScore(s.total)),
            HL.el('div', { class: 'score-meta' },
              HL.el('b', {}, card ? card.title || card.name : s.scorecard),
              HL.el('span', { class: 'small muted' }, t('qa.scores.by', { who: s.reviewer || '#' + s.reviewer_id, when: fmtDateTime(s.updated_at || s.created_at) }))),
            s.failed ? HL.el('span', { class: 'badge fatal' }, t('qa.score.failed')) : null),
          s.note ? HL.el('p', { class: 'score-note' }, s.note) : null,
          HL.el('ul', { class: 'items' },
            ...criteria.map((c) => {
              const met = !!(s.items && s.items[c.key]);
              return HL.el('li', { class: met ? 'met' : 'missed' + (c.fatal ? ' fatal' : '') },
                HL.el('span', { class: 'tick', 'aria-label': met ? t('qa.score.met') : t('qa.score.missed') }, met ? '✓' : '✗'),
                ' ', c.label || c.key);
            })));
      }),
    );
  }

  // -------------------------------------------------------------------------
  // Comments pinned to moments.
  // -------------------------------------------------------------------------

  function renderComments() {
    const list = $('comments');
    const reviewer = isReviewer();
    HL.show('comment-form', reviewer && !!(S.call && S.call.recording));
    const comments = S.qa.comments.slice().sort((a, b) => (a.offset_ms ?? 0) - (b.offset_ms ?? 0) || a.id - b.id);
    $('comment-count').textContent = comments.length ? String(comments.length) : '';
    if (!S.call) return list.replaceChildren();
    if (!comments.length) return list.replaceChildren(HL.el('li', { class: 'muted small empty' }, t('qa.comments.none')));
    list.replaceChildren(
      ...comments.map((c) =>
        HL.el('li', { class: 'comment', dataset: { id: String(c.id), offset: String(c.offset_ms) } },
          HL.el('button', { type: 'button', class: 'link mono at', title: t('qa.comment.seek'), onclick: () => seekMs(c.offset_ms) },
            typeof c.offset_ms === 'number' ? HL.fmtDuration(c.offset_ms) : '—'),
          HL.el('div', { class: 'comment-body' },
            HL.el('div', { class: 'comment-text' }, c.text),
            HL.el('div', { class: 'small muted' }, (c.author || '#' + c.author_id) + ' · ' + fmtDateTime(c.created_at))))),
    );
  }

  async function addComment() {
    const input = $('comment-text');
    const text = input.value.trim();
    if (!text) {
      HL.toast(t('qa.comment.empty'));
      input.focus();
      return;
    }
    // Within the recording as the record has it (the file's own length may
    // round a millisecond the other way).
    const rec = S.call && S.call.recording;
    let offset = Math.max(0, Math.round((audio().currentTime || 0) * 1000));
    if (rec && typeof rec.duration_ms === 'number') offset = Math.min(offset, rec.duration_ms);
    const button = $('btn-comment');
    button.disabled = true;
    const seq = S.seq;
    try {
      const comment = await HL.api('POST', `/api/calls/${encodeURIComponent(S.callId)}/comments`, { offset_ms: offset, text });
      if (seq !== S.seq) return;
      S.qa.comments = [...S.qa.comments.filter((c) => c.id !== comment.id), comment];
      input.value = '';
      renderComments();
      drawWave();
    } catch (e) {
      HL.toast(e.status === 400 ? badFields(e) : e.status === 403 ? t('qa.err.forbidden_comment') : e.message);
      S.lastError = e.message;
    } finally {
      button.disabled = false;
    }
  }

  // -------------------------------------------------------------------------
  // Tests and diagnostics: window.qa.
  // -------------------------------------------------------------------------

  window.qa = {
    /** What the page shows, as plain data. */
    state() {
      const a = audio();
      const seekable = a.seekable && a.seekable.length ? a.seekable.end(a.seekable.length - 1) : 0;
      return {
        view: S.user ? ($('app-view').hidden ? ($('denied-view').hidden ? 'login' : 'denied') : S.tab) : 'login',
        user: S.user ? { id: S.user.id, username: S.user.username, role: S.user.role } : null,
        reviewer: isReviewer(),
        results: { loaded: S.search.loaded, total: S.search.total, offset: S.search.offset, ids: S.search.calls.map((c) => c.id) },
        sample: { loaded: S.sample.loaded, date: S.sample.date, ids: S.sample.calls.map((c) => c.id) },
        callId: S.callId,
        callLoaded: !!S.call,
        callError: S.callError,
        recording: S.call ? S.call.recording : null,
        audio: {
          src: a.getAttribute('src'),
          currentTime: a.currentTime,
          duration: isFinite(a.duration) ? a.duration : null,
          paused: a.paused,
          readyState: a.readyState,
          seekableEnd: seekable,
          error: a.error ? a.error.code : null,
        },
        wave: { state: W.state, drawn: W.drawn, draws: W.draws, frames: W.frames, rate: W.rate, channels: W.channels, durationMs: durationMs(), error: W.error },
        markers: S.markers.map((m) => ({ kind: m.kind, offset_ms: m.offset_ms, detail: m.detail })),
        markerCount: document.querySelectorAll('#markers .marker').length,
        pausedSpans: S.spans.slice(),
        scorecards: (S.scorecards || []).map((c) => c.name),
        qaLoaded: S.qa.loaded,
        qaError: S.qa.error,
        scores: S.qa.scores,
        comments: S.qa.comments,
        lastScore: S.lastScore,
        lastError: S.lastError,
      };
    },
    get audio() {
      return audio();
    },
    /** Seeks to `sec` seconds. */
    seek(sec) {
      seekMs(sec * 1000);
    },
    togglePlay,
    /** The waveform's channel peaks over [fromMs, toMs): {left, right} max |sample| (0..1). */
    level(fromMs, toMs) {
      if (W.state !== 'ready') return null;
      const a = Math.max(0, Math.floor((fromMs / 1000) * W.rate));
      const b = Math.min(W.frames, Math.ceil((toMs / 1000) * W.rate));
      const peak = (arr) => {
        if (!arr) return null;
        let m = 0;
        for (let i = a; i < b; i++) m = Math.max(m, Math.abs(arr[i]));
        return m / 32768;
      };
      return { left: peak(W.left), right: peak(W.right) };
    },
  };
})();
