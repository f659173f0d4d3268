// The campaigns page (/campaigns): each outbound campaign with its switch
// (pause, resume, stop), its contacts by state and its figures over a span
// of days; a contact added by hand; a number put on the do-not-call list.
//
// Built like the QA page: one state object `S` holds what the server told
// us, render functions redraw parts of the page from it. Supervisors and
// admins only (the API enforces this too); others are told the page is not
// for them. The campaigns are read again every 15 s (contacts move as the
// dialer works); the figures when the range changes or on Refresh.
//
// The page's test hook is `window.campaigns.state()`.
'use strict';

(function () {
  const $ = HL.$;
  const t = HL.t;
  const el = HL.el;

  /** Who may run campaigns. */
  const LEADS = ['supervisor', 'admin'];
  const CONTACT_STATES = ['waiting', 'dialling', 'reached', 'gave_up', 'closed'];
  const CALL_FIGURES = ['attempts', 'answered', 'answer_rate', 'contacts_dialled', 'attempts_per_contact'];
  const SURVEY_FIGURES = ['tickets_completed', 'followed_up', 'coverage', 'satisfied', 'satisfaction_rate'];
  const RATES = new Set(['answer_rate', 'coverage', 'satisfaction_rate']);
  /** Every figure defined on the page, in order. */
  const DEFINED = [...CALL_FIGURES, 'tickets_completed', 'followed_up', 'coverage', 'scores', 'satisfied', 'satisfaction_rate'];
  const REFRESH_MS = 15000;

  const S = {
    user: null, // GET /api/me
    campaigns: [], // GET /api/campaigns
    loaded: false,
    listError: null,
    /** The range asked for; '' lets the server choose (the last 30 days). */
    range: { from: '', to: '' },
    /** name -> the figures' answer, or {error}. */
    figures: {},
    figuresLoading: false,
    figuresSeq: 0,
    /** name -> true while a switch is on its way. */
    busy: {},
    /** The desk's lowest satisfied score, as the figures say. */
    satisfiedFrom: 3,
    stopping: null,
    timer: null,
    /** What the forms last said: element id -> [text key, params]. */
    notes: {},
  };

  /** Shows `key` (with params) in the element `id`, again after a language switch; null clears. */
  function note(id, key, params) {
    if (key) S.notes[id] = [key, params];
    else delete S.notes[id];
    $(id).textContent = key ? t(key, params) : '';
  }

  document.addEventListener('DOMContentLoaded', boot);

  function boot() {
    wire();
    renderDefinitions();
    HL.langListeners.push(() => renderAll());
    HL.staffPage({
      brand: 'cp.brand',
      allowed: (user) => LEADS.includes(user.role),
      deniedKey: 'cp.not_for_you',
      enter,
      leave,
    });
  }

  function enter(user) {
    S.user = user;
    S.loaded = false;
    S.figures = {};
    loadCampaigns().then(() => loadFigures());
    clearInterval(S.timer);
    S.timer = setInterval(() => {
      if (S.user && !document.hidden && !Object.keys(S.busy).length) loadCampaigns();
    }, REFRESH_MS);
  }

  function leave(signedOut) {
    S.user = null;
    clearInterval(S.timer);
    S.timer = null;
    if ($('stop-dialog').open) $('stop-dialog').close('cancel');
    if (signedOut) Object.keys(S.notes).forEach((id) => note(id, null));
  }

  function wire() {
    $('btn-refresh').addEventListener('click', () => {
      loadCampaigns();
      loadFigures();
    });
    $('range-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const from = $('r-from').value;
      const to = $('r-to').value;
      note('range-error', null);
      if (from && to && from > to) {
        note('range-error', 'cp.range.order');
        return;
      }
      S.range = { from, to };
      loadFigures();
    });
    $('btn-range-default').addEventListener('click', () => {
      S.range = { from: '', to: '' };
      note('range-error', null);
      loadFigures();
    });
    $('contact-form').addEventListener('submit', addContact);
    $('dnc-form').addEventListener('submit', addDoNotCall);
    $('stop-dialog').addEventListener('close', () => {
      const name = S.stopping;
      S.stopping = null;
      if (name && $('stop-dialog').returnValue === 'stop') switchTo(name, 'stopped');
    });
  }

  // -------------------------------------------------------------------------
  // Reading.
  // -------------------------------------------------------------------------

  async function loadCampaigns() {
    try {
      const list = await HL.api('GET', '/api/campaigns');
      S.campaigns = list.campaigns || [];
      S.listError = null;
    } catch (e) {
      if (e.status === 401) return;
      S.listError = e.message;
    }
    S.loaded = true;
    renderCampaigns();
    renderContactForm();
  }

  function figuresPath(name) {
    const q = new URLSearchParams();
    if (S.range.from) q.set('from', S.range.from);
    if (S.range.to) q.set('to', S.range.to);
    const query = q.toString();
    return `/api/campaigns/${encodeURIComponent(name)}/figures${query ? '?' + query : ''}`;
  }

  /** Every campaign's figures for the range; late answers of an older range are dropped. */
  async function loadFigures() {
    const seq = ++S.figuresSeq;
    S.figuresLoading = true;
    renderCampaigns();
    const answers = await Promise.all(
      S.campaigns.map((c) =>
        HL.api('GET', figuresPath(c.name)).then(
          (f) => [c.name, f],
          (e) => [c.name, { error: e.fields && e.fields.length ? e.fields.map((f) => f.message).join('; ') : e.message, status: e.status }],
        ),
      ),
    );
    if (seq !== S.figuresSeq) return;
    S.figuresLoading = false;
    S.figures = Object.fromEntries(answers);
    const ok = answers.map(([, f]) => f).find((f) => !f.error);
    const failed = answers.map(([, f]) => f).find((f) => f.error && f.status === 400);
    if (failed) note('range-error', 'cp.range.failed', { msg: failed.error });
    else note('range-error', null);
    if (ok) {
      // The days the server counted (its defaults filled in).
      $('r-from').value = ok.from;
      $('r-to').value = ok.to;
      if (ok.survey) S.satisfiedFrom = ok.survey.satisfied_from;
    }
    renderCampaigns();
    renderDefinitions();
  }

  // -------------------------------------------------------------------------
  // Switching.
  // -------------------------------------------------------------------------

  async function switchTo(name, state) {
    if (S.busy[name]) return;
    S.busy[name] = true;
    renderCampaigns();
    try {
      const view = await HL.api('PUT', `/api/campaigns/${encodeURIComponent(name)}/state`, { state });
      S.campaigns = S.campaigns.map((c) => (c.name === name ? view : c));
      HL.toast(t('cp.switched', { name, state: HL.label('cp.state', view.state) }), 'ok');
    } catch (e) {
      if (e.status !== 401) HL.toast(t('cp.switch_failed', { msg: e.message }));
      if (e.status === 409) loadCampaigns();
    } finally {
      delete S.busy[name];
      renderCampaigns();
      renderContactForm();
    }
  }

  function askStop(name) {
    S.stopping = name;
    $('stop-title').textContent = t('cp.stop.title', { name });
    $('stop-text').textContent = t('cp.stop.text');
    $('stop-dialog').returnValue = '';
    $('stop-dialog').showModal();
    $('btn-stop-cancel').focus();
  }

  // -------------------------------------------------------------------------
  // The forms.
  // -------------------------------------------------------------------------

  /** An API error in plain words: each bad field's message, or the error. */
  function plain(e) {
    return e.fields && e.fields.length ? e.fields.map((f) => f.message).join('; ') : e.message;
  }

  async function addContact(ev) {
    ev.preventDefault();
    const campaign = $('c-campaign').value;
    const phone = $('c-phone').value.trim();
    const ticket = $('c-ticket').value.trim();
    note('contact-error', null);
    note('contact-done', null);
    if (!phone) {
      note('contact-error', 'cp.need_phone');
      $('c-phone').focus();
      return;
    }
    $('btn-add-contact').disabled = true;
    try {
      const body = { phone };
      if (ticket) body.ticket = ticket;
      const added = await HL.api('POST', `/api/campaigns/${encodeURIComponent(campaign)}/contacts`, body);
      note('contact-done', 'cp.add.done', { number: added.number, campaign: added.campaign });
      $('c-phone').value = '';
      $('c-ticket').value = '';
      loadCampaigns();
    } catch (e) {
      if (e.status !== 401) note('contact-error', 'cp.add.failed', { msg: plain(e) });
    } finally {
      $('btn-add-contact').disabled = false;
    }
  }

  async function addDoNotCall(ev) {
    ev.preventDefault();
    const phone = $('d-phone').value.trim();
    const reason = $('d-reason').value.trim();
    note('dnc-error', null);
    note('dnc-done', null);
    if (!phone) {
      note('dnc-error', 'cp.need_phone');
      $('d-phone').focus();
      return;
    }
    $('btn-dnc').disabled = true;
    try {
      await HL.api('POST', '/api/do-not-call', { phone, reason });
      note('dnc-done', 'cp.dnc.done', { number: phone });
      $('d-phone').value = '';
      $('d-reason').value = '';
    } catch (e) {
      if (e.status !== 401) note('dnc-error', 'cp.dnc.failed', { msg: plain(e) });
    } finally {
      $('btn-dnc').disabled = false;
    }
  }

  // -------------------------------------------------------------------------
  // Drawing.
  // -------------------------------------------------------------------------

  function renderAll() {
    renderCampaigns();
    renderContactForm();
    renderDefinitions();
    for (const [id, [key, params]] of Object.entries(S.notes)) $(id).textContent = t(key, params);
  }

  /** 0.4 -> "40%", 0.41666 -> "41.7%"; 2.5 -> "2.5"; null -> "—". */
  function fmtFigure(name, value) {
    if (value === null || value === undefined) return t('cp.fig.none');
    if (RATES.has(name)) {
      const pct = Math.round(value * 1000) / 10;
      return `${pct}%`;
    }
    if (name === 'attempts_per_contact') return String(Math.round(value * 100) / 100);
    return String(value);
  }

  function definition(name) {
    return t('cp.def.' + name, { n: S.satisfiedFrom });
  }

  function tile(name, value, cls) {
    return el(
      'div',
      { class: 'tile ' + (cls || ''), dataset: { fig: name }, title: definition(name) },
      el('span', { class: 'value mono' }, fmtFigure(name, value)),
      el('span', { class: 'label' }, t('cp.fig.' + name)),
    );
  }

  function scoresTile(scores) {
    const counts = [1, 2, 3, 4, 5].map((s) => (scores && scores[String(s)]) || 0);
    const top = Math.max(1, ...counts);
    return el(
      'div',
      { class: 'tile scores', dataset: { fig: 'scores' }, title: definition('scores') },
      el(
        'div',
        { class: 'bars' },
        counts.map((n, i) =>
          el(
            'div',
            { class: 'bar' + (i + 1 >= S.satisfiedFrom ? ' good' : ''), dataset: { score: String(i + 1) } },
            el('span', { class: 'n mono' }, String(n)),
            el('i', { style: `height: ${Math.round((n / top) * 100)}%` }),
            el('span', { class: 's' }, String(i + 1)),
          ),
        ),
      ),
      el('span', { class: 'label' }, t('cp.fig.scores')),
    );
  }

  function switchButtons(c) {
    if (c.state === 'stopped') return el('p', { class: 'final muted small' }, t('cp.state.final'));
    const busy = !!S.busy[c.name];
    const pauseOrResume =
      c.state === 'paused'
        ? el('button', { type: 'button', class: 'btn green small act-resume', disabled: busy, onclick: () => switchTo(c.name, 'running') }, t('cp.resume'))
        : el('button', { type: 'button', class: 'btn small act-pause', disabled: busy, onclick: () => switchTo(c.name, 'paused') }, t('cp.pause'));
    return el(
      'div',
      { class: 'switch-buttons' },
      pauseOrResume,
      el('button', { type: 'button', class: 'btn outline-red small act-stop', disabled: busy, onclick: () => askStop(c.name) }, t('cp.stop')),
    );
  }

  function campaignCard(c) {
    const isSurvey = c.kind === 'survey';
    const f = S.figures[c.name];
    const who = c.state_changed_by
      ? t('cp.state.by', { by: c.state_changed_by, at: HL.fmtTime(c.state_changed_at) })
      : t('cp.state.never');
    let figures;
    if (!f) {
      figures = el('p', { class: 'muted small' }, t('cp.figures.loading'));
    } else if (f.error) {
      figures = el('p', { class: 'form-error' }, t('cp.range.failed', { msg: f.error }));
    } else {
      figures = el(
        'div',
        { class: 'fig-groups' + (S.figuresLoading ? ' stale' : '') },
        el('div', { class: 'tiles' }, CALL_FIGURES.map((name) => tile(name, f[name], RATES.has(name) ? 'rate' : ''))),
        isSurvey && f.survey
          ? [
              el('h3', {}, t('cp.figures.survey')),
              el(
                'div',
                { class: 'tiles' },
                SURVEY_FIGURES.slice(0, 3).map((name) => tile(name, f.survey[name], RATES.has(name) ? 'rate' : '')),
                scoresTile(f.survey.scores),
                SURVEY_FIGURES.slice(3).map((name) => tile(name, f.survey[name], RATES.has(name) ? 'rate' : '')),
              ),
            ]
          : null,
      );
    }
    const target = isSurvey ? t('cp.target.survey') : t('cp.target.queue');
    return el(
      'section',
      { class: 'card campaign', dataset: { name: c.name, state: c.state } },
      el(
        'div',
        { class: 'cp-head' },
        el(
          'div',
          { class: 'cp-title' },
          el('h2', { class: 'cp-name' }, c.name),
          el('span', { class: 'badge kind' }, HL.label('cp.kind', c.kind)),
          el(
            'div',
            { class: 'cp-meta small' },
            el('span', {}, `${target} `, el('b', { class: 'mono' }, c.target)),
            el('span', {}, `${t('cp.caller_id')} `, el('b', { class: 'mono' }, c.caller_id)),
            el('span', { class: 'muted' }, t('cp.limits', { c: c.concurrency, a: c.max_attempts })),
          ),
        ),
        el(
          'div',
          { class: 'cp-switch' },
          el('div', { class: 'state-line' }, el('span', { class: 'run-state', dataset: { state: c.state } }, HL.label('cp.state', c.state)), el('span', { class: 'muted small who-when' }, who)),
          switchButtons(c),
        ),
      ),
      el(
        'div',
        { class: 'cp-body' },
        el(
          'div',
          { class: 'cp-contacts' },
          el('h3', {}, t('cp.contacts')),
          el(
            'div',
            { class: 'tiles contacts' },
            CONTACT_STATES.map((s) =>
              el(
                'div',
                { class: 'tile contact', dataset: { contact: s } },
                el('span', { class: 'value mono' }, String((c.contacts && c.contacts[s]) || 0)),
                el('span', { class: 'label' }, t('cp.contact.' + s)),
              ),
            ),
          ),
        ),
        el(
          'div',
          { class: 'cp-figures' },
          el('h3', {}, t('cp.figures'), f && !f.error ? el('span', { class: 'range mono' }, ` ${f.from} – ${f.to}`) : null),
          figures,
        ),
      ),
    );
  }

  function renderCampaigns() {
    const box = $('campaigns');
    HL.show('list-error', !!S.listError);
    $('list-error').textContent = S.listError ? t('cp.list_failed', { msg: S.listError }) : '';
    $('range-note').textContent = t('cp.range.note');
    if (!S.loaded) {
      box.replaceChildren(el('p', { class: 'muted' }, t('loading')));
      return;
    }
    if (!S.campaigns.length && !S.listError) {
      box.replaceChildren(el('p', { class: 'card muted empty' }, t('cp.none')));
      return;
    }
    box.replaceChildren(...S.campaigns.map(campaignCard));
  }

  function renderContactForm() {
    const select = $('c-campaign');
    const chosen = select.value;
    select.replaceChildren(
      ...S.campaigns.map((c) =>
        el('option', { value: c.name }, c.state === 'stopped' ? `${c.name} (${HL.label('cp.state', 'stopped')})` : c.name),
      ),
    );
    if (S.campaigns.some((c) => c.name === chosen)) select.value = chosen;
    $('btn-add-contact').disabled = !S.campaigns.length;
  }

  function renderDefinitions() {
    $('definitions').replaceChildren(
      ...DEFINED.flatMap((name) => [el('dt', { dataset: { fig: name } }, t('cp.fig.' + name)), el('dd', {}, definition(name))]),
    );
  }

  // -------------------------------------------------------------------------
  // The test hook.
  // -------------------------------------------------------------------------

  window.campaigns = {
    state: () => ({
      user: S.user ? { id: S.user.id, role: S.user.role } : null,
      loaded: S.loaded,
      campaigns: S.campaigns.map((c) => ({ name: c.name, kind: c.kind, state: c.state, by: c.state_changed_by, contacts: c.contacts })),
      figures: S.figures,
      figuresLoading: S.figuresLoading,
      range: { from: $('r-from').value, to: $('r-to').value },
      busy: Object.keys(S.busy),
      listError: S.listError,
    }),
  };
})();
