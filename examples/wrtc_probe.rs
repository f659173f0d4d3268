use std::net::SocketAddr;
use std::time::{Duration, Instant};
use axum::{Router, routing::{get, post}};
use hotline::media::webrtc::{self, Identity, PeerConfig, PeerOutput, PeerState};
use hotline::media::{g711, rtp};
use tokio::net::UdpSocket;

const PAGE: &str = r#"<!doctype html><html><body><pre id=log></pre><script>
const log = (m) => { document.getElementById('log').textContent += m + '\n'; console.log(m); };
window.result = null;
(async () => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  const pc = new RTCPeerConnection();
  pc.onconnectionstatechange = () => log('state ' + pc.connectionState);
  stream.getTracks().forEach(t => pc.addTrack(t, stream));
  pc.ontrack = (ev) => {
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(new MediaStream([ev.track]));
    const an = ctx.createAnalyser(); an.fftSize = 8192; src.connect(an);
    const el = new Audio(); el.srcObject = new MediaStream([ev.track]); el.muted = true; el.play();
    setTimeout(() => {
      const d = new Float32Array(an.frequencyBinCount); an.getFloatFrequencyData(d);
      let best = 0; for (let i = 1; i < d.length; i++) if (d[i] > d[best]) best = i;
      window.result = best * ctx.sampleRate / an.fftSize; log('peak ' + window.result);
    }, 3000);
  };
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await new Promise(r => { if (pc.iceGatheringState === 'complete') r(); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 1000); });
  log(pc.localDescription.sdp);
  const res = await fetch('/offer', {method: 'POST', body: pc.localDescription.sdp});
  const answer = await res.text();
  log(answer);
  await pc.setRemoteDescription({type: 'answer', sdp: answer});
})().catch(e => { log('ERR ' + e); window.result = -1; });
</script></body></html>"#;

#[tokio::main]
async fn main() {
    let ip: std::net::IpAddr = std::env::args().nth(1).unwrap_or("127.0.0.1".into()).parse().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, tokio::sync::oneshot::Sender<String>)>(1);
    let app = Router::new().route("/", get(|| async { axum::response::Html(PAGE) })).route("/offer", post(move |body: String| { let tx = tx.clone(); async move { let (t, r) = tokio::sync::oneshot::channel(); tx.send((body, t)).await.unwrap(); r.await.unwrap() } }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:18080").await.unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let identity = Identity::generate().unwrap();
    let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap();
    let local = sock.local_addr().unwrap();
    eprintln!("ready {local}");
    let (offer, reply) = rx.recv().await.unwrap();
    let t0 = Instant::now();
    let mut peer = webrtc::answer(t0, &PeerConfig { identity, local, laws: vec![g711::Law::Pcmu], ssrc: 1234 }, &offer).unwrap();
    reply.send(peer.answer_sdp().to_owned()).unwrap();
    let mut buf = vec![0u8; 2000];
    let mut seq: u16 = 0; let mut next = Instant::now(); let mut connected = false; let mut got = 0;
    let mut samples_in = Vec::new();
    loop {
        while let Some(o) = peer.poll_output() {
            match o {
                PeerOutput::Transmit { dest, bytes } => { let _ = sock.send_to(&bytes, dest).await; }
                PeerOutput::Rtp(p) => { got += 1; if let Ok(p) = rtp::parse(&p) { if got > 50 && samples_in.len() < 8000 { g711::decode_into(g711::Law::Pcmu, p.payload, &mut samples_in); } if got % 100 == 1 { eprintln!("rtp in pt={} len={} total={got}", p.header.payload_type, p.payload.len()); } } }
                PeerOutput::State(s) => { eprintln!("state {s:?} after {:?}", t0.elapsed()); connected = s == PeerState::Connected; }
            }
        }
        if samples_in.len() >= 8000 { let c = samples_in.windows(2).filter(|w| (w[0]>=0) != (w[1]>=0)).count(); eprintln!("browser tone ~{} Hz", c / 2); samples_in.push(0); }
        let wake = peer.poll_timeout().unwrap_or(Instant::now() + Duration::from_secs(1)).min(next);
        tokio::select! {
            r = sock.recv_from(&mut buf) => { let (n, from) = r.unwrap(); peer.handle_datagram(Instant::now(), from, &buf[..n]); }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                let now = Instant::now(); peer.handle_timeout(now);
                if now >= next { next += Duration::from_millis(20);
                    if connected { let s: Vec<i16> = (0..160).map(|i| { let t = (seq as f64 * 160.0 + i as f64)/8000.0; (8000.0*(2.0*std::f64::consts::PI*1000.0*t).sin()) as i16 }).collect();
                        let mut pl = Vec::new(); g711::encode_into(g711::Law::Pcmu, &s, &mut pl);
                        let mut pkt = Vec::new(); rtp::write(&rtp::RtpHeader { marker: seq==0, payload_type: 0, sequence: seq, timestamp: seq as u32 * 160, ssrc: 1234 }, &pl, &mut pkt);
                        peer.send_rtp(now, &pkt); seq = seq.wrapping_add(1); }
                }
            }
        }
    }
}
