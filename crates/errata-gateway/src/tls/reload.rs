//! A certificate that follows its files: a resolver whose certificate is swapped when the PEM
//! files change (polled by size and modification time, which costs two `stat`s a poll) or when
//! the process gets SIGHUP.
//!
//! A handshake takes the certificate current at that moment; connections already made keep
//! theirs, so a renewal drops nothing. A reload that fails (a half-written file, a key that no
//! longer matches) is logged and the old certificate stays; the next poll tries again, so
//! writing the certificate and then the key converges once both are in place.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{TlsError, TlsFiles, pem};

/// How often the certificate files are checked for changes.
pub const RELOAD_POLL: Duration = Duration::from_secs(1);

/// What a file looked like when last read: its size and modification time.
type Stamp = Option<(u64, SystemTime)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// The listener's certificate, and the files it comes from.
#[derive(Debug)]
pub struct CertReloader {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    /// The stamps of the files last tried, loaded or not, so a bad pair is reported once.
    seen: Mutex<(Stamp, Stamp)>,
}

impl CertReloader {
    /// Loads the certificate now; failing here stops the gateway from starting.
    pub fn load(files: &TlsFiles) -> Result<Arc<CertReloader>, TlsError> {
        let seen = (stamp(&files.cert), stamp(&files.key));
        let key = pem::certified_key(files)?;
        Ok(Arc::new(CertReloader {
            files: files.clone(),
            current: RwLock::new(key),
            seen: Mutex::new(seen),
        }))
    }

    /// The files this certificate comes from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The certificate new handshakes get.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reads the files again and swaps the certificate in. On error the old one stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let seen = (stamp(&self.files.cert), stamp(&self.files.key));
        if let Ok(mut s) = self.seen.lock() {
            *s = seen;
        }
        let key = pem::certified_key(&self.files)?;
        match self.current.write() {
            Ok(mut c) => *c = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
        Ok(())
    }

    /// Reloads if either file changed since it was last read; `Ok(true)` when it did.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = (stamp(&self.files.cert), stamp(&self.files.key));
        let changed = self.seen.lock().map(|s| *s != now).unwrap_or(true);
        if !changed {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// Polls the files every `every` (and reloads on SIGHUP) until `stop` resolves. Outcomes are
    /// logged: a reload at info, a failed one at warn.
    pub async fn watch(
        self: Arc<Self>,
        every: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut hup = hangup();
        tokio::pin!(stop);
        loop {
            let forced = tokio::select! {
                _ = tick.tick() => false,
                _ = hup.recv() => true,
                () = &mut stop => return,
            };
            let res = if forced {
                self.reload().map(|()| true)
            } else {
                self.reload_if_changed()
            };
            let cert = self.files.cert.display();
            match res {
                Ok(true) => tracing::info!(cert = %cert, "TLS certificate reloaded"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificate not reloaded; keeping the previous one")
                }
            }
        }
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// SIGHUP, where there is such a thing; otherwise a signal that never comes.
struct Hangup(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Hangup {
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = self.0.as_mut() {
            if s.recv().await.is_some() {
                return;
            }
            // The signal driver is gone: no more hangups will come.
            self.0 = None;
        }
        std::future::pending::<()>().await
    }
}

fn hangup() -> Hangup {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        Hangup(signal(SignalKind::hangup()).ok())
    }
    #[cfg(not(unix))]
    Hangup()
}
