//! The OpAMP WebSocket transport (`ws://`, `wss://`): one connection, binary messages that are
//! a varint header (0) followed by the protobuf, rustls (ring) for TLS. The server may push a
//! ServerToAgent at any time; the client reads them between its own reports.

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::Message;
use tungstenite::client::IntoClientRequest;

use super::{EXCHANGE_TIMEOUT, ExchangeError, SetupError, machine};
use crate::config::OpampSection;

/// A TCP or TLS stream.
#[derive(Debug)]
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The rustls client configuration for `settings`: its CA (else Mozilla's roots) and its
/// client certificate.
pub(super) fn tls_config(settings: &OpampSection) -> Result<Arc<rustls::ClientConfig>, SetupError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    if settings.ca_file.as_os_str().is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else {
        for c in super::certificates("ca_file", &settings.ca_file)? {
            roots
                .add(CertificateDer::from(c.der().to_vec()))
                .map_err(|e| SetupError::Tls {
                    key: "ca_file",
                    path: settings.ca_file.display().to_string(),
                    why: e.to_string(),
                })?;
        }
    }
    let tls_err = |key: &'static str, path: &std::path::Path, e: String| SetupError::Tls {
        key,
        path: path.display().to_string(),
        why: e,
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_err("endpoint", &settings.ca_file, e.to_string()))?
    .with_root_certificates(roots);
    let config = if settings.client_cert.as_os_str().is_empty() {
        builder.with_no_client_auth()
    } else {
        let chain = super::certificates("client_cert", &settings.client_cert)?
            .iter()
            .map(|c| CertificateDer::from(c.der().to_vec()))
            .collect();
        let key = super::private_key(settings)?;
        let key = PrivateKeyDer::try_from(key.der().to_vec())
            .map_err(|e| tls_err("client_key", &settings.client_key, e.to_owned()))?;
        builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err("client_key", &settings.client_key, e.to_string()))?
    };
    Ok(Arc::new(config))
}

/// One WebSocket connection to the server.
pub(super) struct Connection {
    socket: tungstenite::WebSocket<Stream>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connection")
    }
}

fn transport(e: impl std::fmt::Display, settings: &OpampSection) -> ExchangeError {
    ExchangeError::Transport(crate::config::redact_in(&e.to_string(), &settings.endpoint))
}

impl Connection {
    /// Connects, with TLS for `wss://`, and upgrades with the configured headers.
    pub(super) fn open(
        settings: &OpampSection,
        tls: &Arc<rustls::ClientConfig>,
    ) -> Result<Connection, ExchangeError> {
        let mut request = settings
            .endpoint
            .as_str()
            .into_client_request()
            .map_err(|e| transport(e, settings))?;
        for (name, value) in &settings.headers {
            let (Ok(name), Ok(value)) = (
                tungstenite::http::HeaderName::try_from(name.as_str()),
                tungstenite::http::HeaderValue::try_from(value.as_str()),
            ) else {
                continue;
            };
            request.headers_mut().insert(name, value);
        }
        let uri = request.uri().clone();
        let secure = uri.scheme_str() == Some("wss");
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| transport(format!("resolving {host}: {e}"), settings))?
            .next()
            .ok_or_else(|| transport(format!("{host} has no address"), settings))?;
        let tcp = TcpStream::connect_timeout(&addr, EXCHANGE_TIMEOUT)
            .map_err(|e| transport(format!("connecting to {addr}: {e}"), settings))?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(EXCHANGE_TIMEOUT))
            .and_then(|()| tcp.set_write_timeout(Some(EXCHANGE_TIMEOUT)))
            .map_err(|e| transport(e, settings))?;
        let stream = if secure {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| transport(format!("{host}: {e}"), settings))?;
            let conn = rustls::ClientConnection::new(tls.clone(), name)
                .map_err(|e| transport(e, settings))?;
            Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        } else {
            Stream::Plain(tcp)
        };
        let limit = machine::MAX_MESSAGE_BYTES + 16;
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let (socket, _) = tungstenite::client::client_with_config(request, stream, Some(config))
            .map_err(|e| match e {
                tungstenite::HandshakeError::Failure(e) => {
                    transport(format!("WebSocket handshake: {e}"), settings)
                }
                tungstenite::HandshakeError::Interrupted(_) => {
                    transport("WebSocket handshake: timed out", settings)
                }
            })?;
        Ok(Connection { socket })
    }

    /// Sends one AgentToServer.
    pub(super) fn send(&mut self, payload: Vec<u8>) -> Result<(), ExchangeError> {
        let mut data = Vec::with_capacity(payload.len() + 1);
        data.push(0); // The header: varint 0.
        data.extend_from_slice(&payload);
        self.socket
            .send(Message::Binary(data.into()))
            .map_err(|e| ExchangeError::Transport(format!("sending: {e}")))
    }

    /// The next ServerToAgent within `limit`; `None` when none came.
    pub(super) fn receive(&mut self, limit: Duration) -> Result<Option<Vec<u8>>, ExchangeError> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let _ = self.socket.get_ref().tcp().set_read_timeout(Some(left));
            match self.socket.read() {
                Ok(Message::Binary(data)) => return strip_header(&data).map(Some),
                Ok(Message::Close(_)) => {
                    return Err(ExchangeError::Transport(
                        "the server closed the WebSocket".to_owned(),
                    ));
                }
                Ok(Message::Text(_)) => {
                    return Err(ExchangeError::Reply(machine::ReplyError::Garbage(
                        "a text frame".to_owned(),
                    )));
                }
                Ok(_) => {} // Ping, pong: tungstenite answers pings itself.
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(tungstenite::Error::Capacity(_)) => return Err(ExchangeError::TooLarge),
                Err(e) => return Err(ExchangeError::Transport(format!("reading the reply: {e}"))),
            }
        }
    }
}

/// The protobuf after the WebSocket message header (a varint that must be 0).
fn strip_header(data: &[u8]) -> Result<Vec<u8>, ExchangeError> {
    match data.split_first() {
        Some((0, rest)) => Ok(rest.to_vec()),
        _ => Err(ExchangeError::Reply(machine::ReplyError::Garbage(
            "the WebSocket message header is not 0".to_owned(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_checked() {
        assert_eq!(strip_header(&[0, 1, 2]).unwrap(), vec![1, 2]);
        assert!(strip_header(&[1, 1, 2]).is_err());
        assert!(strip_header(&[]).is_err());
    }
}
