//! Clean shutdown on SIGTERM: new calls are refused while the server drains,
//! the call in progress is hung up when the grace period ends, its record is
//! complete on disk, and `hotline calls` shows it afterwards.

mod common;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, have_sipp, temp_dir};

fn options(server: std::net::SocketAddr) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let me = sock.local_addr().unwrap();
    let req = format!(
        "OPTIONS sip:4008001234@{server} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bKping{}\r\n\
         From: <sip:carrier@{me}>;tag=p1\r\nTo: <sip:4008001234@{server}>\r\n\
         Call-ID: ping-{}@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        std::process::id(),
        me.port()
    );
    sock.send_to(req.as_bytes(), server).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("an answer to OPTIONS");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn sigterm_drains_hangs_up_and_keeps_the_record() {
    if !have_sipp() {
        return;
    }
    let dir = temp_dir("cfg");
    let cfg = dir.join("hotline.toml");
    std::fs::write(&cfg, "[server]\nshutdown_grace_secs = 1\n").unwrap();
    let mut server = Server::start(&["--config", cfg.to_str().unwrap()]);

    // A caller who would stay on the line for a minute.
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sipp/caller_hangs_up.xml"
    );
    let mut sipp = Command::new("sipp")
        .arg(server.sip.to_string())
        .args([
            "-sf",
            scenario,
            "-s",
            "4008001234",
            "-m",
            "1",
            "-d",
            "60000",
        ])
        .args([
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-nostdin",
            "-rtp_echo",
        ])
        .args(["-p", &common::free_port().to_string()])
        .args(["-mp", &common::free_port().to_string()])
        .current_dir(temp_dir("sipp"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = server.get("/api/health");
        if body.contains("\"active_calls\":1") {
            break;
        }
        assert!(Instant::now() < deadline, "call not up: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(options(server.sip).starts_with("SIP/2.0 200"));

    Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    // Draining: the trunk's pings learn we take no calls.
    std::thread::sleep(Duration::from_millis(200));
    let resp = options(server.sip);
    assert!(resp.starts_with("SIP/2.0 503"), "{resp}");

    let stopping = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status:?}\n{}", server.log());
    // The grace second, the BYE, the records and the call's recording
    // written: nothing waits on a writer that cannot end.
    assert!(
        stopping.elapsed() < Duration::from_secs(8),
        "stopped in {:?}\n{}",
        stopping.elapsed(),
        server.log()
    );
    let log = server.log();
    assert!(!log.contains(" ERROR "), "{log}");
    assert!(log.contains("recording saved"), "{log}");
    let _ = sipp.kill();
    let _ = sipp.wait();

    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args([
            "calls",
            "--last",
            "5",
            "--data",
            server.data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(table.contains("shutdown"), "{table}");
    assert!(table.contains("13800138000"), "{table}");
}
