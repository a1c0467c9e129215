//! A tiny, fast upstream for the load benchmark (`bench/run.sh`): answers every request with a
//! small JSON body over HTTP/1.1 keep-alive, straight on hyper (no router, no middleware), so
//! the numbers measure the proxy in front of it rather than the upstream.
//!
//! ```sh
//! cargo build --release -p errata-gateway --example bench_upstream
//! target/release/examples/bench_upstream 127.0.0.1:18080 1   # address, tokio worker threads
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const BODY: &[u8] = br#"{"ok":true,"service":"bench-upstream","items":[1,2,3]}"#;

async fn answer(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::from_static(BODY)));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(res)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:18080".to_owned())
        .parse()
        .expect("usage: bench_upstream [ADDR] [WORKER_THREADS]");
    let threads: usize = args
        .next()
        .map(|t| t.parse().expect("WORKER_THREADS is a number"))
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(addr).await.expect("bind");
        eprintln!("bench_upstream on http://{addr} ({threads} worker thread(s))");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    });
}
