// The reports page (/reports): the figures supervisors and admins are
// judged by, over a range of days, by day or by hour, one section per
// report with its table, the definition of every figure, a CSV download
// and, where a person would rather look than read, a chart drawn here as
// SVG (calls by period, the service level against its target, the outlet
// ranking).
//
// Built like the campaigns page: one state object `S` holds what the
// server said; render functions redraw the page from it (again on a
// language switch). What each report is, its columns and their
// definitions come from GET /api/reports, written once in the server
// (src/api/reports.rs). Supervisors and admins only (the API enforces
// this too).
//
// The page's test hook is `window.reports.state()`.
'use strict';

(function () {
  const $ = HL.$;
  const t = HL.t;
  const el = HL.el;
  const SVG = 'http://www.w3.org/2000/svg';

  /** Who may read the reports. */
  const LEADS = ['supervisor', 'admin'];

  // This page's own words (the shared ones are in common.js).
  const TEXT = {
    'rp.title': ['hotline 报表', 'hotline reports'],
    'rp.brand': ['统计报表', 'Reports'],
    'rp.not_for_you': [
      '此页面供班长和管理员使用。你以 {user}（{role}）登录，无权查看报表。',
      'This page is for supervisors and admins. You are signed in as {user} ({role}), who may not read the reports.',
    ],
    'rp.range.title': ['报表范围', 'Reports for'],
    'rp.range.from': ['从', 'From'],
    'rp.range.to': ['到', 'To'],
    'rp.range.by': ['按', 'By'],
    'rp.range.queue': ['队列', 'Queue'],
    'rp.range.show': ['查看', 'Show'],
    'rp.by.day': ['日', 'day'],
    'rp.by.hour': ['小时', 'hour'],
    'rp.queue.all': ['全部队列', 'All queues'],
    'rp.quick.today': ['今天', 'Today'],
    'rp.quick.yesterday': ['昨天', 'Yesterday'],
    'rp.quick.week': ['最近 7 天', 'Last 7 days'],
    'rp.quick.month': ['本月', 'This month'],
    'rp.range.order': ['开始日期不能晚于结束日期。', 'The first day is after the last day.'],
    'rp.range.missing': ['请选择开始和结束日期。', 'Pick the first and the last day.'],
    'rp.range.failed': ['无法生成报表：{msg}', 'No reports: {msg}'],
    'rp.note': [
      '日期与小时按 {tz} 时区。服务水平：{sl} 秒内接听，目标 {target}%。首次解决：{fcr} 天内未再来电。满意：{sat} 分及以上。按小时最多 {hours} 天，按日最多 {days} 天。',
      "Days and hours in {tz}. Service level: answered within {sl} s, target {target}%. First-call resolution: no call again within {fcr} days. Satisfied: a score of {sat} or more. At most {hours} days by hour, {days} by day.",
    ],
    'rp.loading': ['正在统计…', 'Counting…'],
    'rp.empty': ['此范围内没有数据。', 'Nothing in this range.'],
    'rp.defs': ['统计口径', 'What each figure means'],
    'rp.csv': ['下载 CSV', 'Download CSV'],
    'rp.total': ['合计', 'Total'],
    'rp.none': ['—', '—'],
    'rp.unit.s': [' 秒', ' s'],
    'rp.unit.h': [' 小时', ' h'],
    'rp.chart.calls.hour': ['每小时来电', 'Calls by hour'],
    'rp.chart.calls.day': ['每日来电', 'Calls by day'],
    'rp.chart.sl.hour': ['各小时服务水平与目标', 'Service level over the day, against the target'],
    'rp.chart.sl.day': ['每日服务水平与目标', 'Service level by day, against the target'],
    'rp.chart.outlets': ['网点及时率排名', 'Outlets ranked by on-time rate'],
    'rp.legend.offered': ['排队', 'Queued'],
    'rp.legend.answered': ['接听', 'Answered'],
    'rp.legend.target': ['目标 {p}%', 'Target {p}%'],
    // The codes text columns hold (the CSV keeps them as they are).
    'rp.code.city': ['市级', 'city'],
    'rp.code.county': ['县级', 'county'],
    'rp.code.town': ['乡镇', 'town'],
    'rp.code.accepted': ['受理', 'accepted'],
    'rp.code.reopened': ['重开', 'reopened'],
    'rp.code.dispatched': ['派工', 'dispatched'],
    'rp.code.in_service': ['处置', 'in service'],
    'rp.code.completed': ['完工', 'completed'],
    'rp.code.followed_up': ['回访', 'followed up'],
    'rp.code.closed': ['关闭', 'closed'],
    'rp.code.ready': ['就绪', 'ready'],
    'rp.code.not_ready': ['未就绪', 'not ready'],
    'rp.code.ringing': ['振铃', 'ringing'],
    'rp.code.on_call': ['通话', 'on a call'],
    'rp.code.on_hold': ['保持', 'on hold'],
    'rp.code.wrap_up': ['话后处理', 'wrap-up'],
    'rp.code.consulted': ['被咨询', 'consulted'],
  };
  /** The text columns whose values are codes to translate. */
  const CODED = new Set(['tier', 'source', 'from_stage', 'to_stage', 'state']);
  for (const [key, [zh, en]] of Object.entries(TEXT)) {
    HL.I18N.zh[key] = zh;
    HL.I18N.en[key] = en;
  }

  const S = {
    user: null, // GET /api/me
    catalog: null, // GET /api/reports
    catalogError: null,
    /** The range shown (what the form asked for last). */
    range: { from: '', to: '', by: 'hour', queue: '' },
    /** report name -> its table, or {error}. */
    tables: {},
    loading: false,
    seq: 0,
    /** What the form last said: [text key, params], or null. */
    error: null,
  };

  document.addEventListener('DOMContentLoaded', boot);

  function boot() {
    wire();
    HL.langListeners.push(() => renderAll());
    HL.staffPage({
      brand: 'rp.brand',
      allowed: (user) => LEADS.includes(user.role),
      deniedKey: 'rp.not_for_you',
      enter,
      leave: () => {
        S.user = null;
      },
    });
  }

  async function enter(user) {
    S.user = user;
    if (!S.range.from) setQuick('today');
    try {
      S.catalog = await HL.api('GET', '/api/reports');
      S.catalogError = null;
    } catch (e) {
      if (e.status === 401) return;
      S.catalogError = e.message;
    }
    renderQueues();
    renderAll();
    load();
  }

  function wire() {
    $('range-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const range = { from: $('r-from').value, to: $('r-to').value, by: $('r-by').value, queue: $('r-queue').value };
      if (!range.from || !range.to) return say('rp.range.missing');
      if (range.from > range.to) return say('rp.range.order');
      S.range = range;
      load();
    });
    document.querySelectorAll('[data-quick]').forEach((b) =>
      b.addEventListener('click', () => {
        setQuick(b.dataset.quick);
        load();
      }),
    );
  }

  /** Puts a quick range (in the browser's calendar: the desk's) in the form and the state. */
  function setQuick(which) {
    const today = new Date();
    const day = (offset) => {
      const d = new Date(today);
      d.setDate(d.getDate() + offset);
      return HL.isoDate(d);
    };
    let from = day(0);
    let to = day(0);
    let by = 'hour';
    if (which === 'yesterday') from = to = day(-1);
    if (which === 'week') {
      from = day(-6);
      by = 'day';
    }
    if (which === 'month') {
      from = HL.isoDate(new Date(today.getFullYear(), today.getMonth(), 1));
      by = 'day';
    }
    S.range = { from, to, by, queue: $('r-queue').value };
    $('r-from').value = from;
    $('r-to').value = to;
    $('r-by').value = by;
  }

  function say(key, params) {
    S.error = key ? [key, params] : null;
    $('range-error').textContent = key ? t(key, params) : '';
  }

  // -------------------------------------------------------------------------
  // Reading.
  // -------------------------------------------------------------------------

  function query(extra) {
    const q = new URLSearchParams({ from: S.range.from, to: S.range.to, by: S.range.by });
    if (S.range.queue) q.set('queue', S.range.queue);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q.toString();
  }

  function reportPath(name, extra) {
    return `/api/reports/${encodeURIComponent(name)}?${query(extra)}`;
  }

  /** An API error in plain words: each bad field's message, or the error. */
  function plain(e) {
    return e.fields && e.fields.length ? e.fields.map((f) => f.message).join('; ') : e.message;
  }

  /**
   * Every report for the range. The calls first (the others of the same
   * hours then read what it counted and kept), then the rest together;
   * late answers of an older range are dropped.
   */
  async function load() {
    if (!S.catalog) return;
    const seq = ++S.seq;
    S.loading = true;
    S.tables = {};
    say(null);
    renderAll();
    const fetchOne = (name) =>
      HL.api('GET', reportPath(name)).then(
        (body) => [name, body],
        (e) => [name, { error: plain(e), status: e.status }],
      );
    const names = S.catalog.reports.map((r) => r.name);
    const first = await fetchOne(names[0]);
    if (seq !== S.seq) return;
    S.tables[first[0]] = first[1];
    renderReport(first[0]);
    if (first[1].status === 400) {
      // The range itself is wrong (too long, say): every report would say so.
      S.loading = false;
      say('rp.range.failed', { msg: first[1].error });
      return;
    }
    await Promise.all(
      names.slice(1).map((name) =>
        fetchOne(name).then(([n, body]) => {
          if (seq !== S.seq) return;
          S.tables[n] = body;
          renderReport(n);
        }),
      ),
    );
    if (seq !== S.seq) return;
    S.loading = false;
    renderAll();
  }

  // -------------------------------------------------------------------------
  // Drawing.
  // -------------------------------------------------------------------------

  const lang = () => (HL.lang === 'zh' ? 'zh' : 'en');

  function renderQueues() {
    const select = $('r-queue');
    const keep = select.value;
    select.replaceChildren(el('option', { value: '' }, t('rp.queue.all')));
    for (const q of (S.catalog && S.catalog.queues) || []) select.append(el('option', { value: q }, q));
    select.value = keep;
  }

  function renderAll() {
    if (S.error) $('range-error').textContent = t(S.error[0], S.error[1]);
    renderQueues();
    const c = S.catalog;
    $('range-note').textContent = c
      ? t('rp.note', {
          tz: c.terms.time_zone,
          sl: c.terms.service_level_secs,
          target: c.terms.service_level_target,
          fcr: c.terms.fcr_days,
          sat: c.terms.satisfied_from,
          hours: c.max_hour_days,
          days: c.max_days,
        })
      : S.catalogError || '';
    const toc = $('toc');
    const box = $('reports');
    if (!c) {
      toc.replaceChildren();
      box.replaceChildren();
      return;
    }
    toc.replaceChildren(...c.reports.map((r) => el('a', { href: '#report-' + r.name }, r.title[lang()])));
    box.replaceChildren(...c.reports.map((r) => section(r)));
  }

  function renderReport(name) {
    const r = S.catalog && S.catalog.reports.find((x) => x.name === name);
    const old = $('report-' + name);
    if (r && old) old.replaceWith(section(r));
  }

  function section(r) {
    const table = S.tables[r.name];
    const body = [];
    if (!table) body.push(el('p', { class: 'muted small' }, t('rp.loading')));
    else if (table.error) body.push(el('p', { class: 'form-error' }, t('rp.range.failed', { msg: table.error })));
    else {
      const chart = chartFor(r.name, table);
      if (chart) body.push(chart);
      body.push(...figuresTable(r, table));
    }
    return el(
      'section',
      { class: 'card report' + (!table && S.loading ? ' loading' : ''), id: 'report-' + r.name, dataset: { report: r.name } },
      el(
        'div',
        { class: 'report-head' },
        el('h2', {}, r.title[lang()]),
        el('a', { class: 'csv', href: reportPath(r.name, { format: 'csv' }), download: '', title: t('rp.csv') }, 'CSV ⤓'),
      ),
      el('p', { class: 'lead' }, (table && !table.error ? table.definition : r.definition)[lang()]),
      body,
      el(
        'details',
        { class: 'defs' },
        el('summary', {}, t('rp.defs')),
        el('dl', {}, r.columns.flatMap((col) => [el('dt', {}, col.title[lang()]), el('dd', {}, col.definition[lang()])])),
      ),
    );
  }

  /** A cell's text: percent with one decimal, durations with their unit, — for none. */
  function fmt(unit, value) {
    if (value === null || value === undefined) return t('rp.none');
    switch (unit) {
      case 'percent':
        return `${value.toFixed(1)}%`;
      case 'seconds':
        return value < 600 ? `${value.toFixed(1)}${t('rp.unit.s')}` : HL.fmtDuration(value * 1000);
      case 'hours':
        return `${value.toFixed(2)}${t('rp.unit.h')}`;
      default:
        return String(value);
    }
  }

  function figuresTable(r, table) {
    const cols = table.columns;
    const target = table.terms.service_level_target;
    const head = el(
      'tr',
      {},
      cols.map((c) => el('th', { class: c.unit === 'text' ? '' : 'num', title: c.definition[lang()], dataset: { key: c.key } }, c.title[lang()])),
    );
    const line = (row, cls) =>
      el(
        'tr',
        { class: cls || '', dataset: row.bucket !== undefined ? { bucket: row.bucket } : {} },
        cols.map((c) => {
          let v = row[c.key];
          if (cls === 'total' && c.key === cols[0].key && c.unit === 'text') v = t('rp.total');
          const classes = [c.unit === 'text' ? '' : 'num'];
          if (v === null || v === undefined) classes.push('none');
          else if (c.key === 'service_level') classes.push(v >= target ? 'good' : 'bad');
          const shown = CODED.has(c.key) && v ? HL.label('rp.code', v) : fmt(c.unit, v);
          return el('td', { class: classes.join(' ').trim(), dataset: { key: c.key } }, shown);
        }),
      );
    const rows = table.rows.map((row) => line(row));
    if (table.total) rows.push(line(table.total, 'total'));
    const wrap = el('div', { class: 'table-wrap' }, el('table', { class: 'figures' }, el('thead', {}, head), el('tbody', {}, rows)));
    return table.rows.length ? [wrap] : [wrap, el('p', { class: 'empty-note' }, t('rp.empty'))];
  }

  // ----- SVG charts ---------------------------------------------------------

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  /** A short label for a period: the hour (HH) or the day (MM-DD). */
  function shortBucket(bucket) {
    return bucket.length > 10 ? bucket.slice(11, 13) : bucket.slice(5);
  }

  /** Every k-th label, so that at most ~24 show. */
  const labelEvery = (n) => Math.max(1, Math.ceil(n / 24));

  function chartFor(name, table) {
    if (!table.rows.length) return null;
    if (name === 'calls') return callsChart(table);
    if (name === 'service-level') return serviceLevelChart(table);
    if (name === 'outlets') return outletsChart(table);
    return null;
  }

  function chartBox(chart, title, legend) {
    return el('div', { class: 'chart-box', dataset: { chart } }, el('h3', {}, title), legend || null);
  }

  /** Bars per period: queued, and answered inside them. */
  function callsChart(table) {
    const W = 1000;
    const H = 190;
    const L = 40;
    const B = 20;
    const rows = table.rows;
    const top = Math.max(1, ...rows.map((r) => Math.max(r.offered, r.inbound)));
    const plotH = H - B - 10;
    const slot = (W - L) / rows.length;
    const y = (v) => 10 + plotH - (v / top) * plotH;
    const every = labelEvery(rows.length);
    const parts = [
      svg('line', { class: 'grid', x1: L, x2: W, y1: y(top), y2: y(top) }),
      svg('line', { class: 'grid', x1: L, x2: W, y1: y(top / 2), y2: y(top / 2) }),
      svg('text', { x: L - 6, y: y(top) + 4, 'text-anchor': 'end' }, String(top)),
      svg('text', { x: L - 6, y: y(0) + 4, 'text-anchor': 'end' }, '0'),
      svg('line', { class: 'axis', x1: L, x2: W, y1: y(0), y2: y(0) }),
    ];
    rows.forEach((r, i) => {
      const x = L + i * slot;
      const w = Math.max(1, slot * 0.8);
      parts.push(
        svg('rect', { class: 'bar offered', x: x + slot * 0.1, y: y(r.offered), width: w, height: y(0) - y(r.offered), 'data-value': r.offered, 'data-bucket': r.bucket },
          svg('title', {}, `${r.bucket}: ${t('rp.legend.offered')} ${r.offered}`)),
        svg('rect', { class: 'bar answered', x: x + slot * 0.25, y: y(r.answered), width: Math.max(1, slot * 0.5), height: y(0) - y(r.answered), 'data-value': r.answered, 'data-bucket': r.bucket },
          svg('title', {}, `${r.bucket}: ${t('rp.legend.answered')} ${r.answered}`)),
      );
      if (i % every === 0) parts.push(svg('text', { x: x + slot / 2, y: H - 5, 'text-anchor': 'middle' }, shortBucket(r.bucket)));
    });
    const hourly = rows[0].bucket.length > 10;
    const box = chartBox('calls', t(hourly ? 'rp.chart.calls.hour' : 'rp.chart.calls.day'),
      el('div', { class: 'legend' },
        el('span', { class: 'offered' }, el('i'), t('rp.legend.offered')),
        el('span', { class: 'answered' }, el('i'), t('rp.legend.answered'))));
    box.append(svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': box.firstChild.textContent }, parts));
    return box;
  }

  /** The service level per period as a line, the target as a dashed line. */
  function serviceLevelChart(table) {
    const W = 1000;
    const H = 190;
    const L = 40;
    const B = 20;
    const rows = table.rows;
    const target = table.terms.service_level_target;
    const plotH = H - B - 10;
    const slot = (W - L) / rows.length;
    const y = (v) => 10 + plotH - (v / 100) * plotH;
    const x = (i) => L + i * slot + slot / 2;
    const every = labelEvery(rows.length);
    const parts = [
      svg('line', { class: 'grid', x1: L, x2: W, y1: y(100), y2: y(100) }),
      svg('line', { class: 'grid', x1: L, x2: W, y1: y(50), y2: y(50) }),
      svg('text', { x: L - 6, y: y(100) + 4, 'text-anchor': 'end' }, '100%'),
      svg('text', { x: L - 6, y: y(50) + 4, 'text-anchor': 'end' }, '50%'),
      svg('text', { x: L - 6, y: y(0) + 4, 'text-anchor': 'end' }, '0'),
      svg('line', { class: 'axis', x1: L, x2: W, y1: y(0), y2: y(0) }),
      svg('line', { class: 'target', x1: L, x2: W, y1: y(target), y2: y(target), 'data-value': target }),
    ];
    // One polyline per run of periods with a figure (none: no gap bridged).
    let run = [];
    const flush = () => {
      if (run.length > 1) parts.push(svg('polyline', { class: 'line', points: run.join(' ') }));
      run = [];
    };
    rows.forEach((r, i) => {
      const v = r.service_level;
      if (v === null || v === undefined) {
        flush();
      } else {
        run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
        parts.push(svg('circle', { class: 'dot' + (v < target ? ' below' : ''), cx: x(i), cy: y(v), r: 3.5, 'data-value': v, 'data-bucket': r.bucket },
          svg('title', {}, `${r.bucket}: ${v.toFixed(1)}%`)));
      }
      if (i % every === 0) parts.push(svg('text', { x: x(i), y: H - 5, 'text-anchor': 'middle' }, shortBucket(r.bucket)));
    });
    flush();
    const hourly = rows[0].bucket.length > 10;
    const box = chartBox('service-level', t(hourly ? 'rp.chart.sl.hour' : 'rp.chart.sl.day'),
      el('div', { class: 'legend' }, el('span', { class: 'target' }, el('i'), t('rp.legend.target', { p: target }))));
    box.append(svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': box.firstChild.textContent }, parts));
    return box;
  }

  /** One horizontal bar per outlet, in rank order: its on-time rate. */
  function outletsChart(table) {
    const W = 1000;
    const rowH = 24;
    const L = 230;
    const R = 170;
    const rows = table.rows;
    const H = rows.length * rowH + 8;
    const x = (v) => L + (v / 100) * (W - L - R);
    const parts = [svg('line', { class: 'axis', x1: L, x2: L, y1: 0, y2: H })];
    rows.forEach((r, i) => {
      const y0 = 4 + i * rowH;
      const v = r.on_time_rate;
      const cls = v === null ? 'none' : v < 80 ? 'low' : '';
      parts.push(
        svg('text', { x: L - 8, y: y0 + 15, 'text-anchor': 'end' }, `${r.rank}. ${r.outlet} ${r.outlet_name}`),
        svg('rect', { class: `bar rank ${cls}`.trim(), x: L, y: y0 + 3, width: v === null ? 0 : Math.max(1, x(v) - L), height: rowH - 8, 'data-value': v === null ? '' : v, 'data-outlet': r.outlet },
          svg('title', {}, `${r.outlet}: ${fmt('percent', v)}`)),
        svg('text', { class: 'value', x: (v === null ? L : x(v)) + 6, y: y0 + 15 },
          `${fmt('percent', v)} · ${fmt('hours', r.avg_completion_hours)}`),
      );
    });
    const box = chartBox('outlets', t('rp.chart.outlets'));
    box.append(svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': box.firstChild.textContent }, parts));
    return box;
  }

  // The test hook.
  window.reports = {
    state: () => ({
      user: S.user && { username: S.user.username, role: S.user.role },
      catalog: !!S.catalog,
      range: S.range,
      loading: S.loading,
      lang: HL.lang,
      loaded: Object.keys(S.tables),
      errors: Object.fromEntries(Object.entries(S.tables).filter(([, v]) => v.error).map(([k, v]) => [k, v.error])),
      totals: Object.fromEntries(Object.entries(S.tables).filter(([, v]) => !v.error).map(([k, v]) => [k, v.total])),
    }),
  };
})();
