//! The process's log lines, on standard error: one JSON object a line (`log_format = "json"`,
//! for a log collector) or one line of text an event (`"text"`, for a terminal), filtered by
//! `log_level`, or by `RUST_LOG` when that is set. The filter can change while the process
//! runs ([`set_level`], for a config reload); the format is fixed at start.

use std::sync::OnceLock;

use errata_gateway::config::{LogFormat, log_level_problem};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// The target of the start-up note about `RUST_LOG` and of level changes.
const TARGET: &str = "errata::logs";

type Handle = reload::Handle<EnvFilter, Registry>;
type Filtered = Layered<reload::Layer<EnvFilter, Registry>, Registry>;

struct Installed {
    handle: Handle,
    /// `RUST_LOG`, when it was set at start: it wins over `log_level`, then and on reloads.
    rust_log: Option<String>,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Sets up the process's logs: `format` on standard error, filtered by `RUST_LOG` when it is
/// set (and not empty), else by `level` (an `EnvFilter` directive such as `"info"` or
/// `"info,errata::access=warn"`). Fails on a filter that cannot be read, or when the logs are
/// already set up.
pub fn init(format: LogFormat, level: &str) -> Result<(), String> {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let filter = match &rust_log {
        Some(env) => EnvFilter::builder()
            .parse(env)
            .map_err(|e| format!("RUST_LOG `{env}` is not a log filter: {e}"))?,
        None => filter(level)?,
    };
    let (filter, handle) = reload::Layer::new(filter);
    Registry::default()
        .with(filter)
        .with(format_layer(format, std::io::stderr))
        .try_init()
        .map_err(|e| format!("cannot set up the logs: {e}"))?;
    if let Some(env) = &rust_log
        && env != level
    {
        tracing::info!(
            target: TARGET,
            rust_log = %env,
            log_level = %level,
            "RUST_LOG is set: it filters the logs instead of log_level"
        );
    }
    INSTALLED
        .set(Installed { handle, rust_log })
        .map_err(|_| "the logs are already set up".to_owned())
}

/// Changes what the running process logs to `directive` (the new `log_level`), from the next
/// event on. While `RUST_LOG` (set at start) filters the logs it keeps doing so: the change is
/// noted and nothing else happens. Fails on a directive that cannot be read (the level stays
/// as it was), or before [`init`].
pub fn set_level(directive: &str) -> Result<(), String> {
    let installed = INSTALLED
        .get()
        .ok_or_else(|| "the logs are not set up".to_owned())?;
    let new = filter(directive)?;
    if let Some(env) = &installed.rust_log {
        tracing::info!(
            target: TARGET,
            rust_log = %env,
            log_level = %directive,
            "log_level changed; RUST_LOG is set and still filters the logs"
        );
        return Ok(());
    }
    apply(&installed.handle, new)?;
    tracing::info!(target: TARGET, log_level = %directive, "log level changed");
    Ok(())
}

/// The filter a `log_level` directive describes, refused as the config check refuses it.
fn filter(directive: &str) -> Result<EnvFilter, String> {
    if let Some((problem, help)) = log_level_problem(directive) {
        return Err(format!("{problem}; {help}"));
    }
    EnvFilter::builder()
        .parse(directive)
        .map_err(|e| format!("log_level `{directive}` is not a log filter: {e}"))
}

fn apply(handle: &Handle, filter: EnvFilter) -> Result<(), String> {
    handle
        .reload(filter)
        .map_err(|e| format!("cannot change the log level: {e}"))
}

/// The lines themselves: JSON objects (the event's fields under `fields`) or text, written by
/// `writer`. Text has no colours: it reads the same in a terminal, a file and a journal.
fn format_layer<W>(format: LogFormat, writer: W) -> Box<dyn Layer<Filtered> + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_writer(writer)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer)
            .boxed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Everything written, shared with the test.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Sink {
        type Writer = Sink;
        fn make_writer(&'a self) -> Sink {
            self.clone()
        }
    }

    impl Sink {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    /// What each format writes for one event, and what a changed level lets through.
    fn logged(format: LogFormat, steps: impl FnOnce(&Handle)) -> Vec<String> {
        let sink = Sink::default();
        let (filter, handle) = reload::Layer::new(filter("info").unwrap());
        let subscriber = Registry::default()
            .with(filter)
            .with(format_layer(format, sink.clone()));
        tracing::subscriber::with_default(subscriber, || steps(&handle));
        sink.lines()
    }

    #[test]
    fn set_level_changes_what_is_logged_from_the_next_event() {
        let lines = logged(LogFormat::Json, |handle| {
            tracing::info!(target: "errata::access", status = 200u16, "first");
            apply(handle, filter("warn").unwrap()).unwrap();
            tracing::info!(target: "errata::access", status = 201u16, "hidden");
            tracing::warn!(target: "errata::gateway", "shown");
            apply(handle, filter("warn,errata::access=info").unwrap()).unwrap();
            tracing::info!(target: "errata::access", status = 202u16, "again");
            tracing::info!(target: "errata::other", "still hidden");
        });
        let events: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let messages: Vec<(&str, &str)> = events
            .iter()
            .map(|e| {
                (
                    e["target"].as_str().unwrap(),
                    e["fields"]["message"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            messages,
            [
                ("errata::access", "first"),
                ("errata::gateway", "shown"),
                ("errata::access", "again"),
            ]
        );
        assert_eq!(events[0]["level"], "INFO");
        assert_eq!(events[0]["fields"]["status"], 200);
    }

    #[test]
    fn text_is_one_plain_line_an_event() {
        let lines = logged(LogFormat::Text, |_| {
            tracing::info!(target: "errata::access", request_id = "req_1", status = 200u16);
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let (time, rest) = lines[0].split_once(' ').unwrap();
        assert!(time.ends_with('Z'), "{time}");
        assert_eq!(
            rest.trim_start(),
            "INFO errata::access: request_id=\"req_1\" status=200"
        );
    }

    #[test]
    fn a_misspelt_level_is_refused_and_changes_nothing() {
        assert_eq!(
            filter("infoo").unwrap_err(),
            "log_level `infoo`: `infoo` is not a level; did you mean `info`?"
        );
        assert_eq!(
            filter("info,errata::access=loud").unwrap_err(),
            "log_level `info,errata::access=loud` is not a log filter: error parsing level filter: expected one of \"off\", \"error\", \"warn\", \"info\", \"debug\", \"trace\", or a number 0-5; give a level (error, warn, info, debug, trace) or directives such as \"info,errata::access=warn\""
        );
        assert_eq!(
            set_level("info").unwrap_err(),
            "the logs are not set up",
            "a unit test process never sets up the logs"
        );
    }
}
