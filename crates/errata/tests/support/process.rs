//! `errata serve` as a real process: started on a config file, its addresses read from what
//! it prints, its log lines kept, signalled and stopped like a supervisor does.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A temporary directory for one test, empty.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("errata-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A running `errata serve`, killed when dropped.
pub struct Serve {
    pub child: Child,
    /// `http://ADDR` of the public listener.
    pub base: String,
    /// `http://ADDR` of the admin listener.
    pub admin: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `errata serve --config cfg` and waits until it says where it listens.
    pub fn start(cfg: &Path) -> Serve {
        Serve::start_with(cfg, &[("RUST_LOG", Some("info"))])
    }

    /// As [`Serve::start`], with environment variables set (`Some`) or removed (`None`).
    pub fn start_with(cfg: &Path, env: &[(&str, Option<&str>)]) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_errata"));
        cmd.args(["serve", "--config"]).arg(cfg);
        for (name, value) in env {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut base, mut admin) = (None, None);
        for line in out.by_ref().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("errata gateway listening on ") {
                base = Some(rest.split(' ').next().unwrap().to_owned());
            }
            if let Some(rest) = line.trim().strip_prefix("admin API: ") {
                admin = Some(rest.split(' ').next().unwrap().to_owned());
                break;
            }
        }
        // Keep reading so the gateway never writes into a closed pipe.
        std::thread::spawn(move || for _ in out {});
        let stderr_now = stderr.lock().unwrap().join("\n");
        Serve {
            child,
            base: base.unwrap_or_else(|| panic!("the gateway did not start:\n{stderr_now}")),
            admin: admin.expect("the gateway prints its admin address"),
            stderr,
        }
    }

    /// Sends `signal` (`HUP`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{signal} failed");
    }

    /// What the process has written to standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits (up to `within`) for a line of standard error that contains `text`; the line.
    pub fn wait_for_log(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(l) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(text))
            {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {text:?} within {within:?}; the log:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits (up to `within`) for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "the gateway did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs `errata keys ARGS --config cfg` and returns its standard output.
pub fn keys(cfg: &Path, args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_errata"))
        .arg("keys")
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}
