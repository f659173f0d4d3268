//! HTTPS for agents on other machines: the API over TLS with a self-signed
//! certificate made on the first start and kept (same fingerprint after a
//! restart, named in the log), or with the configured certificate; a
//! certificate that cannot be read stops the start naming the file.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, temp_dir};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// `GET path` over TLS to `addr` as `host`, trusting only `root`; the
/// status line's code, the body, and the certificate the server showed.
async fn get(
    addr: SocketAddr,
    host: &str,
    root: CertificateDer<'static>,
    path: &str,
) -> (u16, String, CertificateDer<'static>) {
    let mut roots = RootCertStore::empty();
    roots.add(root).expect("a usable root");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(host.to_owned()).unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("the handshake succeeds with the server's certificate");
    let shown = tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (code, body, shown)
}

fn fingerprint(cert: &[u8]) -> String {
    Sha256::digest(cert)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn first_cert(path: &Path) -> CertificateDer<'static> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn the_api_answers_over_https_with_a_self_signed_certificate() {
    let server = Server::start(&[]);
    let addr = server.https.expect("HTTPS is on");
    let cert_file = server.data.join("tls/self-signed-cert.pem");
    let cert = first_cert(&cert_file);
    let (code, body, shown) = get(addr, "localhost", cert.clone(), "/api/health").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"status\""), "{body}");
    assert_eq!(shown, cert);
    // The log names the certificate and its fingerprint, for agents to
    // compare with what their browser shows.
    let print = fingerprint(cert.as_ref());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log().contains(&print) {
        assert!(
            Instant::now() < deadline,
            "fingerprint {print} not logged:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It is valid for the address too, not only for localhost.
    let (code, _, _) = get(addr, "127.0.0.1", cert, "/api/health").await;
    assert_eq!(code, 200);
}

/// Starts `hotline serve` on `data` with extra arguments; the child and
/// its HTTPS address, or its exit status and output if it stopped.
fn serve(data: &Path, extra: &[&str]) -> Result<(Child, SocketAddr), (i32, String)> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["serve", "--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args([
            "--https",
            "127.0.0.1:0",
            "--rtp-ports",
            &common::rtp_range(),
        ])
        .args(["--data", data.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.split("https://").nth(1) {
            let addr = rest.split([',', ' ']).next().unwrap().parse().unwrap();
            return Ok((child, addr));
        }
    }
    let out = child.wait_with_output().unwrap();
    Err((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[tokio::test]
async fn a_restart_keeps_the_certificate_and_a_configured_one_is_served() {
    let data = temp_dir("tls");
    let (mut first, addr) = serve(&data, &[]).expect("starts");
    let cert = first_cert(&data.join("tls/self-signed-cert.pem"));
    let (_, _, shown) = get(addr, "localhost", cert.clone(), "/api/health").await;
    first.kill().unwrap();
    let _ = first.wait();
    let (mut second, addr) = serve(&data, &[]).expect("starts again");
    let (code, _, again) = get(addr, "localhost", cert, "/api/health").await;
    assert_eq!(code, 200);
    assert_eq!(again, shown, "the same certificate after a restart");
    second.kill().unwrap();
    let _ = second.wait();

    // A certificate of the operator's own, by configuration.
    let dir = temp_dir("own-cert");
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["hotline.example".to_owned()]).unwrap();
    let own = params.self_signed(&key).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, own.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let config = dir.join("hotline.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert_file.display(),
            key_file.display()
        ),
    )
    .unwrap();
    let (mut third, addr) =
        serve(&data, &["--config", config.to_str().unwrap()]).expect("starts with its certificate");
    let (code, _, shown) = get(
        addr,
        "hotline.example",
        first_cert(&cert_file),
        "/api/health",
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(shown.as_ref(), own.der().as_ref());
    third.kill().unwrap();
    let _ = third.wait();

    // A key that cannot be read stops the start, naming the file.
    std::fs::write(&key_file, "not a key").unwrap();
    let (code, out) = serve(&data, &["--config", config.to_str().unwrap()])
        .map(|(mut c, _)| {
            let _ = c.kill();
            (0, String::new())
        })
        .unwrap_err();
    assert_ne!(code, 0);
    assert!(out.contains(key_file.to_str().unwrap()), "{out}");
}
