//! SIP over TCP: a task per connection frames the byte stream into messages
//! (by Content-Length, `crate::sip::framing`) for the driver, and a writer
//! task sends what the driver addresses to that peer.
//!
//! A framing error (garbage, a missing Content-Length, an oversized message)
//! closes the connection: on a stream there is no telling where the next
//! message would start.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, warn};

use super::Input;
use crate::sip::framing::{Frame, StreamFramer};
use crate::sip::{Peer, Transport};

/// Connections beyond this wait for one to close (a carrier uses a few; a
/// flood must not exhaust our file descriptors).
const MAX_CONNECTIONS: usize = 2048;

pub(super) async fn accept_loop(
    listener: TcpListener,
    tx: mpsc::Sender<Input>,
    max_message: usize,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok((stream, peer)) => {
                let tx = tx.clone();
                tokio::spawn(async move {
                    serve_connection(stream, peer, tx, max_message).await;
                    drop(permit);
                });
            }
            Err(e) => {
                warn!(error = %e, "SIP/TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Opens a connection to `addr` for a message with no connection to ride on.
pub(super) fn connect_and_send(addr: SocketAddr, first: Vec<u8>, tx: mpsc::Sender<Input>) {
    tokio::spawn(async move {
        match TcpStream::connect(addr).await {
            Ok(mut stream) => {
                if stream.write_all(&first).await.is_err() {
                    return;
                }
                serve_connection(stream, addr, tx, 65_535).await;
            }
            Err(e) => debug!(%addr, error = %e, "SIP/TCP connect failed"),
        }
    });
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tx: mpsc::Sender<Input>,
    max_message: usize,
) {
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    let (wtx, mut wrx) = mpsc::channel::<Vec<u8>>(256);
    if tx
        .send(Input::TcpOpened {
            peer,
            writer: wtx.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(bytes) = wrx.recv().await {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let mut framer = StreamFramer::new(max_message);
    let mut buf = vec![0u8; 16 * 1024];
    'conn: loop {
        let n = match read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next() {
                Ok(Some(Frame::Message(bytes))) => {
                    let source = Peer {
                        addr: peer,
                        transport: Transport::Tcp,
                    };
                    if tx.send(Input::Sip { bytes, source }).await.is_err() {
                        break 'conn;
                    }
                }
                // RFC 5626 §3.5.1: answer a CRLFCRLF ping with a CRLF pong.
                Ok(Some(Frame::KeepAlive)) => {
                    let _ = wtx.try_send(b"\r\n".to_vec());
                }
                Ok(None) => break,
                Err(e) => {
                    debug!(%peer, error = %e, "closing SIP/TCP connection");
                    break 'conn;
                }
            }
        }
    }
    let _ = tx.send(Input::TcpClosed { peer }).await;
    drop(wtx);
    let _ = writer.await;
}
