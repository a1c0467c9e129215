//! TLS pieces on real sockets: the listener's handshake and ALPN, a certificate swapped on disk
//! reaching the next connection (and not disturbing open ones), a bad client handshake leaving
//! other connections alone, and an upstream certificate from the wrong CA refused clearly.

#[path = "../../errata/tests/support/certs.rs"]
mod certs;

use std::sync::Arc;
use std::time::{Duration, Instant};

use certs::{TestCa, client_config, temp_dir};
use errata_gateway::tls::{self, CertReloader, Protocol, TlsFiles, UpstreamTls};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A TLS echo server: each connection first writes the protocol ALPN chose ("h2" or "h1").
async fn echo_server(cert: Arc<CertReloader>) -> std::net::SocketAddr {
    let acceptor = TlsAcceptor::from(tls::server::config(cert, true).unwrap());
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Some(mut a) = tls::server::accept(&acceptor, tcp, Duration::from_secs(2)).await
                else {
                    return;
                };
                let tag: &[u8] = match a.protocol {
                    Protocol::Http2 => b"h2",
                    Protocol::Http1 => b"h1",
                };
                a.stream.write_all(tag).await.unwrap();
                let mut buf = [0u8; 64];
                while let Ok(n) = a.stream.read(&mut buf).await {
                    if n == 0 || a.stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Connects, returns the protocol tag, the server's leaf certificate and the open stream.
async fn connect(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<(
    String,
    CertificateDer<'static>,
    tokio_rustls::client::TlsStream<TcpStream>,
)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut s = TlsConnector::from(config).connect(name, tcp).await?;
    let mut tag = [0u8; 2];
    s.read_exact(&mut tag).await?;
    let leaf = s.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok((String::from_utf8_lossy(&tag).into_owned(), leaf, s))
}

fn files(dir: &std::path::Path) -> TlsFiles {
    TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}

#[tokio::test]
async fn alpn_picks_h2_when_offered_and_http1_otherwise() {
    let dir = temp_dir("alpn");
    let ca = TestCa::new("errata test CA");
    let leaf = ca.leaf(&["localhost"]);
    leaf.write(&dir, "cert.pem", "key.pem");
    let addr = echo_server(CertReloader::load(&files(&dir)).unwrap()).await;

    let (tag, cert, _) = connect(addr, client_config(ca.roots(), &[b"h2", b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(tag, "h2");
    assert_eq!(cert, leaf.der());
    let (tag, _, _) = connect(addr, client_config(ca.roots(), &[b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(tag, "h1");
    let (tag, _, _) = connect(addr, client_config(ca.roots(), &[])).await.unwrap();
    assert_eq!(tag, "h1");
}

#[tokio::test]
async fn a_certificate_swapped_on_disk_is_served_to_the_next_connection() {
    let dir = temp_dir("swap");
    let ca = TestCa::new("errata test CA");
    let old = ca.leaf(&["localhost"]);
    old.write(&dir, "cert.pem", "key.pem");
    let cert = CertReloader::load(&files(&dir)).unwrap();
    let (_stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        Arc::clone(&cert).watch(Duration::from_millis(50), async move {
            let _ = stop_rx.await;
        }),
    );
    let addr = echo_server(cert).await;
    let config = client_config(ca.roots(), &[b"http/1.1"]);
    let (_, served, mut open) = connect(addr, config).await.unwrap();
    assert_eq!(served, old.der());

    // A renewal: the new files are moved into place, as certbot and the like do.
    let new = ca.leaf(&["localhost"]);
    new.write(&dir, "cert.new", "key.new");
    std::fs::rename(dir.join("key.new"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.new"), dir.join("cert.pem")).unwrap();

    // A new client each time: a resumed session would not show the certificate again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let config = client_config(ca.roots(), &[b"http/1.1"]);
        let (_, served, _) = connect(addr, config).await.unwrap();
        if served == new.der() {
            break;
        }
        assert_eq!(served, old.der());
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The connection made before the swap goes on working.
    open.write_all(b"still here").await.unwrap();
    let mut buf = [0u8; 10];
    open.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still here");
}

#[tokio::test]
async fn a_half_finished_renewal_keeps_the_old_certificate() {
    let dir = temp_dir("half");
    let ca = TestCa::new("errata test CA");
    let old = ca.leaf(&["localhost"]);
    old.write(&dir, "cert.pem", "key.pem");
    let cert = CertReloader::load(&files(&dir)).unwrap();

    // The new certificate is in place, its key not yet.
    let new = ca.leaf(&["localhost"]);
    std::fs::write(dir.join("cert.pem"), &new.cert_pem).unwrap();
    let e = cert.reload_if_changed().unwrap_err();
    assert_eq!(e.file, dir.join("key.pem"));
    assert!(e.problem.contains("does not match the certificate"), "{e}");
    assert_eq!(cert.current().cert[0], old.der());

    std::fs::write(dir.join("key.pem"), &new.key_pem).unwrap();
    assert!(cert.reload_if_changed().unwrap());
    assert_eq!(cert.current().cert[0], new.der());
    assert!(!cert.reload_if_changed().unwrap(), "nothing changed since");
}

#[tokio::test]
async fn a_bad_client_handshake_disturbs_no_other_connection() {
    let dir = temp_dir("bad");
    let ca = TestCa::new("errata test CA");
    ca.leaf(&["localhost"]).write(&dir, "cert.pem", "key.pem");
    let addr = echo_server(CertReloader::load(&files(&dir)).unwrap()).await;
    let config = client_config(ca.roots(), &[b"h2"]);
    let (_, _, mut open) = connect(addr, Arc::clone(&config)).await.unwrap();

    // Plain HTTP on the TLS port: the server drops that connection.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut rest))
        .await
        .expect("the server closes a connection that is not TLS");
    // A client that does not trust the server's CA gives up mid-handshake.
    let stranger = client_config(TestCa::new("another CA").roots(), &[b"h2"]);
    assert!(connect(addr, stranger).await.is_err());

    open.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    open.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    assert_eq!(connect(addr, config).await.unwrap().0, "h2");
}

#[tokio::test]
async fn an_upstream_is_verified_against_its_private_ca_and_a_wrong_one_refused() {
    let dir = temp_dir("upstream");
    let ca = TestCa::new("upstream CA");
    ca.leaf(&["localhost"]).write(&dir, "cert.pem", "key.pem");
    let addr = echo_server(CertReloader::load(&files(&dir)).unwrap()).await;
    let right = ca.write(&dir, "ca.pem");
    let wrong = TestCa::new("some other CA").write(&dir, "wrong-ca.pem");

    let up = UpstreamTls::new("localhost", Some(&right)).unwrap();
    let mut s = up
        .connect(TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    let mut tag = [0u8; 2];
    s.read_exact(&mut tag).await.unwrap();
    assert_eq!(&tag, b"h1", "the upstream pool speaks HTTP/1.1");

    let up = UpstreamTls::new("localhost", Some(&wrong)).unwrap();
    let e = up
        .connect(TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "invalid peer certificate: UnknownIssuer");

    // The right CA but another name: the certificate does not name the host.
    let up = UpstreamTls::new("127.0.0.1", Some(&right)).unwrap();
    let e = up
        .connect(TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid peer certificate: certificate not valid for name \"127.0.0.1\""),
        "{e}"
    );
}
