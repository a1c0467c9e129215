//! A panic: the client gets the catalog's internal error with the request id; the message goes
//! to the log, inside the request's span (with the same id).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use crate::common::{Reply, Setup, app, catalog, client, serve};

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = self.0.lock() {
            log.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Sink {
    type Writer = Sink;
    fn make_writer(&'a self) -> Sink {
        self.clone()
    }
}

/// The log of this test binary: one global subscriber (a thread-local one misses events while
/// other tests run), read back by request id.
fn log() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Sink::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        sink
    })
}

#[tokio::test]
async fn a_panic_message_goes_to_the_log_never_to_the_client() {
    let sink = log();

    let klayrai = catalog("klayrai");
    let base = serve(app(klayrai.clone(), &Setup::default(), Arc::default())).await;
    let reply = Reply::from(
        client()
            .get(format!("{base}/panic"))
            .send()
            .await
            .expect("request"),
    )
    .await;

    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.json(),
        serde_json::json!({"error": {
            "type": "api_error",
            "message": "An internal error occurred. Please try again. If the problem persists, contact support@klayrai.com."
        }})
    );
    let id = reply
        .header("x-request-id")
        .expect("a request id")
        .to_owned();
    let log = String::from_utf8_lossy(&sink.0.lock().expect("log").clone()).to_string();
    let line = log
        .lines()
        .find(|l| l.contains("handler panicked") && l.contains(&id))
        .unwrap_or_else(|| panic!("no panic in the log:\n{log}"));
    assert!(line.contains("hunter2"), "the message is logged: {line}");
    assert!(
        line.contains(&format!("request_id={id}")),
        "in the request's span: {line}"
    );
    assert!(!String::from_utf8_lossy(&reply.raw).contains("hunter2"));
}
