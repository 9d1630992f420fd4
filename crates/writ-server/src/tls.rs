//! Optional TLS for the API (rustls with the ring provider), from PEM files named in
//! `ServerConfig.tls`.
//!
//! TLS handshakes run in their connections' own tasks, so a slow or silent client never holds up
//! the accept loop; they are served by the same loop as plain TCP ([`crate::serve`]), with its
//! limits and the graceful shutdown of [`crate::run`] (in-flight requests finish).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
pub use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;
use crate::error::ServerError;
use crate::state::AppState;

/// How long a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the PEM certificate chain and private key and builds a TLS acceptor (HTTP/1.1 over
/// TLS 1.2 and 1.3). Errors name the file and what to fix.
pub fn load_acceptor(tls: &TlsConfig) -> Result<TlsAcceptor, ServerError> {
    let certs = read_certs(&tls.cert)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| {
        ServerError::Config(format!(
            "{}: no usable PEM private key ({e}); give a PKCS#8, PKCS#1 or SEC1 key in PEM form",
            tls.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Config(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            ServerError::Config(format!(
                "{} and {} do not make a usable certificate and key pair: {e}",
                tls.cert.display(),
                tls.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| {
            ServerError::Config(format!(
                "cannot read the TLS certificate {}: {e}",
                path.display()
            ))
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ServerError::Config(format!(
                "{}: not a PEM certificate chain ({e})",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(ServerError::Config(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

/// Like [`crate::run`], over TLS: serves until `shutdown` resolves, then finishes in-flight
/// requests. Each handshake runs in its connection's slot (see [`crate::serve`]) and must end
/// within [`HANDSHAKE_TIMEOUT`].
pub async fn run_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = crate::serve::Limits::from_config(&state.config);
    let sweep = crate::lease::spawn_sweep(Arc::clone(&state));
    let app = crate::api::router(state);
    let served = crate::serve::serve(listener, app, limits, shutdown, move |tcp: TcpStream| {
        let acceptor = acceptor.clone();
        async move {
            let _ = tcp.set_nodelay(true);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => Some(stream),
                _ => None,
            }
        }
    })
    .await;
    sweep.stop().await;
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_garbage_pem_files_are_refused_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let cfg = TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
        };
        let err = load_acceptor(&cfg).err().unwrap().to_string();
        assert!(err.contains("cert.pem"), "{err}");
        std::fs::write(&cert, "not pem").unwrap();
        std::fs::write(&key, "not pem").unwrap();
        let err = load_acceptor(&cfg).err().unwrap().to_string();
        assert!(err.contains("cert.pem"), "{err}");
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        let err = load_acceptor(&cfg).err().unwrap().to_string();
        assert!(err.contains("key.pem"), "{err}");
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        assert!(load_acceptor(&cfg).is_ok());
    }

    /// A real server over TLS: a client that trusts the certificate gets an answer, a plain
    /// HTTP client gets none, and shutdown finishes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_https_with_the_configured_certificate() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let dir = tempfile::tempdir().unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let tls = TlsConfig {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        std::fs::write(&tls.cert, ck.cert.pem()).unwrap();
        std::fs::write(&tls.key, ck.signing_key.serialize_pem()).unwrap();
        let config = crate::ServerConfig {
            data_dir: dir.path().join("data"),
            tls: Some(tls.clone()),
            ..crate::ServerConfig::default()
        };
        crate::init_data_dir(&config, &[]).unwrap();
        let state = AppState::open(config, Arc::new(writ_model::SystemClock)).unwrap();
        let acceptor = load_acceptor(&tls).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(run_tls(listener, acceptor, state, async move {
            let _ = rx.await;
        }));

        let mut roots = rustls::RootCertStore::empty();
        roots.add(ck.cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls_stream = connector.connect(name, tcp).await.unwrap();
        tls_stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tls_stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains(r#"{"status":"ok"}"#), "{answer}");

        // Plain HTTP on the TLS port gets no HTTP answer.
        let mut plain = TcpStream::connect(addr).await.unwrap();
        plain
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
        assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
