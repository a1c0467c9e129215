//! The log lines of a whole test binary (the in-process gateway's), captured once.

use std::sync::{Arc, Mutex, OnceLock};

/// Every line logged at `level` or above, from the first call on; the first call's level
/// holds for the binary (one global subscriber).
pub fn captured(level: tracing::Level) -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buf);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || Writer(Arc::clone(&writer)))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
    .clone()
}

/// The first captured line that `matches`; `what` names it when there is none.
pub fn line(level: tracing::Level, what: &str, matches: impl Fn(&str) -> bool) -> String {
    let buf = captured(level);
    let text = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    text.lines()
        .find(|l| matches(l))
        .unwrap_or_else(|| panic!("no {what} in:\n{text}"))
        .to_owned()
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
