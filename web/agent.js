// The agent's softphone page (/agent): sign-in, the CTI websocket
// (docs/cti-protocol.md), the browser phone (WebRTC to hotline), the screen
// pop, tickets, wrap-up, the knowledge base and the agent's recent calls.
//
// How it is built: one state object `S` holds what the server told us; every
// event updates it and calls render(), which redraws from S. A 250 ms tick
// redraws only the clocks. The browser phone (`M`, the RTCPeerConnection)
// follows the call: created on `offered` (or on a `hello` that carries a
// call), closed when the call is over, re-created when the audio is lost.
'use strict';

(function () {
  const $ = HL.$;
  const t = HL.t;

  /** States in which a call rings at or is connected to the agent. */
  const CALL_STATES = ['ringing', 'on_call', 'on_hold', 'consulted'];
  /** Disposition codes offered at wrap-up (the server keeps no list). */
  const DISPOSITIONS = ['resolved', 'ticket_opened', 'callback_needed', 'transferred', 'no_fault', 'wrong_number', 'other'];
  const TICKET_KINDS = ['repair', 'installation', 'consultation', 'complaint'];
  /** Suggestions for the ticket category, per kind (free text is fine too). */
  const CATEGORY_HINTS = {
    repair: ['不加热', '不制冷', '漏水', '无图像有声音', '不开机', '异响', '点火失败', '电池不充电', '显示故障码'],
    installation: ['上门安装', '挂架安装', '移机', '拆机'],
    consultation: ['使用咨询', '延保咨询', '配件购买', '价格咨询'],
    complaint: ['服务态度', '维修质量', '上门超时', '收费争议', '配件'],
  };
  const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
  const MAX_EVENTS = 10000;
  /** Past calls the pop lists (the pop carries up to 20; more is noise during a call). */
  const POP_CALLS_SHOWN = 5;

  // -------------------------------------------------------------------------
  // What we know.
  // -------------------------------------------------------------------------

  const S = {
    user: null, // GET /api/me
    agent: null, // hello.agent
    queues: [], // every configured queue (hello.queues), for transfers
    reasons: [], // hello.not_ready_reasons
    iceServers: [],
    reattachSecs: 60,
    state: { name: null }, // the agent's state as the server last said
    helloSeen: false,
    call: null, // the call ringing, connected, or being wrapped up (a CallView)
    pop: null, // its screen pop
    callId: null, // the id of that call
    answeredAt: null, // when the agent got the caller (epoch ms)
    endedAt: null,
    endedCause: null,
    consult: null, // {agent, stage, why} of our consultation
    consultedAnswered: false, // consulted: our phone answered the colleague
    softphone: false, // the server rings this page (the `softphone` command was accepted)
    softphoneRefused: false, // the server has no browser audio (hello.softphone null, or the command refused)
    mic: null, // the microphone stream, kept from sign-in on
    micError: null, // {key, params} of the sentence, when the microphone cannot be used
    muted: false,
    conn: { state: 'stopped' }, // the websocket, as HL.Socket reports it
    fatal: null, // {key, params}: a banner that stops the desk (replaced, protocol)
    agents: null, // GET /api/agents, for transfers
    transferOpen: false,
    ticketOpened: null, // the number of a ticket opened on this call
    keysSent: '',
    recPaused: false, // the call's recording is paused (the `recording` event)
    recBy: '', // who paused it
  };

  /** The browser phone. */
  const M = {
    pc: null,
    callId: null,
    state: 'none', // none | connecting | connected | lost | failed
    offers: [], // media_offers sent and not yet answered, oldest first: {pc, callId}
    offerSent: false,
    candidates: [], // trickled before the media_offer went out
    retryTimer: null,
    retries: 0,
    lostSince: null,
  };

  let socket = null;
  const ring = new HL.RingTone();
  const meters = {};
  const remoteAudio = () => $('remote-audio');

  // -------------------------------------------------------------------------
  // Start: signed in already? Otherwise the sign-in form.
  // -------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', boot);

  async function boot() {
    HL.applyI18n();
    buildStaticParts();
    wireControls();
    HL.langListeners.push(() => {
      fillReasonSelect();
      fillDispositionSelect();
      fillTicketKindSelect();
      fillProductSelect();
      fillTicketPick();
      render();
      renderRecent();
      renderPreview();
      renderKbResults();
    });
    HL.onUnauthorized = () => sessionEnded();
    HL.setupLogin((user) => enterDesk(user));
    setInterval(tick, 250);
    let user = null;
    try {
      user = await HL.currentUser();
    } catch (e) {
      // The server is unreachable: the sign-in form says so when used.
    }
    $('boot').hidden = true;
    if (user) enterDesk(user);
    else showView('login-view');
  }

  function showView(id) {
    ['login-view', 'denied-view', 'desk-view'].forEach((v) => HL.show(v, v === id));
    if (id === 'login-view') setTimeout(() => $('login-user').focus(), 0);
  }

  /** Signed in: agents get the desk, other roles a plain message. */
  function enterDesk(user) {
    S.user = user;
    if (user.role !== 'agent' && user.role !== 'supervisor') {
      $('denied-text').textContent = t('login.not_agent', { user: user.display_name || user.username, role: user.role });
      showView('denied-view');
      return;
    }
    $('agent-name').textContent = user.display_name || user.username;
    showView('desk-view');
    resetDeskState();
    render();
    // The microphone and the websocket start together; `softphone` is sent
    // once both are there (see sendSoftphone).
    acquireMic();
    socket = new HL.Socket({
      url: HL.wsUrl('/api/agent/ws'),
      onEvent,
      onStatus: (status) => {
        S.conn = status;
        if (status.state !== 'open') S.helloSeen = false;
        render();
      },
      // Before each reconnect: a 401 means the session is over (sign in
      // again), not a network problem worth retrying.
      beforeReconnect: async () => {
        const me = await HL.currentUser();
        if (!me) {
          sessionEnded();
          return false;
        }
        return true;
      },
    });
    socket.start();
    loadRecent();
    loadPreviews();
  }

  function resetDeskState() {
    Object.assign(S, {
      agent: null,
      state: { name: null },
      helloSeen: false,
      fatal: null,
      softphone: false,
      softphoneRefused: false,
      agents: null,
      micError: null,
    });
    clearCall();
  }

  /** Leaves the desk: no reconnect, no audio, no microphone. */
  function leaveDesk() {
    if (socket) socket.stop();
    socket = null;
    ring.stop();
    closeMedia();
    if (S.mic) S.mic.getTracks().forEach((tr) => tr.stop());
    S.mic = null;
    meters.mic.detach();
  }

  function sessionEnded() {
    if (!S.user) return;
    S.user = null;
    leaveDesk();
    showView('login-view');
    $('login-error').textContent = t('err.session');
  }

  async function signOut() {
    if (CALL_STATES.includes(S.state.name) && !window.confirm(t('signout.on_call'))) return;
    // Leave the queues first, so the server does not keep us as a closed
    // screen in them.
    if (socket && ['ready', 'not_ready', 'wrap_up'].includes(S.state.name)) {
      await cmd('logout', {}, { quiet: true });
    }
    S.user = null;
    leaveDesk();
    await HL.signOut();
    $('login-error').textContent = '';
    showView('login-view');
  }

  // -------------------------------------------------------------------------
  // Microphone.
  // -------------------------------------------------------------------------

  async function acquireMic() {
    if (S.mic) return;
    try {
      const stream = await HL.getMic();
      if (!S.user) {
        stream.getTracks().forEach((tr) => tr.stop());
        return;
      }
      S.mic = stream;
      S.micError = null;
      stream.getAudioTracks().forEach((track) => {
        track.enabled = !S.muted;
        // A headset pulled out mid-shift: say so.
        track.addEventListener('ended', () => {
          S.micError = { key: 'mic.missing' };
          render();
        });
      });
      meters.mic.attach(stream);
      if (S.helloSeen && !S.softphone) sendSoftphone();
    } catch (e) {
      S.micError = e instanceof HL.MicError ? { key: e.key, params: e.params } : { key: 'mic.other', params: { name: e.name || 'Error' } };
    }
    render();
  }

  /** Tells the server this page is the agent's phone (after each hello). */
  async function sendSoftphone() {
    if (!S.mic || S.softphoneRefused) return;
    const res = await cmd('softphone', {}, { quiet: true });
    if (res.ok) {
      S.softphone = true;
      // A call may have come meanwhile, or hello carried one.
      if (S.callId && CALL_STATES.includes(S.state.name) && !M.pc) attachMedia(S.callId);
    } else if (res.code === 'no_softphone' || res.code === 'bad_command') {
      // A server without the browser phone (`bad_command`: one that does
      // not know the command): this page is a screen for a SIP desk phone.
      S.softphoneRefused = true;
    } else if (res.code !== 'not_connected') {
      HL.toast(t('err.cmd', { msg: res.message }));
    }
    render();
  }

  // -------------------------------------------------------------------------
  // Commands: never reject; errors become a toast with the server's message.
  // -------------------------------------------------------------------------

  /** Sends a command; resolves {ok: true} or {ok: false, code, message}. */
  async function cmd(type, fields, opts) {
    opts = opts || {};
    if (!socket) return { ok: false, code: 'not_connected', message: t('err.not_connected') };
    try {
      await socket.command(type, fields);
      return { ok: true };
    } catch (e) {
      if (!opts.quiet) HL.toast(t('err.cmd', { msg: e.message }));
      return { ok: false, code: e.code, message: e.message };
    }
  }

  /** Runs a command from a button, which stays disabled until the answer. */
  async function buttonCmd(button, type, fields) {
    if (button) button.disabled = true;
    try {
      return await cmd(type, fields);
    } finally {
      if (button) button.disabled = false;
      render();
    }
  }

  // -------------------------------------------------------------------------
  // Events (docs/cti-protocol.md). Unknown types are ignored.
  // -------------------------------------------------------------------------

  const HANDLERS = {
    hello: onHello,
    state: onState,
    offered: onOffered,
    offer_cancelled: onOfferCancelled,
    answered: onAnswered,
    held: () => {},
    resumed: () => {},
    recording: onRecording,
    ended: onEnded,
    consult: onConsult,
    ok: () => {},
    error: onError,
    media_answer: onMediaAnswer,
    media: onMediaEvent,
  };

  function onEvent(ev) {
    const diag = window.hotline;
    diag.lastEvent = ev;
    diag.events.push(ev);
    if (diag.events.length > MAX_EVENTS) diag.events.splice(0, diag.events.length - MAX_EVENTS);
    const handler = HANDLERS[ev.type];
    if (!handler) return;
    try {
      handler(ev);
    } catch (e) {
      // One bad event must not stop the desk; the next render shows the truth.
      console.warn('hotline: event', ev.type, 'not handled:', e);
    }
    render();
  }

  function onHello(ev) {
    if (ev.protocol !== 1) {
      S.fatal = { key: 'banner.protocol', params: { v: ev.protocol } };
      socket.stop();
      return;
    }
    socket.resetBackoff();
    S.helloSeen = true;
    S.fatal = null;
    S.agent = ev.agent;
    S.reasons = ev.not_ready_reasons || [];
    S.queues = (ev.queues && ev.queues.length ? ev.queues : ev.agent && ev.agent.queues) || [];
    // `softphone: null`: this server has no browser audio (a SIP desk
    // phone only). A server older than the field leaves it out: try.
    S.softphoneRefused = ev.softphone === null;
    const phone = ev.softphone || {};
    S.iceServers = Array.isArray(phone.ice_servers) ? phone.ice_servers : [];
    S.reattachSecs = phone.reattach_secs || 60;
    if (ev.agent && ev.agent.display_name) $('agent-name').textContent = ev.agent.display_name;
    fillReasonSelect();
    fillTransferQueues();

    const state = ev.state || { name: 'logged_out' };
    const callId = (ev.call && ev.call.id) || state.call || null;
    if (ev.call && CALL_STATES.includes(state.name)) {
      // A reload or reconnect during a call: pick it up.
      if (callId !== S.callId) startCall(ev.call, ev.pop);
      else {
        S.call = ev.call;
        if (ev.pop) S.pop = ev.pop;
      }
      if (state.name === 'on_call' || state.name === 'on_hold') loadAnsweredAt(callId);
    } else if (state.name === 'wrap_up' && state.call) {
      if (state.call !== S.callId) {
        clearCall();
        S.callId = state.call;
        prepareWrapUp();
        recoverWrapUpCall(state.call);
      }
    } else {
      clearCall();
    }
    S.state = state;
    if (state.name === 'ringing' || (state.name === 'consulted' && !S.consultedAnswered)) ring.start();
    else ring.stop();

    // A fresh connection is a fresh phone: the old RTCPeerConnection is
    // re-made for the call once the server takes us as the phone again.
    S.softphone = false;
    closeMedia();
    sendSoftphone();
    if (S.agents) loadAgents();
  }

  function onState(ev) {
    const prev = S.state.name;
    const next = ev.state || { name: 'logged_out' };
    S.state = next;
    const name = next.name;

    if (name === 'ringing') {
      if (next.call && next.call !== S.callId) startCall({ id: next.call }, null);
      ring.start();
    } else if (name === 'consulted') {
      if (!S.consultedAnswered) ring.start();
    } else {
      ring.stop();
    }

    if (name === 'on_call' && (prev === 'ringing' || prev === 'consulted')) S.answeredAt = next.since_ms;
    if (name === 'on_call' && prev === 'consulted') S.consultedAnswered = false;
    // Back with the caller after a consultation that ended: its note goes.
    if (name === 'on_call' && S.consult && S.consult.stage === 'ended') S.consult = null;
    if (name === 'wrap_up' && prev !== 'wrap_up') {
      if (next.call && next.call !== S.callId) {
        clearCall();
        S.callId = next.call;
      }
      S.endedAt = S.endedAt || next.since_ms;
      prepareWrapUp();
    }
    if (!CALL_STATES.includes(name)) closeMedia();
    // The call is over for this desk (offer gone, wrap-up done,
    // consultation over): forget it and show the idle panel.
    if (!CALL_STATES.includes(name) && name !== 'wrap_up' && (CALL_STATES.includes(prev) || prev === 'wrap_up')) {
      clearCall();
    }
    if (prev === 'wrap_up' && name !== 'wrap_up') {
      // The wrap-up is recorded by a background writer: ask now and again.
      loadRecent();
      setTimeout(loadRecent, 1500);
      loadPreviewContact();
    }
  }

  function onOffered(ev) {
    if (!ev.call) return;
    if (ev.call.id !== S.callId) startCall(ev.call, ev.pop);
    else {
      S.call = ev.call;
      S.pop = ev.pop;
      afterPop();
    }
    ring.start();
    if (S.softphone && !M.pc) attachMedia(ev.call.id);
  }

  function onOfferCancelled(ev) {
    if (ev.call !== S.callId) return;
    ring.stop();
    closeMedia();
    HL.toast(ev.why, 'info');
  }

  /** The call's recording was paused or resumed (by us or a supervisor). */
  function onRecording(ev) {
    if (ev.call !== S.callId) return;
    S.recPaused = !!ev.paused;
    S.recBy = ev.by || '';
    render();
  }

  function onAnswered(ev) {
    if (ev.call !== S.callId) return;
    ring.stop();
    if (S.state.name === 'consulted') S.consultedAnswered = true;
    else S.answeredAt = S.answeredAt || Date.now();
  }

  function onEnded(ev) {
    if (ev.call !== S.callId) return;
    ring.stop();
    closeMedia();
    S.endedCause = ev.cause;
    S.endedAt = Date.now();
    S.transferOpen = false;
    S.consult = null;
    S.consultedAnswered = false;
  }

  function onConsult(ev) {
    if (ev.call !== S.callId) return;
    S.consult = { agent: ev.agent, stage: ev.stage, why: ev.why || '' };
    if (ev.stage !== 'ended') S.transferOpen = false;
  }

  function onError(ev) {
    if (ev.id) {
      // The answer to one of our commands: its promise shows it. An id we
      // do not know (a command sent before a reload) is shown here.
      if (!/^c\d+$/.test(ev.id)) HL.toast(t('err.cmd', { msg: ev.message }));
      return;
    }
    if (ev.code === 'replaced') {
      // Another window took the desk: stop here, or the two windows would
      // take it from each other for ever.
      S.fatal = { key: 'banner.replaced' };
      socket.stop();
      ring.stop();
      closeMedia();
      return;
    }
    if (ev.code === 'session_ended') {
      sessionEnded();
      return;
    }
    HL.toast(ev.message || ev.code);
  }

  // -------------------------------------------------------------------------
  // The call the desk is about.
  // -------------------------------------------------------------------------

  function startCall(call, pop) {
    clearCall();
    S.call = call && call.caller !== undefined ? call : null;
    S.callId = call.id;
    S.pop = pop || null;
    afterPop();
  }

  function clearCall() {
    Object.assign(S, {
      call: null,
      pop: null,
      callId: null,
      answeredAt: null,
      endedAt: null,
      endedCause: null,
      consult: null,
      consultedAnswered: false,
      transferOpen: false,
      ticketOpened: null,
      keysSent: '',
      recPaused: false,
      recBy: '',
    });
    setMuted(false);
    resetTicketPanel();
  }

  /** What follows a new screen pop: ticket details, and a second try when it could not be read. */
  function afterPop() {
    resetTicketPanel();
    if (!S.pop && S.call && S.call.caller) {
      const callId = S.callId;
      HL.api('GET', '/api/screen-pop?caller=' + encodeURIComponent(S.call.caller))
        .then((pop) => {
          if (S.callId !== callId || S.pop) return;
          S.pop = pop;
          resetTicketPanel();
          render();
        })
        .catch(() => {});
    }
  }

  /** After a reload in on_call: when the agent got the caller, from the call record. */
  function loadAnsweredAt(callId) {
    if (S.answeredAt) return;
    S.answeredAt = S.state.since_ms || Date.now();
    HL.api('GET', '/api/calls/' + encodeURIComponent(callId))
      .then((rec) => {
        const c = rec; // CallDetail: the call record's fields at the top level
        if (S.callId === callId && c && c.agent_answered_at) {
          S.answeredAt = c.agent_answered_at;
          render();
        }
      })
      .catch(() => {});
  }

  /** After a reload in wrap-up, hello has no call: read it back to show its caller. */
  function recoverWrapUpCall(callId) {
    HL.api('GET', '/api/calls/' + encodeURIComponent(callId))
      .then((rec) => {
        const c = rec; // CallDetail: the call record's fields at the top level
        if (!c || S.callId !== callId) return null;
        S.call = {
          id: callId,
          caller: c.from_number,
          service_number: c.service_number,
          queue: c.queue || '',
          arrived_ms: c.arrived_at,
          queued_ms: c.queued_at || c.arrived_at,
          digits: c.digits || '',
          ivr_path: [],
          language: '',
        };
        S.answeredAt = c.agent_answered_at || null;
        S.endedAt = c.ended_at || null;
        S.endedCause = c.hangup_cause || null;
        render();
        return HL.api('GET', '/api/screen-pop?caller=' + encodeURIComponent(c.from_number));
      })
      .then((pop) => {
        if (pop && S.callId === callId) {
          S.pop = pop;
          resetTicketPanel();
          render();
        }
      })
      .catch(() => {});
  }

  // -------------------------------------------------------------------------
  // The browser phone: one RTCPeerConnection per call (re-made on loss).
  // -------------------------------------------------------------------------

  function setMediaState(state) {
    M.state = state;
    renderMedia();
  }

  /** Creates the connection for `callId` and sends its offer at once (trickle ICE). */
  async function attachMedia(callId) {
    closePc();
    clearTimeout(M.retryTimer);
    M.retryTimer = null;
    if (!S.softphone || !S.mic || !callId || callId !== S.callId) return;
    let pc;
    try {
      pc = new RTCPeerConnection({ iceServers: S.iceServers });
    } catch (e) {
      // A malformed ice_servers entry: try without rather than stay mute.
      pc = new RTCPeerConnection();
    }
    M.pc = pc;
    M.callId = callId;
    M.offerSent = false;
    M.candidates = [];
    setMediaState('connecting');
    S.mic.getAudioTracks().forEach((track) => pc.addTrack(track, S.mic));

    pc.ontrack = (ev) => {
      if (M.pc !== pc) return;
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      const audio = remoteAudio();
      audio.srcObject = stream;
      audio.play().catch(() => {});
      meters.remote.attach(stream);
    };
    pc.onicecandidate = (ev) => {
      if (M.pc !== pc || !ev.candidate || !ev.candidate.candidate) return;
      // hotline's ICE runs over UDP; TCP candidates only cost commands.
      if (/ tcp /i.test(ev.candidate.candidate)) return;
      if (M.offerSent) sendCandidate(callId, ev.candidate.candidate);
      else M.candidates.push(ev.candidate.candidate);
    };
    pc.onconnectionstatechange = () => {
      if (M.pc !== pc) return;
      if (pc.connectionState === 'connected') {
        if (M.state !== 'connected') setMediaState('connected');
        M.retries = 0;
        M.lostSince = null;
      } else if (pc.connectionState === 'failed') {
        mediaLost(callId, 'lost');
      }
    };

    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
    } catch (e) {
      if (M.pc === pc) {
        setMediaState('failed');
        HL.toast(t('media.bad', { msg: e.message }));
      }
      return;
    }
    if (M.pc !== pc) return; // superseded meanwhile
    const entry = { pc, callId };
    M.offers.push(entry);
    M.offerSent = true;
    const answer = cmd('media_offer', { call: callId, sdp: pc.localDescription.sdp }, { quiet: true });
    M.candidates.splice(0).forEach((c) => sendCandidate(callId, c));
    const res = await answer;
    M.offers = M.offers.filter((o) => o !== entry);
    if (res.ok || M.pc !== pc) return;
    if (res.code === 'bad_media') {
      setMediaState('failed');
      HL.toast(t('media.bad', { msg: res.message }));
    } else if (res.code === 'not_connected') {
      // The websocket dropped: the hello after the reconnect re-attaches.
    } else if (['wrong_state', 'no_such_call', 'not_your_call'].includes(res.code)) {
      // The call is over or no longer ours: its events say the rest.
      closePc();
      setMediaState('none');
    } else {
      mediaLost(callId, 'failed');
    }
  }

  function sendCandidate(callId, candidate) {
    // A lost candidate only costs one path; errors are not worth a toast.
    cmd('ice_candidate', { call: callId, candidate }, { quiet: true });
  }

  function onMediaAnswer(ev) {
    // Answers come in the order of the offers; the oldest unanswered is
    // this one. An answer for a connection already replaced is dropped.
    const entry = M.offers.shift();
    if (!entry || entry.pc !== M.pc || ev.call !== M.callId) return;
    const pc = entry.pc;
    if (pc.signalingState !== 'have-local-offer') return;
    pc.setRemoteDescription({ type: 'answer', sdp: ev.sdp }).catch((e) => {
      if (M.pc !== pc) return;
      setMediaState('failed');
      HL.toast(t('media.bad', { msg: e.message }));
    });
  }

  function onMediaEvent(ev) {
    // A late word about a call already over changes nothing.
    if (ev.call !== S.callId || !CALL_STATES.includes(S.state.name)) return;
    if (ev.state === 'connected') {
      setMediaState('connected');
      M.retries = 0;
      M.lostSince = null;
    } else if (ev.state === 'lost' || ev.state === 'failed') {
      if (ev.why) HL.toast(ev.why, 'info');
      mediaLost(ev.call, ev.state);
    }
  }

  /** The audio of a call that goes on is gone: re-attach, with backoff. */
  function mediaLost(callId, state) {
    setMediaState(state);
    if (callId !== S.callId || !CALL_STATES.includes(S.state.name) || !S.softphone) return;
    if (M.retryTimer) return;
    const now = Date.now();
    M.lostSince = M.lostSince || now;
    // The server gives up after reattach_secs; so do we.
    if (now - M.lostSince > S.reattachSecs * 1000) {
      setMediaState('failed');
      return;
    }
    const delay = Math.min(5000, 500 * 2 ** M.retries);
    M.retries++;
    M.retryTimer = setTimeout(() => {
      M.retryTimer = null;
      if (callId === S.callId && CALL_STATES.includes(S.state.name)) attachMedia(callId);
    }, delay);
  }

  function closePc() {
    if (!M.pc) return;
    const pc = M.pc;
    M.pc = null;
    M.callId = null;
    pc.ontrack = pc.onicecandidate = pc.onconnectionstatechange = null;
    pc.close();
    const audio = remoteAudio();
    if (audio) audio.srcObject = null;
    meters.remote.detach();
  }

  /** The call is over: no connection, no retries. */
  function closeMedia() {
    clearTimeout(M.retryTimer);
    M.retryTimer = null;
    M.retries = 0;
    M.lostSince = null;
    closePc();
    if (M.state !== 'none') setMediaState('none');
  }

  function setMuted(muted) {
    S.muted = muted;
    if (S.mic) S.mic.getAudioTracks().forEach((track) => (track.enabled = !muted));
  }

  /** A key to the caller: RFC 4733 from the browser, or the `dtmf` command (desk phone). */
  function sendKey(key) {
    if (!S.callId || S.state.name !== 'on_call') return;
    S.keysSent = (S.keysSent + key).slice(-24);
    const sender = M.pc && M.pc.getSenders()[0];
    const dtmf = sender && sender.dtmf;
    if (dtmf && dtmf.canInsertDTMF) {
      // Append to what is still queued, so quick presses all go out.
      dtmf.insertDTMF(dtmf.toneBuffer + key, 100, 70);
    } else {
      cmd('dtmf', { call: S.callId, digits: key });
    }
    render();
  }

  // -------------------------------------------------------------------------
  // Controls.
  // -------------------------------------------------------------------------

  function buildStaticParts() {
    const pad = $('keypad');
    KEYS.forEach((key) =>
      pad.append(HL.el('button', { type: 'button', class: 'key', dataset: { key }, 'aria-label': key }, key)),
    );
    meters.mic = new HL.Meter($('meter-mic'));
    meters.remote = new HL.Meter($('meter-remote'));
    fillDispositionSelect();
    fillTicketKindSelect();
  }

  function wireControls() {
    const on = (id, type, fn) => $(id).addEventListener(type, fn);
    document.querySelectorAll('.lang-switch, #lang-toggle').forEach((b) => b.addEventListener('click', HL.toggleLang));
    on('btn-signout', 'click', signOut);
    on('btn-denied-signout', 'click', async () => {
      await HL.signOut();
      S.user = null;
      showView('login-view');
    });

    on('btn-ready', 'click', (e) => buttonCmd(e.currentTarget, 'ready'));
    on('btn-not-ready', 'click', (e) => buttonCmd(e.currentTarget, 'not_ready', { reason: $('select-reason').value }));
    on('btn-logout-queues', 'click', (e) => buttonCmd(e.currentTarget, 'logout'));
    on('btn-reconnect-now', 'click', () => socket && socket.reconnectNow());
    on('btn-take-over', 'click', () => {
      // The agent chose this window: take the desk back (the other one gets `replaced`).
      S.fatal = null;
      if (socket) socket.start();
    });
    on('btn-mic-retry', 'click', acquireMic);

    on('btn-answer', 'click', answer);
    on('btn-reject', 'click', (e) => S.callId && buttonCmd(e.currentTarget, 'reject', { call: S.callId }));
    on('btn-consulted-answer', 'click', answer);
    on('btn-mute', 'click', toggleMute);
    on('btn-consulted-mute', 'click', toggleMute);
    on('btn-hold', 'click', (e) => {
      const type = S.state.name === 'on_hold' ? 'resume' : 'hold';
      buttonCmd(e.currentTarget, type, { call: S.callId });
    });
    on('btn-rec', 'click', (e) => {
      const type = S.recPaused ? 'resume_recording' : 'pause_recording';
      buttonCmd(e.currentTarget, type, { call: S.callId });
    });
    on('btn-hangup', 'click', hangUp);
    on('keypad', 'click', (e) => {
      const key = e.target.closest('[data-key]');
      if (key) sendKey(key.dataset.key);
    });

    on('btn-transfer-open', 'click', () => {
      S.transferOpen = !S.transferOpen;
      if (S.transferOpen) loadAgents();
      render();
    });
    on('btn-transfer-close', 'click', () => {
      S.transferOpen = false;
      render();
    });
    on('btn-agents-refresh', 'click', loadAgents);
    on('btn-transfer-queue', 'click', (e) => transfer(e.currentTarget, { queue: $('transfer-queue').value }));
    on('btn-transfer-number', 'click', (e) => {
      const number = $('transfer-number').value.trim();
      if (!number) return HL.toast(t('transfer.need_number'));
      transfer(e.currentTarget, { number });
    });
    on('transfer-agents', 'click', (e) => {
      const b = e.target.closest('button[data-agent]');
      if (!b) return;
      const agent = Number(b.dataset.agent);
      if (b.dataset.action === 'consult') buttonCmd(b, 'consult', { call: S.callId, agent });
      else transfer(b, { agent });
    });
    on('btn-complete-transfer', 'click', (e) => buttonCmd(e.currentTarget, 'complete_transfer', { call: S.callId }));
    on('btn-cancel-transfer', 'click', (e) => buttonCmd(e.currentTarget, 'cancel_transfer', { call: S.callId }));

    on('btn-wrapup-done', 'click', endWrapUp);
    on('btn-wrapup-extend', 'click', (e) => buttonCmd(e.currentTarget, 'extend_wrap_up', { seconds: 60 }));
    on('wrapup-disposition', 'change', () => ($('wrapup-error').textContent = ''));

    on('btn-recent-refresh', 'click', loadRecent);
    on('btn-preview-refresh', 'click', loadPreviewContact);
    on('btn-preview-call', 'click', callPreviewContact);
    on('preview-campaign', 'change', loadPreviewContact);
    wireTicketPanel();
    wireKb();
    document.addEventListener('keydown', onShortcut);
  }

  function answer() {
    if (!S.callId) return;
    if (!S.softphone) return HL.toast(t('answer.desk'), 'info');
    HL.audio(); // a click is the moment browsers allow sound
    buttonCmd($(S.state.name === 'consulted' ? 'btn-consulted-answer' : 'btn-answer'), 'answer', { call: S.callId });
  }

  function hangUp() {
    if (!S.callId || !['on_call', 'on_hold'].includes(S.state.name)) return;
    buttonCmd($('btn-hangup'), 'hang_up', { call: S.callId });
  }

  function toggleMute() {
    if (!S.softphone) return HL.toast(t('mute.desk'), 'info');
    setMuted(!S.muted);
    render();
  }

  function transfer(button, target) {
    buttonCmd(button, 'transfer', Object.assign({ call: S.callId }, target));
  }

  async function endWrapUp() {
    const disposition = $('wrapup-disposition').value;
    if (!disposition) {
      $('wrapup-error').textContent = t('wrap.need_disposition');
      $('wrapup-disposition').focus();
      return;
    }
    $('wrapup-error').textContent = '';
    const res = await buttonCmd($('btn-wrapup-done'), 'end_wrap_up', { disposition, notes: $('wrapup-notes').value.trim() });
    if (res.ok) $('wrapup-notes').value = '';
  }

  /** Alt+A answer, Alt+H hang up, Alt+R ready. Only with Alt, so typing never triggers them. */
  function onShortcut(e) {
    if (!e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if ($('desk-view').hidden) return;
    // e.code, not e.key: Alt changes the character on some keyboards (macOS).
    const actions = {
      KeyA: () => (S.state.name === 'ringing' || (S.state.name === 'consulted' && !S.consultedAnswered)) && answer(),
      KeyH: () => hangUp(),
      KeyR: () => ['not_ready', 'logged_out'].includes(S.state.name) && buttonCmd($('btn-ready'), 'ready'),
    };
    const action = actions[e.code];
    if (!action) return;
    e.preventDefault();
    action();
  }

  // -------------------------------------------------------------------------
  // Agents (for transfers) and my recent calls.
  // -------------------------------------------------------------------------

  async function loadAgents() {
    try {
      const res = await HL.api('GET', '/api/agents');
      S.agents = res.agents || [];
    } catch (e) {
      S.agents = S.agents || [];
      HL.toast(e.message);
    }
    render();
  }

  function agentName(id) {
    const a = (S.agents || []).find((x) => x.id === id);
    return a ? a.display_name || a.username : '#' + id;
  }

  let recentCalls = null;

  async function loadRecent() {
    if (!S.user) return;
    try {
      const res = await HL.api('GET', '/api/calls?agent=me&limit=20');
      recentCalls = res.calls || [];
    } catch (e) {
      if (e.status !== 401) recentCalls = recentCalls || [];
    }
    renderRecent();
  }

  function renderRecent() {
    const list = $('recent-calls');
    list.replaceChildren();
    if (!recentCalls) return;
    if (!recentCalls.length) {
      list.append(HL.el('li', { class: 'empty muted' }, t('recent.none')));
      return;
    }
    recentCalls.forEach((c) => {
      const talk = c.talk_ms !== null && c.talk_ms !== undefined ? t('recent.talk', { d: HL.fmtDuration(c.talk_ms) }) : '';
      list.append(
        HL.el(
          'li',
          { title: c.notes || '' },
          HL.el('div', { class: 'recent-top' },
            HL.el('span', { class: 'mono' }, c.from_number),
            HL.el('span', { class: 'muted small' }, HL.fmtTime(c.agent_answered_at || c.arrived_at))),
          HL.el('div', { class: 'recent-bottom small' },
            c.queue ? HL.el('span', { class: 'chip' }, HL.label('queue', c.queue)) : null,
            HL.el('span', { class: 'muted' }, talk),
            c.disposition ? HL.el('span', { class: 'chip disp' }, HL.label('disp', c.disposition)) : null),
        ),
      );
    });
  }

  // -------------------------------------------------------------------------
  // Calls to make: preview campaigns. The agent reads the next contact, its
  // customer and ticket, then calls; the phone rings when they answer.
  // -------------------------------------------------------------------------

  const preview = { campaigns: [], contact: null, busy: false };

  async function loadPreviews() {
    try {
      const res = await HL.api('GET', '/api/preview-campaigns');
      preview.campaigns = res.campaigns || [];
    } catch (e) {
      preview.campaigns = [];
    }
    const select = $('preview-campaign');
    select.replaceChildren(...preview.campaigns.map((c) => HL.el('option', { value: c.name }, c.name)));
    select.hidden = preview.campaigns.length < 2;
    $('preview-card').hidden = preview.campaigns.length === 0;
    if (preview.campaigns.length) loadPreviewContact();
  }

  async function loadPreviewContact() {
    const name = $('preview-campaign').value;
    if (!name) return;
    try {
      preview.contact = await HL.api('GET', '/api/campaigns/' + encodeURIComponent(name) + '/next');
    } catch (e) {
      preview.contact = null;
      HL.toast(e.message);
    }
    renderPreview();
  }

  function renderPreview() {
    const box = $('preview-contact');
    const c = preview.contact;
    $('btn-preview-call').hidden = !c;
    $('btn-preview-call').disabled = preview.busy;
    if (!c) {
      box.replaceChildren(HL.el('p', { class: 'empty muted' }, t('preview.none')));
      return;
    }
    const ticket = c.ticket;
    const parts = [
      HL.el('div', { class: 'preview-top' },
        HL.el('span', { class: 'preview-name' }, c.customer ? c.customer.name : ''),
        HL.el('span', { class: 'mono preview-number' }, c.number)),
      c.customer && c.customer.region ? HL.el('div', { class: 'muted small' }, c.customer.region) : null,
      ticket
        ? HL.el('div', { class: 'preview-ticket small' },
            HL.el('span', { class: 'mono' }, t('preview.ticket', { n: ticket.number })),
            HL.el('span', { class: 'chip' }, HL.label('kind', ticket.kind)),
            HL.el('span', { class: 'chip' }, HL.label('stage', ticket.stage)),
            HL.el('div', { class: 'preview-desc' }, ticket.description))
        : null,
      c.attempts ? HL.el('div', { class: 'muted small' }, t('preview.attempts', { n: c.attempts })) : null,
    ];
    box.replaceChildren(...parts.filter(Boolean));
  }

  async function callPreviewContact() {
    const c = preview.contact;
    const name = $('preview-campaign').value;
    if (!c || !name || preview.busy) return;
    preview.busy = true;
    renderPreview();
    try {
      await HL.api('POST', '/api/campaigns/' + encodeURIComponent(name) + '/contacts/' + c.id + '/dial', {});
      HL.toast(t('preview.calling', { n: c.number }));
      preview.contact = null;
    } catch (e) {
      HL.toast(e.message);
    }
    preview.busy = false;
    renderPreview();
  }

  // -------------------------------------------------------------------------
  // Knowledge base.
  // -------------------------------------------------------------------------

  const kb = { seq: 0, hits: null, query: '', timer: null, searching: false };

  function wireKb() {
    const input = $('kb-query');
    // While a Chinese input method composes, the field holds pinyin:
    // search once the characters are chosen (compositionend), not before.
    const later = () => {
      clearTimeout(kb.timer);
      kb.timer = setTimeout(() => searchKb(input.value), 300);
    };
    input.addEventListener('input', (e) => !e.isComposing && later());
    input.addEventListener('compositionend', later);
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.isComposing) {
        clearTimeout(kb.timer);
        searchKb(input.value);
      }
    });
    $('kb-results').addEventListener('click', (e) => {
      const hit = e.target.closest('[data-article]');
      if (hit) openArticle(Number(hit.dataset.article));
    });
  }

  async function searchKb(text) {
    const q = text.trim();
    const seq = ++kb.seq;
    kb.query = q;
    $('kb-article').hidden = true;
    $('kb-results').hidden = false;
    if (!q) {
      kb.hits = null;
      renderKbResults();
      return;
    }
    kb.searching = true;
    renderKbResults();
    try {
      const res = await HL.api('GET', '/api/kb/search?limit=10&q=' + encodeURIComponent(q));
      if (seq !== kb.seq) return; // a newer search is on its way
      kb.hits = res.hits || [];
    } catch (e) {
      if (seq !== kb.seq) return;
      kb.hits = [];
      if (e.status !== 401) HL.toast(e.message);
    }
    kb.searching = false;
    renderKbResults();
  }

  function renderKbResults() {
    const box = $('kb-results');
    box.replaceChildren();
    if (kb.searching && !kb.hits) return box.append(HL.el('p', { class: 'muted small' }, t('kb.searching')));
    if (!kb.hits) return;
    if (!kb.hits.length) return box.append(HL.el('p', { class: 'muted small' }, t('kb.none')));
    kb.hits.forEach((hit) =>
      box.append(
        HL.el('button', { type: 'button', class: 'kb-hit', dataset: { article: hit.id } },
          HL.el('span', { class: 'kb-hit-title' }, hit.title),
          HL.el('span', { class: 'kb-hit-snippet' }, hit.snippet)),
      ),
    );
  }

  async function openArticle(id) {
    const view = $('kb-article');
    try {
      const a = await HL.api('GET', '/api/kb/' + id);
      const parts = [
        HL.el('button', { type: 'button', class: 'link small', onclick: () => {
          view.hidden = true;
          $('kb-results').hidden = false;
        } }, t('kb.back')),
        HL.el('h3', {}, a.title),
        HL.el('div', { class: 'kb-body' }, a.body),
        a.tags && a.tags.length ? HL.el('p', { class: 'small muted' }, t('kb.tags') + ': ', a.tags.join(' · ')) : null,
        a.models && a.models.length ? HL.el('p', { class: 'small muted' }, t('kb.models') + ': ', a.models.join(' · ')) : null,
      ];
      view.replaceChildren(...parts.filter(Boolean));
      $('kb-results').hidden = true;
      view.hidden = false;
    } catch (e) {
      if (e.status !== 401) HL.toast(e.message);
    }
  }

  // -------------------------------------------------------------------------
  // Ticket panel: open a ticket for the caller, or update an open one.
  // -------------------------------------------------------------------------

  const tk = {
    mode: 'new', // new | update
    rows: new Map(), // number -> TicketRow (GET /api/tickets: version, due_at)
    current: null, // the TicketRow being edited
    forCall: null, // the call the panel was prepared for
  };

  function wireTicketPanel() {
    $('ticket-modes').addEventListener('click', (e) => {
      const b = e.target.closest('[data-mode]');
      if (!b) return;
      setTicketMode(b.dataset.mode);
    });
    $('ticket-kind').addEventListener('change', onKindChange);
    $('ticket-pick').addEventListener('change', () => loadTicket($('ticket-pick').value));
    $('ticket-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (tk.mode === 'update') saveTicket();
      else createTicket();
    });
    $('customer-form').addEventListener('submit', (e) => {
      e.preventDefault();
      createCustomer();
    });
    // A corrected field loses its error.
    ['ticket-form', 'customer-form'].forEach((id) =>
      $(id).addEventListener('input', (e) => {
        const field = e.target.closest('.field');
        if (field) {
          field.classList.remove('invalid');
          const err = field.querySelector('.field-error');
          if (err) err.textContent = '';
        }
      }),
    );
  }

  /** A new call (or pop): the panel starts empty, prefilled from the call. */
  function resetTicketPanel() {
    tk.rows = new Map();
    tk.current = null;
    tk.forCall = S.callId;
    clearFieldErrors($('ticket-form'));
    clearFieldErrors($('customer-form'));
    $('ticket-error').textContent = '';
    $('customer-error').textContent = '';
    $('ticket-result').textContent = '';
    $('ticket-description').value = '';
    $('ticket-category').value = '';
    const kind = S.call && TICKET_KINDS.includes(S.call.queue) ? S.call.queue : 'repair';
    $('ticket-kind').value = kind;
    onKindChange();
    fillProductSelect();
    const phone = (S.call && S.call.caller) || '';
    $('customer-name').value = '';
    $('customer-phone').value = phone;
    $('customer-region').value = '';
    $('customer-address').value = '';
    tk.mode = 'new';
    fillTicketPick();
    if (S.pop && S.pop.customer) loadTicketRows(S.pop.customer.id);
  }

  /** Versions and due times of the customer's open tickets (the pop has neither). */
  async function loadTicketRows(customerId) {
    const callId = S.callId;
    try {
      const res = await HL.api('GET', `/api/tickets?open=true&limit=50&customer_id=${customerId}`);
      if (S.callId !== callId) return;
      tk.rows = new Map((res.tickets || []).map((row) => [row.number, row]));
      render();
    } catch (e) {
      // The pop still shows the tickets, without due times.
    }
  }

  function openTickets() {
    return (S.pop && S.pop.open_tickets) || [];
  }

  function setTicketMode(mode) {
    tk.mode = mode === 'update' && openTickets().length ? 'update' : 'new';
    clearFieldErrors($('ticket-form'));
    $('ticket-error').textContent = '';
    $('ticket-result').textContent = '';
    if (tk.mode === 'update') {
      fillTicketPick();
      loadTicket($('ticket-pick').value);
    } else {
      tk.current = null;
      $('ticket-category').value = '';
      $('ticket-description').value = '';
      fillProductSelect();
    }
    render();
  }

  async function loadTicket(number) {
    if (!number) return;
    $('ticket-result').textContent = t('ticket.loading');
    try {
      const row = await HL.api('GET', '/api/tickets/' + encodeURIComponent(number));
      if (tk.mode !== 'update' || $('ticket-pick').value !== number) return;
      tk.current = row;
      tk.rows.set(number, row);
      $('ticket-category').value = row.category || '';
      $('ticket-description').value = row.description || '';
      fillProductSelect(row.product_id);
      $('ticket-result').textContent = '';
    } catch (e) {
      $('ticket-result').textContent = '';
      $('ticket-error').textContent = e.message;
    }
    render();
  }

  async function createTicket() {
    const customer = S.pop && S.pop.customer;
    if (!customer) return;
    const body = {
      customer_id: customer.id,
      kind: $('ticket-kind').value,
      category: $('ticket-category').value.trim(),
      description: $('ticket-description').value.trim(),
    };
    const product = $('ticket-product').value;
    if (product) body.product_id = Number(product);
    if (S.callId) body.call_id = S.callId;
    const missing = { description: !body.description, category: body.kind === 'complaint' && !body.category };
    if (!checkRequired($('ticket-form'), $('ticket-error'), missing)) return;
    await submitForm($('ticket-form'), $('ticket-error'), async () => {
      const row = await HL.api('POST', '/api/tickets', body);
      S.ticketOpened = row.number;
      $('ticket-result').textContent = t('ticket.created', { n: row.number });
      HL.toast(t('ticket.created', { n: row.number }), 'ok');
      $('ticket-description').value = '';
      // Show it among the open tickets at once, and let wrap-up say so.
      tk.rows.set(row.number, row);
      if (S.pop) S.pop.open_tickets = [summaryOf(row)].concat(openTickets());
      const disp = $('wrapup-disposition');
      if (!disp.value) disp.value = 'ticket_opened';
      fillTicketPick();
    });
  }

  async function saveTicket() {
    const row = tk.current;
    if (!row) return;
    const body = {
      version: row.version,
      category: $('ticket-category').value.trim(),
      description: $('ticket-description').value.trim(),
    };
    const product = $('ticket-product').value;
    if (product && Number(product) !== row.product_id) body.product_id = Number(product);
    await submitForm($('ticket-form'), $('ticket-error'), async () => {
      try {
        const saved = await HL.api('PATCH', '/api/tickets/' + row.number, body);
        tk.current = saved;
        tk.rows.set(saved.number, saved);
        $('ticket-result').textContent = t('ticket.saved', { n: saved.number });
        HL.toast(t('ticket.saved', { n: saved.number }), 'ok');
      } catch (e) {
        if (e.status !== 409) throw e;
        // Someone changed it meanwhile: say so in plain words and reload.
        $('ticket-error').textContent = t('ticket.conflict', { n: row.number });
        await loadTicket(row.number);
        $('ticket-error').textContent = t('ticket.conflict', { n: row.number });
      }
    });
  }

  async function createCustomer() {
    const form = $('customer-form');
    const body = {
      name: $('customer-name').value.trim(),
      phones: $('customer-phone').value.trim() ? [$('customer-phone').value.trim()] : [],
      region: $('customer-region').value.trim(),
      address: $('customer-address').value.trim(),
    };
    if (!checkRequired(form, $('customer-error'), { name: !body.name, phones: !body.phones.length })) return;
    await submitForm(form, $('customer-error'), async () => {
      const c = await HL.api('POST', '/api/customers', body);
      HL.toast(t('customer.created', { name: c.name }), 'ok');
      S.pop = S.pop || { customer: null, recent_calls: [], open_tickets: [] };
      S.pop.customer = { id: c.id, name: c.name, region: c.region, address: c.address, vip: c.vip, phones: c.phones, products: c.products || [] };
      fillProductSelect();
    });
  }

  /** Runs a REST submit: field errors next to their fields, others in `errorEl`. */
  async function submitForm(form, errorEl, work) {
    clearFieldErrors(form);
    errorEl.textContent = '';
    const submit = form.querySelector('[type=submit]');
    submit.disabled = true;
    try {
      await work();
    } catch (e) {
      if (e.status === 401) return;
      const unplaced = [];
      (e.fields || []).forEach((f) => {
        const name = String(f.field).replace(/\[\d+\]$/, '');
        const slot = form.querySelector(`.field-error[data-for="${name}"]`);
        if (slot) {
          slot.textContent = f.message;
          slot.closest('.field').classList.add('invalid');
        } else unplaced.push(`${f.field}: ${f.message}`);
      });
      errorEl.textContent = e.fields && e.fields.length ? [t('ticket.fix')].concat(unplaced).join(' ') : e.message;
    } finally {
      submit.disabled = false;
      render();
    }
  }

  /** Marks the empty required fields (`missing`: name -> true) before asking the server. */
  function checkRequired(form, errorEl, missing) {
    clearFieldErrors(form);
    errorEl.textContent = '';
    const names = Object.keys(missing).filter((name) => missing[name]);
    names.forEach((name) => {
      const slot = form.querySelector(`.field-error[data-for="${name}"]`);
      slot.textContent = t('form.required');
      slot.closest('.field').classList.add('invalid');
    });
    if (names.length) form.querySelector(`[name="${names[0]}"]`).focus();
    return !names.length;
  }

  function clearFieldErrors(form) {
    form.querySelectorAll('.field-error').forEach((el) => (el.textContent = ''));
    form.querySelectorAll('.field.invalid').forEach((el) => el.classList.remove('invalid'));
  }

  /** The pop's ticket summary shape, from a full ticket. */
  function summaryOf(row) {
    return {
      number: row.number,
      kind: row.kind,
      category: row.category,
      stage: row.stage,
      customer_id: row.customer_id,
      outlet_code: row.outlet_code,
      outlet_name: row.outlet_name,
      outlet_phone: null,
      product_model: row.product_model,
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }

  function onKindChange() {
    const kind = $('ticket-kind').value;
    $('ticket-category-label').textContent = t(kind === 'complaint' ? 'ticket.category_complaint' : 'ticket.category');
    $('category-list').replaceChildren(...(CATEGORY_HINTS[kind] || []).map((c) => HL.el('option', { value: c })));
  }

  function fillTicketKindSelect() {
    const sel = $('ticket-kind');
    const value = sel.value || 'repair';
    sel.replaceChildren(...TICKET_KINDS.map((k) => HL.el('option', { value: k }, HL.label('kind', k))));
    sel.value = value;
    onKindChange();
  }

  function fillProductSelect(selected) {
    const sel = $('ticket-product');
    const value = selected !== undefined ? String(selected || '') : sel.value;
    const products = (S.pop && S.pop.customer && S.pop.customer.products) || [];
    sel.replaceChildren(
      HL.el('option', { value: '' }, t('ticket.no_product')),
      ...products.map((p) => HL.el('option', { value: p.id }, p.model + (p.serial ? ` · ${p.serial}` : ''))),
    );
    sel.value = products.some((p) => String(p.id) === value) ? value : products.length === 1 ? String(products[0].id) : '';
  }

  function fillTicketPick() {
    const sel = $('ticket-pick');
    const value = sel.value;
    sel.replaceChildren(
      ...openTickets().map((tkt) =>
        HL.el('option', { value: tkt.number },
          [tkt.number, HL.label('kind', tkt.kind), HL.label('stage', tkt.stage), tkt.category, tkt.product_model].filter(Boolean).join(' · ')),
      ),
    );
    if (openTickets().some((x) => x.number === value)) sel.value = value;
  }

  // -------------------------------------------------------------------------
  // Wrap-up form.
  // -------------------------------------------------------------------------

  function fillDispositionSelect() {
    const sel = $('wrapup-disposition');
    const value = sel.value;
    sel.replaceChildren(
      HL.el('option', { value: '' }, t('wrap.pick')),
      ...DISPOSITIONS.map((d) => HL.el('option', { value: d }, HL.label('disp', d))),
    );
    sel.value = value;
  }

  /** Entering wrap-up: a disposition guessed from what happened, notes empty. */
  function prepareWrapUp() {
    let guess = '';
    if (S.ticketOpened) guess = 'ticket_opened';
    else if (S.endedCause === 'transferred') guess = 'transferred';
    $('wrapup-disposition').value = guess;
    $('wrapup-notes').value = '';
    $('wrapup-error').textContent = '';
  }

  // -------------------------------------------------------------------------
  // Rendering.
  // -------------------------------------------------------------------------

  function fillReasonSelect() {
    const sel = $('select-reason');
    const value = sel.value;
    sel.replaceChildren(...S.reasons.map((r) => HL.el('option', { value: r }, HL.label('reason', r))));
    if (S.reasons.includes(value)) sel.value = value;
  }

  function fillTransferQueues() {
    const sel = $('transfer-queue');
    const value = sel.value;
    sel.replaceChildren(...S.queues.map((q) => HL.el('option', { value: q }, HL.label('queue', q))));
    if (S.queues.includes(value)) sel.value = value;
  }

  function render() {
    if (!S.user || $('desk-view').hidden) return;
    renderHeader();
    renderBanner();
    renderCallPanels();
    renderPop();
    renderTicketPanel();
    renderMedia();
    tick();
  }

  function renderHeader() {
    const name = S.state.name || '';
    const badge = $('state-badge');
    badge.dataset.state = name;
    $('state-name').textContent = name;
    $('state-name').dataset.state = name;
    $('state-label').textContent = name ? HL.label('state', name) : t('state.none');
    $('state-reason').textContent = name === 'not_ready' && S.state.reason ? HL.label('reason', S.state.reason) : '';

    const conn = $('conn');
    const connState = S.conn.state === 'open' && !S.helloSeen ? 'connecting' : S.conn.state;
    conn.dataset.conn = connState;
    $('conn-text').textContent = t('conn.' + connState);

    const live = S.conn.state === 'open' && S.helloSeen;
    $('btn-ready').disabled = !live || !['not_ready', 'logged_out'].includes(name);
    $('btn-not-ready').disabled = !live || !['ready', 'not_ready'].includes(name) || !S.reasons.length;
    $('select-reason').disabled = !live || !['ready', 'not_ready'].includes(name);
    $('btn-logout-queues').disabled = !live || !['ready', 'not_ready', 'wrap_up'].includes(name);
  }

  function renderBanner() {
    let connText = '';
    const waiting = S.conn.state === 'waiting';
    if (S.fatal) connText = t(S.fatal.key, S.fatal.params);
    else if (waiting) connText = t('banner.lost', { s: Math.max(0, Math.ceil((S.conn.retryAt - Date.now()) / 1000)) });
    else if (S.conn.state === 'connecting' && socket && socket.attempt > 0) connText = t('banner.connecting');
    $('banner-conn-text').textContent = connText;
    HL.show('banner-conn', !!connText);
    HL.show('btn-reconnect-now', waiting && !S.fatal);
    HL.show('btn-take-over', !!S.fatal && S.fatal.key === 'banner.replaced');
    $('banner-mic-text').textContent = S.micError ? t(S.micError.key, S.micError.params) : '';
    HL.show('banner-mic', !!S.micError);
    HL.show('banner', !!connText || !!S.micError);
    // A stopped desk (another window took it) shows what it knew, but
    // nothing in it can be used.
    $('desk-view').classList.toggle('stale', !!S.fatal);
  }

  function renderCallPanels() {
    const name = S.state.name;
    const panel =
      name === 'ringing' ? 'incoming'
      : name === 'on_call' || name === 'on_hold' ? 'in-call'
      : name === 'consulted' ? 'consulted'
      : name === 'wrap_up' ? 'wrap-up'
      : 'idle';
    ['idle', 'incoming', 'in-call', 'consulted', 'wrap-up'].forEach((id) => HL.show(id, id === panel));
    const call = S.call || {};
    const customer = S.pop && S.pop.customer;
    const who = customer ? customer.name : S.pop ? t('incoming.unknown') : '';

    if (panel === 'idle') {
      const key = !S.helloSeen ? 'connecting' : name === 'ready' ? 'ready' : name === 'logged_out' ? 'logged_out' : 'not_ready';
      $('idle-title').textContent = t('idle.' + key);
      $('idle').dataset.state = S.helloSeen ? name : '';
      $('idle-hint').textContent = S.helloSeen ? t('idle.' + key + '_hint') : '';
    }
    if (panel === 'incoming') {
      $('incoming-caller').textContent = call.caller || '…';
      $('incoming-name').replaceChildren(who, ...(customer && customer.vip ? [HL.el('span', { class: 'badge vip' }, 'VIP')] : []));
      $('incoming-name').classList.toggle('unknown', !customer);
      // A campaign's call: we called the customer (a callback, a preview).
      $('incoming-queue').textContent = call.campaign
        ? t('incoming.campaign', { c: call.campaign })
        : HL.label('queue', call.queue) || '—';
      $('incoming-digits').textContent = call.digits || '—';
      $('incoming-language').textContent = HL.label('lang', call.language) || '—';
      $('btn-answer').disabled = !S.softphone;
      $('answer-hint').textContent = !S.softphone ? t('answer.desk') : HL.audioAllowed() ? '' : t('answer.sound');
    }
    if (panel === 'in-call') renderInCall(call, who);
    if (panel === 'consulted') {
      $('consulted-caller').textContent = call.caller || '';
      $('consulted-name').textContent = who;
      $('consulted-text').textContent = S.consultedAnswered ? t('consulted.talking') : t('consulted.hint');
      HL.show('btn-consulted-answer', !S.consultedAnswered);
      $('btn-consulted-answer').disabled = !S.softphone;
      renderMute($('btn-consulted-mute'));
    }
    if (panel === 'wrap-up') {
      $('wrapup-ended').textContent = S.endedCause ? t('wrap.ended', { cause: S.endedCause }) : '';
    }
  }

  function renderInCall(call, who) {
    const onHold = S.state.name === 'on_hold';
    $('in-call').dataset.state = S.state.name;
    $('call-status').textContent = t(onHold ? 'call.on_hold' : 'call.on_call');
    $('call-caller').textContent = call.caller || '';
    $('call-name').textContent = who;
    $('btn-hold').textContent = t(onHold ? 'btn.resume' : 'btn.hold');
    $('btn-hold').classList.toggle('active', onHold);
    $('btn-rec').textContent = t(S.recPaused ? 'btn.rec_resume' : 'btn.rec_pause');
    $('btn-rec').classList.toggle('active', S.recPaused);
    $('btn-rec').setAttribute('aria-pressed', String(S.recPaused));
    $('call-rec').textContent = S.recPaused ? t('call.rec_paused', { by: S.recBy }) : '';
    renderMute($('btn-mute'));

    const consulting = S.consult && S.consult.stage !== 'ended';
    $('btn-hold').disabled = consulting;
    $('keypad').querySelectorAll('button').forEach((b) => (b.disabled = onHold));
    $('keypad').title = S.keysSent;
    $('btn-transfer-open').setAttribute('aria-expanded', String(S.transferOpen));
    $('btn-transfer-open').classList.toggle('active', S.transferOpen);
    $('btn-transfer-open').disabled = consulting;
    HL.show('transfer-panel', S.transferOpen && !consulting);
    if (S.transferOpen) renderAgentList();

    HL.show('consult-status', !!S.consult);
    if (S.consult) {
      const c = S.consult;
      $('consult-title').textContent = t('consult.with', { name: agentName(c.agent) });
      $('consult-text').textContent =
        c.stage === 'ringing' ? t('consult.ringing') : c.stage === 'talking' ? t('consult.talking') : t('consult.ended', { why: c.why });
      HL.show('btn-complete-transfer', c.stage !== 'ended');
      $('btn-complete-transfer').disabled = c.stage !== 'talking';
      HL.show('btn-cancel-transfer', c.stage !== 'ended');
    }
  }

  function renderMute(button) {
    button.textContent = t(S.muted ? 'btn.unmute' : 'btn.mute');
    button.setAttribute('aria-pressed', String(S.muted));
    button.classList.toggle('active', S.muted);
    button.title = S.softphone ? '' : t('mute.desk');
  }

  function renderAgentList() {
    const list = $('transfer-agents');
    list.replaceChildren();
    if (!S.agents) return list.append(HL.el('li', { class: 'muted small' }, t('transfer.agents_loading')));
    const others = S.agents.filter((a) => !S.agent || a.id !== S.agent.id);
    if (!others.length) return list.append(HL.el('li', { class: 'muted small' }, t('transfer.no_agents')));
    others.forEach((a) => {
      const state = a.online ? HL.label('state', a.state) : t('transfer.offline');
      list.append(
        HL.el('li', { class: 'agent-row' },
          HL.el('span', { class: 'dot', dataset: { state: a.online ? a.state : 'offline' } }),
          HL.el('span', { class: 'agent-row-name' }, a.display_name || a.username,
            HL.el('small', { class: 'muted' }, ' ' + state)),
          HL.el('button', { type: 'button', class: 'btn small', dataset: { agent: a.id, action: 'consult' },
            disabled: a.state !== 'ready' }, t('transfer.consult')),
          HL.el('button', { type: 'button', class: 'btn small', dataset: { agent: a.id, action: 'transfer' },
            disabled: a.state === 'logged_out' }, t('transfer.go'))),
      );
    });
  }

  function renderPop() {
    const call = S.call;
    const show = !!S.callId && (call || S.pop);
    HL.show('pop-empty', !show);
    HL.show('pop', !!show);
    if (!show) {
      $('pop-customer-name').textContent = '';
      $('pop-caller').textContent = '';
      return;
    }
    const pop = S.pop;
    const customer = pop && pop.customer;
    $('pop-caller').textContent = (call && call.caller) || '';
    $('pop-customer-name').textContent = customer ? customer.name : '';
    $('pop-unknown').textContent = !pop ? t('pop.unavailable') : !customer ? t('pop.unknown') : '';
    HL.show('pop-unknown', !customer);
    HL.show('pop-vip', !!(customer && customer.vip));
    $('pop').classList.toggle('vip', !!(customer && customer.vip));

    $('pop-customer').replaceChildren(
      ...(customer
        ? [
            fact(t('pop.region'), customer.region || '—'),
            fact(t('pop.address'), customer.address || '—'),
            fact(t('pop.phones'), HL.el('span', { class: 'mono' }, ...(customer.phones || []).map((p, i) => [
              i ? ', ' : '',
              HL.el('span', { class: call && samePhone(p, call.caller) ? 'calling' : '' }, p),
            ]))),
          ]
        : []),
    );
    $('pop-callinfo').replaceChildren(...(call ? callFacts(call).filter(Boolean) : []));
    // An unknown caller has no products or tickets: only their past calls.
    HL.show('pop-products-sec', !!customer);
    HL.show('pop-tickets-sec', !!customer);
    HL.show('pop-calls-sec', !!pop);
    renderProducts(customer);
    renderPopTickets(pop);
    renderPopCalls(pop);
  }

  function fact(label, value) {
    return HL.el('div', { class: 'fact' }, HL.el('span', { class: 'fact-label' }, label), HL.el('span', { class: 'fact-value' }, value));
  }

  function callFacts(call) {
    const path = (call.ivr_path || []).join(' › ');
    return [
      HL.el('span', { class: 'chip' }, t('incoming.queue') + ' ', HL.el('b', {}, HL.label('queue', call.queue) || '—')),
      HL.el('span', { class: 'chip' }, t('incoming.waited') + ' ', HL.el('b', { id: 'pop-waited', class: 'mono' }, '')),
      call.digits ? HL.el('span', { class: 'chip' }, t('incoming.digits') + ' ', HL.el('b', { class: 'mono' }, call.digits)) : null,
      path ? HL.el('span', { class: 'chip' }, t('incoming.path') + ' ', HL.el('b', {}, path)) : null,
      call.language ? HL.el('span', { class: 'chip' }, t('incoming.language') + ' ', HL.el('b', {}, HL.label('lang', call.language))) : null,
    ];
  }

  /** Same number, ignoring +86/0086 prefixes and separators. */
  function samePhone(a, b) {
    const norm = (n) => String(n || '').replace(/\D/g, '').replace(/^(0086|86)(?=1\d{10}$)/, '');
    return norm(a) !== '' && norm(a) === norm(b);
  }

  function renderProducts(customer) {
    const box = $('pop-products');
    const products = (customer && customer.products) || [];
    if (!customer) return box.replaceChildren();
    if (!products.length) return box.replaceChildren(HL.el('p', { class: 'muted small' }, t('pop.no_products')));
    const today = HL.isoDate(new Date());
    box.replaceChildren(
      table(
        [t('pop.model'), t('pop.serial'), t('pop.bought'), t('pop.warranty')],
        products.map((p) => {
          const end = p.warranty_end;
          const badge = !end
            ? HL.el('span', { class: 'badge muted' }, t('pop.warranty_unknown'))
            : end >= today
              ? HL.el('span', { class: 'badge ok' }, t('pop.in_warranty', { d: end }))
              : HL.el('span', { class: 'badge warn' }, t('pop.out_warranty', { d: end }));
          return [p.model, HL.el('span', { class: 'mono' }, p.serial || '—'), p.purchase_date || '—', badge];
        }),
      ),
    );
  }

  function renderPopTickets(pop) {
    const box = $('pop-tickets');
    const tickets = (pop && pop.open_tickets) || [];
    if (!pop || !pop.customer) return box.replaceChildren(pop ? HL.el('p', { class: 'muted small' }, t('pop.no_tickets')) : '');
    if (!tickets.length) return box.replaceChildren(HL.el('p', { class: 'muted small' }, t('pop.no_tickets')));
    const now = Date.now();
    box.replaceChildren(
      table(
        [t('pop.ticket_no'), t('pop.kind'), t('pop.stage'), t('pop.outlet'), t('pop.due')],
        tickets.map((x) => {
          const row = tk.rows.get(x.number);
          const due = row && row.due_at;
          const overdue = due && due < now;
          const dueCell = !due
            ? '—'
            : HL.el('span', { class: overdue ? 'overdue' : '' }, HL.fmtTime(due), overdue ? HL.el('span', { class: 'badge danger' }, t('pop.overdue')) : null);
          return {
            cls: overdue ? 'row-overdue' : '',
            cells: [
              HL.el('span', { class: 'mono' }, x.number),
              [HL.label('kind', x.kind), HL.el('div', { class: 'small muted' }, [x.category, x.product_model].filter(Boolean).join(' · '))],
              HL.el('span', { class: 'stage stage-' + x.stage }, HL.label('stage', x.stage)),
              x.outlet_name ? [x.outlet_name, x.outlet_phone ? HL.el('div', { class: 'small muted mono' }, x.outlet_phone) : null] : '—',
              dueCell,
            ],
          };
        }),
      ),
    );
  }

  function renderPopCalls(pop) {
    const box = $('pop-calls');
    const calls = ((pop && pop.recent_calls) || []).filter((c) => c.id !== S.callId);
    if (!pop) return box.replaceChildren();
    if (!calls.length) return box.replaceChildren(HL.el('p', { class: 'muted small' }, t('pop.no_calls')));
    box.replaceChildren(
      table(
        [t('pop.time'), t('pop.phones'), t('incoming.queue'), t('pop.result'), t('incoming.digits'), t('pop.disposition')],
        calls.slice(0, POP_CALLS_SHOWN).map((c) => [
          HL.fmtTime(c.arrived_at),
          HL.el('span', { class: 'mono' }, c.caller),
          c.queue ? HL.label('queue', c.queue) : '—',
          c.answered_at
            ? t('pop.answered', { d: c.ended_at ? HL.fmtDuration(c.ended_at - c.answered_at) : '' })
            : HL.el('span', { class: 'muted' }, t('pop.missed')),
          HL.el('span', { class: 'mono' }, c.digits || '—'),
          c.disposition ? HL.label('disp', c.disposition) : c.hangup_cause || '—',
        ]),
      ),
    );
  }

  /** A small table: rows are arrays of cells, or {cls, cells}. */
  function table(headers, rows) {
    return HL.el('table', { class: 'grid' },
      HL.el('thead', {}, HL.el('tr', {}, ...headers.map((h) => HL.el('th', {}, h)))),
      HL.el('tbody', {}, ...rows.map((r) => {
        const cells = Array.isArray(r) ? r : r.cells;
        return HL.el('tr', { class: Array.isArray(r) ? '' : r.cls }, ...cells.map((c) => HL.el('td', {}, c)));
      })));
  }

  function renderTicketPanel() {
    const name = S.state.name;
    const show = !!S.callId && ['on_call', 'on_hold', 'wrap_up'].includes(name) && (S.pop || S.call);
    HL.show('ticket-panel', !!show);
    if (!show) return;
    const customer = S.pop && S.pop.customer;
    const hasOpen = openTickets().length > 0;
    if (tk.mode === 'update' && !hasOpen) tk.mode = 'new';
    HL.show('ticket-modes', !!customer && hasOpen);
    $('ticket-modes').querySelectorAll('[data-mode]').forEach((b) => b.classList.toggle('active', b.dataset.mode === tk.mode));
    HL.show('customer-form', !customer);
    HL.show('ticket-form', !!customer);
    const update = tk.mode === 'update';
    HL.show('ticket-pick-row', update);
    HL.show('ticket-kind-row', !update);
    $('ticket-submit').textContent = t(update ? 'ticket.save' : 'ticket.create');
    $('ticket-submit').disabled = update && !tk.current;
  }

  function renderMedia() {
    $('media-state').textContent = M.state;
    $('media-state').dataset.state = M.state;
    $('media-label').textContent = t('media.' + M.state);
    $('phone-mode').textContent = t(S.softphone ? 'phone.browser' : 'phone.desk');
    $('phone-mode').dataset.mode = S.softphone ? 'browser' : 'desk';
    $('phone-hint').textContent = S.softphoneRefused ? t('phone.refused') : S.softphone ? t('phone.browser_hint') : S.helloSeen ? t('phone.desk_hint') : '';
  }

  /** The clocks: time in state, call timer, waited, ring and wrap-up countdowns. */
  function tick() {
    if (!S.user || $('desk-view').hidden) return;
    const now = Date.now();
    const st = S.state;
    $('state-time').textContent = st.since_ms ? HL.fmtDuration(now - st.since_ms) : '';
    if (st.name === 'ready' || st.name === 'not_ready' || st.name === 'logged_out') {
      $('idle-since').textContent = st.since_ms ? t('idle.since', { t: HL.fmtDuration(now - st.since_ms) }) : '';
    }
    const call = S.call;
    if (call && call.queued_ms) {
      // The wait stops when the agent answers (or the call ends).
      const until = S.answeredAt || S.endedAt || now;
      const waited = HL.fmtDuration(until - call.queued_ms);
      $('incoming-waited').textContent = waited;
      const w = $('pop-waited');
      if (w) w.textContent = waited;
    }
    if (st.name === 'ringing') {
      $('incoming-ring-left').textContent = st.until_ms ? t('incoming.ring_left', { s: Math.max(0, Math.ceil((st.until_ms - now) / 1000)) }) : '';
    }
    if (st.name === 'on_call' || st.name === 'on_hold') {
      $('call-timer').textContent = HL.fmtDuration(now - (S.answeredAt || st.since_ms || now));
      $('call-hold-for').textContent = st.name === 'on_hold' && st.since_ms ? t('call.hold_for', { t: HL.fmtDuration(now - st.since_ms) }) : '';
    }
    if (st.name === 'consulted') {
      $('consulted-timer').textContent = st.since_ms ? HL.fmtDuration(now - st.since_ms) : '';
    }
    if (st.name === 'wrap_up') {
      const left = st.until_ms ? st.until_ms - now : 0;
      $('wrapup-countdown').textContent = st.until_ms ? t('wrap.left', { t: HL.fmtDuration(left + 999) }) : '';
      const total = st.until_ms && st.since_ms ? st.until_ms - st.since_ms : 0;
      $('wrapup-progress').style.width = total > 0 ? Math.max(0, Math.min(100, (left / total) * 100)) + '%' : '0%';
      $('wrap-up').classList.toggle('urgent', left < 10000);
    }
    if (S.conn.state === 'waiting') renderBanner();
  }

  // -------------------------------------------------------------------------
  // Tests and diagnostics: window.hotline.
  // -------------------------------------------------------------------------

  window.hotline = {
    get ws() {
      return socket ? socket.ws : null;
    },
    get pc() {
      return M.pc;
    },
    get state() {
      return S.state;
    },
    get call() {
      return S.call;
    },
    get mediaState() {
      return M.state;
    },
    lastEvent: null,
    events: [],
    /** The strongest frequency (Hz) of 'remote' (the caller) or 'mic' now, or null. */
    peakHz(which) {
      const meter = which === 'mic' ? meters.mic : meters.remote;
      return meter ? meter.peakHz() : null;
    },
    /** Feeds an event as if the server had sent it (screenshots, tests). */
    simulate(ev) {
      onEvent(ev);
    },
  };
})();
