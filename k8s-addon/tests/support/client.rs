//! A minimal HTTPS/1.1 client with a kept-alive connection (rustls + ring, trusting one CA).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};

pub struct HttpsClient {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

pub fn tls_config(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

impl HttpsClient {
    /// Connects to `addr`, verifying the server as `server_name` against `ca_pem`.
    pub async fn connect(
        addr: SocketAddr,
        server_name: &str,
        ca_pem: &str,
    ) -> std::io::Result<Self> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let connector = tokio_rustls::TlsConnector::from(tls_config(ca_pem));
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let tls = connector.connect(name, tcp).await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        Ok(Self {
            sender,
            host: server_name.to_owned(),
        })
    }

    pub async fn request(&mut self, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        self.sender.ready().await.unwrap();
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = self.sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, body)
    }
}
