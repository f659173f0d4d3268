//! HTTPS: the same API and pages as plain HTTP, for agents on other
//! machines (a browser gives a page the microphone only on a secure
//! origin; plain HTTP stays for localhost).
//!
//! The certificate is the configured one (`server.tls_cert`,
//! `server.tls_key`, PEM), or else a self-signed one made on the first
//! start and kept under `<data_dir>/tls/`, so its fingerprint — which the
//! log names, for agents to compare with what their browser shows — stays
//! the same across restarts. A certificate or key that cannot be read stops
//! the start with a message naming the file.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::{debug, info};

use super::RtError;

/// The certificate HTTPS serves: where it is and its SHA-256 fingerprint.
pub struct Certificate {
    pub config: Arc<ServerConfig>,
    pub cert_file: PathBuf,
    /// `AB:CD:...`, as browsers show it.
    pub fingerprint: String,
    pub self_signed: bool,
}

/// Loads the configured certificate, or the self-signed one (made now if
/// there is none yet) for `names` (host names and addresses it is valid
/// for, besides localhost).
pub fn certificate(
    configured: Option<&(PathBuf, PathBuf)>,
    data_dir: &Path,
    names: &[IpAddr],
) -> Result<Certificate, RtError> {
    let (cert_file, key_file, self_signed) = match configured {
        Some((cert, key)) => (cert.clone(), key.clone(), false),
        None => {
            let dir = data_dir.join("tls");
            let (cert, key) = (
                dir.join("self-signed-cert.pem"),
                dir.join("self-signed-key.pem"),
            );
            if !cert.exists() || !key.exists() {
                make_self_signed(&dir, &cert, &key, names)?;
            }
            (cert, key, true)
        }
    };
    let bad = |file: &Path, why: String| RtError::Tls {
        file: file.to_owned(),
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_file)
        .map_err(|e| bad(&cert_file, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&cert_file, e.to_string()))?;
    let Some(leaf) = chain.first() else {
        return Err(bad(&cert_file, "no certificate in the file".into()));
    };
    let fingerprint = Sha256::digest(leaf.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|e| bad(&key_file, e.to_string()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&cert_file, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad(&key_file, format!("does not go with the certificate: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Certificate {
        config: Arc::new(config),
        cert_file,
        fingerprint,
        self_signed,
    })
}

/// A self-signed certificate for localhost and `names`, valid for ten
/// years; the key is readable by this user only.
fn make_self_signed(dir: &Path, cert: &Path, key: &Path, names: &[IpAddr]) -> Result<(), RtError> {
    let failed = |why: String| RtError::Tls {
        file: cert.to_owned(),
        why,
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
    let mut sans = vec!["localhost".to_owned()];
    sans.extend(names.iter().map(ToString::to_string));
    sans.dedup();
    let mut params = rcgen::CertificateParams::new(sans).map_err(|e| failed(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hotline (self-signed)");
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let pair = rcgen::KeyPair::generate().map_err(|e| failed(e.to_string()))?;
    let signed = params
        .self_signed(&pair)
        .map_err(|e| failed(e.to_string()))?;
    write_private(key, pair.serialize_pem().as_bytes()).map_err(|e| failed(e.to_string()))?;
    std::fs::write(cert, signed.pem()).map_err(|e| failed(e.to_string()))?;
    info!(cert = %cert.display(), "made a self-signed certificate for HTTPS");
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// Serves `app` over TLS on `listener` until `stop` turns true. A client
/// that fails the handshake is dropped; the others are not affected.
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    debug!(error = %e, "HTTPS accept failed");
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        // Events a server sends of its own (the CTI websocket's) must not
        // wait for the peer's delayed ACK (Nagle).
        let _ = tcp.set_nodelay(true);
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake too slow");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                // The agent's websocket upgrades the connection.
                .with_upgrades();
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "HTTPS connection ended with an error");
            }
        });
    }
}

/// A client gets this long to finish its TLS handshake.
const HANDSHAKE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
