//! A TLS endpoint on loopback in front of the emulator, with a certificate authority made for it,
//! so that tests and the benchmark call "AWS" over HTTPS as functions do in Lambda: a handshake
//! on every new connection, a certificate checked against the roots the function trusts.
//!
//! The authority is generated at start and lives only in memory and in the PEM file a process is
//! given through `AWS_CA_BUNDLE` (and `SSL_CERT_FILE` for Python): nothing here is trusted by
//! anything that is not told to.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A running TLS endpoint. It stops accepting when dropped.
pub struct TlsFront {
    endpoint: String,
    authority_pem: String,
    authority_file: PathBuf,
    system_roots_and_authority_file: PathBuf,
    stop: Option<oneshot::Sender<()>>,
}

/// Where Debian, Ubuntu and Alpine keep the operating system's root certificates.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

impl TlsFront {
    /// A TLS endpoint on a free loopback port that passes every connection's bytes, decrypted,
    /// to `backend` (`http://127.0.0.1:PORT`), with a certificate for `localhost` and `127.0.0.1`
    /// signed by an authority of its own. Panics (failing the test) if it cannot start.
    pub fn start(backend: &str) -> TlsFront {
        let backend: SocketAddr = backend
            .trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|error| panic!("the TLS front needs http://IP:PORT, not {backend}: {error}"));
        let (authority_pem, chain, key) = certificates();
        let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
            .unwrap_or_else(|error| panic!("the TLS front's settings: {error}"));
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding the TLS front");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let port = listener.local_addr().expect("the TLS front's address").port();
        let (stop, stopped) = oneshot::channel();
        // A runtime of its own on its own thread, like the emulator's own process: it serves
        // whatever runtime (or none) the test uses.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the TLS front's runtime");
            runtime.block_on(serve(listener, acceptor, backend, stopped));
        });

        let authority_file = std::env::temp_dir().join(format!("testkit-tls-front-{}-{port}.pem", std::process::id()));
        std::fs::write(&authority_file, &authority_pem).expect("writing the TLS front's authority");
        let system_roots = std::fs::read_to_string(SYSTEM_ROOTS).unwrap_or_default();
        let system_roots_and_authority_file = authority_file.with_extension("system.pem");
        std::fs::write(
            &system_roots_and_authority_file,
            format!("{system_roots}\n{authority_pem}"),
        )
        .expect("writing the system's roots and the TLS front's authority");
        TlsFront {
            endpoint: format!("https://localhost:{port}"),
            authority_pem,
            authority_file,
            system_roots_and_authority_file,
            stop: Some(stop),
        }
    }

    /// The endpoint's URL, for `AWS_ENDPOINT_URL`: `https://localhost:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The authority that signed the endpoint's certificate, PEM-encoded.
    pub fn authority_pem(&self) -> &str {
        &self.authority_pem
    }

    /// The same, as a file: the value of `AWS_CA_BUNDLE` for a process that should trust it.
    pub fn authority_file(&self) -> &Path {
        &self.authority_file
    }

    /// The operating system's root certificates and the authority, as one file: the value of
    /// `SSL_CERT_FILE` for a program that reads the system's roots (the SDK's default HTTPS
    /// client does, through rustls-native-certs), so it trusts the endpoint at the cost it pays
    /// for the system's roots.
    pub fn system_roots_and_authority_file(&self) -> &Path {
        &self.system_roots_and_authority_file
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_file(&self.authority_file);
        let _ = std::fs::remove_file(&self.system_roots_and_authority_file);
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: TlsAcceptor,
    backend: SocketAddr,
    mut stopped: oneshot::Receiver<()>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let client = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(_) => continue,
            },
        };
        let acceptor = acceptor.clone();
        // Without it, each small TLS record waits on the peer's delayed acknowledgement (Nagle's
        // algorithm): tens of milliseconds per call that no AWS endpoint adds.
        let _ = client.set_nodelay(true);
        tokio::spawn(async move {
            // A failed handshake (a client that does not trust the authority) ends only its
            // own connection; the client sees the TLS alert.
            let Ok(mut client) = acceptor.accept(client).await else {
                return;
            };
            let Ok(mut upstream) = TcpStream::connect(backend).await else {
                return;
            };
            let _ = upstream.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
}

/// A fresh authority, and a certificate for `localhost` and `127.0.0.1` signed by it: (the
/// authority's PEM, the server's chain, the server's key).
fn certificates() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut authority = CertificateParams::default();
    authority
        .distinguished_name
        .push(DnType::CommonName, "testkit local authority (tests only)");
    authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    authority.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let authority_key = KeyPair::generate().expect("an authority key");
    let authority = authority
        .self_signed(&authority_key)
        .expect("the authority's certificate");

    let mut server =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("the server's names");
    server.distinguished_name.push(DnType::CommonName, "localhost");
    let server_key = KeyPair::generate().expect("a server key");
    let server = server
        .signed_by(&server_key, &authority, &authority_key)
        .expect("the server's certificate");

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    (authority.pem(), vec![server.der().clone()], key)
}
