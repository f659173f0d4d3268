// The test caller (/test-caller, admins only): calls the hotline from this
// browser as a customer would, over WebRTC into the IVR, so the whole loop
// (IVR, queue, an agent's page ringing) can be tried with no SIP phone.
//
// Signalling is plain REST, without trickle ICE: gather candidates (1 s at
// most), POST /api/test-calls with the offer, apply the answer, then poll
// GET /api/test-calls/{id} every second for the state; DELETE hangs up.
'use strict';

(function () {
  const $ = HL.$;
  const t = HL.t;
  const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
  const LIVE = ['starting', 'connecting', 'ringing', 'answered'];

  const T = {
    user: null,
    pc: null,
    id: null,
    state: 'idle', // idle | starting | connecting | ringing | answered | ended | failed
    cause: '',
    error: '',
    mic: null,
    poll: null,
    answeredAt: null,
    keys: '',
  };
  const meters = {};

  document.addEventListener('DOMContentLoaded', boot);

  async function boot() {
    HL.applyI18n();
    KEYS.forEach((key) =>
      $('tc-keypad').append(HL.el('button', { type: 'button', class: 'key', dataset: { key }, 'aria-label': key }, key)),
    );
    meters.mic = new HL.Meter($('tc-meter-mic'));
    meters.remote = new HL.Meter($('tc-meter-remote'));
    wire();
    HL.langListeners.push(render);
    HL.onUnauthorized = () => {
      stopCall();
      T.user = null;
      showView('login-view');
      $('login-error').textContent = t('err.session');
    };
    HL.setupLogin(enter);
    setInterval(tickTimer, 500);
    let user = null;
    try {
      user = await HL.currentUser();
    } catch (e) {
      // Unreachable: the sign-in form will say so.
    }
    $('boot').hidden = true;
    if (user) enter(user);
    else showView('login-view');
  }

  function showView(id) {
    ['login-view', 'denied-view', 'caller-view'].forEach((v) => HL.show(v, v === id));
  }

  function enter(user) {
    T.user = user;
    if (user.role !== 'admin') {
      $('denied-text').textContent = t('login.not_admin', { user: user.display_name || user.username, role: user.role });
      showView('denied-view');
      return;
    }
    showView('caller-view');
    render();
  }

  function wire() {
    document.querySelectorAll('.lang-switch, #lang-toggle').forEach((b) => b.addEventListener('click', HL.toggleLang));
    $('tc-form').addEventListener('submit', (e) => {
      e.preventDefault();
      call();
    });
    $('tc-hangup').addEventListener('click', hangUp);
    $('tc-keypad').addEventListener('click', (e) => {
      const b = e.target.closest('[data-key]');
      if (b) sendKey(b.dataset.key);
    });
    // Keys typed outside a text field go to the IVR too.
    document.addEventListener('keydown', (e) => {
      if (e.ctrlKey || e.altKey || e.metaKey || e.target.closest('input, textarea, select')) return;
      if (KEYS.includes(e.key) && T.state === 'answered') {
        e.preventDefault();
        sendKey(e.key);
      }
    });
    $('btn-signout').addEventListener('click', async () => {
      await hangUp();
      await HL.signOut();
      T.user = null;
      showView('login-view');
    });
    $('btn-denied-signout').addEventListener('click', async () => {
      await HL.signOut();
      T.user = null;
      showView('login-view');
    });
    // Closing the tab hangs up rather than leaving a call in the IVR.
    window.addEventListener('pagehide', () => {
      if (T.id && LIVE.includes(T.state)) {
        fetch('/api/test-calls/' + encodeURIComponent(T.id), { method: 'DELETE', keepalive: true, credentials: 'same-origin' }).catch(() => {});
      }
    });
  }

  function setState(state, extra) {
    T.state = state;
    Object.assign(T, extra || {});
    render();
  }

  async function call() {
    if (LIVE.includes(T.state)) return;
    const caller = $('tc-caller').value.trim();
    clearFieldErrors();
    if (!caller) {
      showFieldError('caller', t('tc.need_caller'));
      return;
    }
    T.keys = '';
    T.answeredAt = null;
    setState('starting', { error: '', cause: '' });
    try {
      if (!T.mic) {
        T.mic = await HL.getMic();
        meters.mic.attach(T.mic);
      }
    } catch (e) {
      return setState('failed', { error: e.message });
    }

    const pc = new RTCPeerConnection();
    T.pc = pc;
    T.mic.getAudioTracks().forEach((track) => pc.addTrack(track, T.mic));
    pc.ontrack = (ev) => {
      if (T.pc !== pc) return;
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      $('tc-audio').srcObject = stream;
      $('tc-audio').play().catch(() => {});
      meters.remote.attach(stream);
    };
    pc.onconnectionstatechange = () => {
      if (T.pc === pc && pc.connectionState === 'failed') {
        setState('failed', { error: t('media.failed') });
        hangUp();
      }
    };

    let answer;
    try {
      await pc.setLocalDescription(await pc.createOffer());
      // No trickle on this path: the offer must carry the candidates.
      await HL.iceGathered(pc, 1000);
      if (T.pc !== pc) return;
      answer = await HL.api('POST', '/api/test-calls', { caller, sdp: pc.localDescription.sdp });
    } catch (e) {
      if (T.pc !== pc) return;
      closePc();
      (e.fields || []).forEach((f) => showFieldError(f.field, f.message));
      return setState('failed', { error: e.fields && e.fields.length ? t('ticket.fix') : e.message });
    }
    if (T.pc !== pc) return;
    T.id = answer.id;
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    } catch (e) {
      setState('failed', { error: t('media.bad', { msg: e.message }) });
      return hangUp();
    }
    setState('connecting');
    T.poll = setInterval(poll, 1000);
  }

  async function poll() {
    const id = T.id;
    if (!id) return;
    try {
      const s = await HL.api('GET', '/api/test-calls/' + encodeURIComponent(id));
      if (T.id !== id) return;
      if (s.state === 'answered' && !T.answeredAt) T.answeredAt = Date.now();
      if (s.state === 'ended') {
        stopCall();
        return setState('ended', { cause: s.cause || '' });
      }
      if (s.state !== T.state) setState(s.state);
    } catch (e) {
      if (T.id !== id) return;
      if (e.status === 404) {
        stopCall();
        setState('ended');
      }
      // Other errors: a hiccup; the next poll tries again.
    }
  }

  async function hangUp() {
    const id = T.id;
    const wasLive = LIVE.includes(T.state);
    stopCall();
    if (wasLive) setState('ended');
    if (!id) return;
    try {
      await HL.api('DELETE', '/api/test-calls/' + encodeURIComponent(id));
    } catch (e) {
      // Already over on the server's side.
    }
  }

  function closePc() {
    if (!T.pc) return;
    const pc = T.pc;
    T.pc = null;
    pc.ontrack = pc.onconnectionstatechange = null;
    pc.close();
    $('tc-audio').srcObject = null;
    meters.remote.detach();
  }

  function stopCall() {
    clearInterval(T.poll);
    T.poll = null;
    closePc();
    T.id = null;
  }

  /** A key to the IVR as an RFC 4733 event from the browser. */
  function sendKey(key) {
    const sender = T.pc && T.pc.getSenders()[0];
    const dtmf = sender && sender.dtmf;
    if (!dtmf || !dtmf.canInsertDTMF) return;
    dtmf.insertDTMF(dtmf.toneBuffer + key, 100, 70);
    T.keys = (T.keys + key).slice(-32);
    render();
  }

  function showFieldError(field, message) {
    const slot = document.querySelector(`#tc-form .field-error[data-for="${field}"]`);
    if (slot) {
      slot.textContent = message;
      slot.closest('.field').classList.add('invalid');
    } else {
      $('tc-error').textContent = `${field}: ${message}`;
    }
  }

  function clearFieldErrors() {
    document.querySelectorAll('#tc-form .field-error').forEach((el) => (el.textContent = ''));
    document.querySelectorAll('#tc-form .field.invalid').forEach((el) => el.classList.remove('invalid'));
  }

  function render() {
    const live = LIVE.includes(T.state);
    const status = $('tc-status');
    status.dataset.state = T.state;
    status.textContent = T.state === 'ended' && T.cause ? t('tc.ended_cause', { cause: T.cause }) : t('tc.state.' + T.state);
    $('tc-error').textContent = T.error || '';
    $('tc-call').disabled = live;
    $('tc-caller').disabled = live;
    $('tc-hangup').disabled = !live;
    const keysOn = T.state === 'answered' || T.state === 'ringing' || T.state === 'connecting';
    $('tc-keypad').querySelectorAll('button').forEach((b) => (b.disabled = !keysOn || !T.pc));
    $('tc-keys').textContent = T.keys;
    tickTimer();
  }

  function tickTimer() {
    $('tc-timer').textContent = T.answeredAt && LIVE.includes(T.state) ? HL.fmtDuration(Date.now() - T.answeredAt) : '';
  }

  window.testCaller = {
    get pc() {
      return T.pc;
    },
    get id() {
      return T.id;
    },
    get state() {
      return T.state;
    },
    /** The strongest frequency (Hz) of what the caller hears ('remote', the default) or of 'mic'. */
    peakHz(which) {
      return (which === 'mic' ? meters.mic : meters.remote).peakHz();
    },
  };
})();
