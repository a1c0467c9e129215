//! With its default features the client speaks https: against a listener that records what
//! arrives, an `https://` request opens with a TLS handshake record, not a plain-HTTP request
//! line, and the handshake's failure is a network error (never "scheme not supported").
#![cfg(feature = "rustls")]

use std::time::Duration;

use errata_client::{Client, Error, RetryPolicy};
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn https_requests_open_with_a_tls_handshake() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let first_bytes = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 3];
        socket.read_exact(&mut buf).await.unwrap();
        buf
        // Dropping the socket ends the handshake.
    });
    let client = Client::builder(format!("https://{addr}"))
        .retry(RetryPolicy::never())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = client.get("/v1/ping").send::<()>().await.unwrap_err();
    let bytes = first_bytes.await.unwrap();
    // A TLS record: content type 22 (handshake), protocol version 3.x.
    assert_eq!(bytes[0], 0x16, "not a TLS handshake: {bytes:?}");
    assert_eq!(bytes[1], 0x03);
    assert!(matches!(err, Error::Network(_)), "{err:?}");
}
