//! `errata serve`: the gateway (and the demo), with what every store-reading subcommand
//! shares: the config, the store flags, the runtime and logs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use errata::config::Config;
use errata_core::Condition;
use errata_store::db::{self, KeyStore};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The gateway config (TOML); embedded defaults when left out.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Start the bundled example service as the upstream, create four test keys and print
    /// curl commands that show a success and each kind of error, then the console's address
    /// and admin token and the commands that look up the demo's keys and request log.
    ///
    /// The demo's state (keys, request log) is a SQLite file in a temporary directory, named
    /// in what it prints and removed when it stops. With --config, the demo takes from the
    /// file the catalog, the listeners and their TLS, [admin] (listen, token), [portal], the
    /// counters, [timeouts], [key_cache], [failure], [idempotency], [request_log], workers,
    /// max_connections, trusted proxies and request id header, errors_path and key_prefix;
    /// it keeps its own upstream (the example service), routes, plans, [limits], key headers
    /// and store (a temporary file).
    #[arg(long)]
    pub demo: bool,
}

#[derive(Args, Debug)]
pub struct StoreArgs {
    /// The gateway config whose store (and key prefix, plans) to use; embedded defaults when
    /// left out.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A store URL, overriding the config's (`sqlite://errata-keys.db`).
    #[arg(long)]
    pub store: Option<String>,
}

pub fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::from_file(p),
        None => Ok(Config::embedded()),
    }
}

/// The config `at` names (embedded defaults without `--config`) and the store it points at
/// (`--store` over the config's). Only a subcommand that may `create` the store makes one that
/// does not exist yet; for any other a SQLite file that is not there is an error saying where
/// it looked and where else to look, and no file is made.
pub async fn open_store_for(
    at: &StoreArgs,
    create: bool,
) -> Result<(Config, Arc<dyn KeyStore>), String> {
    let mut cfg = load_config(at.config.as_deref())?;
    if let Some(url) = &at.store {
        cfg.gateway.store_url = url.clone();
    }
    let url = cfg.gateway.store_url.clone();
    let store = if create {
        errata::serve::open_store(&url).await?
    } else {
        if let Some(file) = db::sqlite_file(&url)
            && !file.exists()
        {
            return Err(no_store(&file, at));
        }
        db::open_existing(&url)
            .await
            .map_err(|e| format!("cannot open the key store {url}: {e}"))?
    };
    Ok((cfg, store))
}

/// The error for a SQLite store file that does not exist.
fn no_store(file: &Path, at: &StoreArgs) -> String {
    let shown = if file.is_relative() && !file.starts_with(".") {
        Path::new(".").join(file)
    } else {
        file.to_path_buf()
    };
    let whose = match (&at.store, &at.config) {
        (Some(_), _) => "the store --store names".to_owned(),
        (None, Some(config)) => format!("the store of {}", config.display()),
        (None, None) => "the default store".to_owned(),
    };
    format!(
        "no store at {} ({whose}), and this command does not make one\n  \
         help: `errata serve` and `errata keys create` make it; the demo keeps its state in the \
         file its start-up text names, while it runs. Pass --store sqlite://FILE or --config \
         FILE to use another store",
        shown.display()
    )
}

/// `s` as one word of a POSIX shell command.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:+=@,%".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// How long `errata serve` waits at start for its upstream to accept a connection.
const UPSTREAM_PROBE: Duration = Duration::from_millis(500);

/// Whether something accepts a TCP connection at the upstream URL's host and port, within
/// [`UPSTREAM_PROBE`]. A URL without a host (the config refuses those) counts as answering:
/// there is nothing to warn about that the config check has not said.
async fn upstream_answers(url: &str) -> bool {
    let Ok(uri) = url.parse::<axum::http::Uri>() else {
        return true;
    };
    let Some(host) = uri.host() else {
        return true;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    let connect = tokio::net::TcpStream::connect((host, port));
    matches!(
        tokio::time::timeout(UPSTREAM_PROBE, connect).await,
        Ok(Ok(_))
    )
}

/// The start-up warning for an upstream that does not answer; the gateway starts anyway, as
/// the upstream may come later.
fn upstream_warning(cfg: &Config) -> String {
    let upstream = &cfg.gateway.upstream;
    let answer = cfg.gateway.catalog.code_for(Condition::UpstreamUnreachable);
    let mut warning = format!(
        "warning: nothing answers at {upstream} yet; requests will get {} {} until it does.",
        answer.status, answer.code
    );
    if upstream == errata_gateway::config::DEFAULT_UPSTREAM {
        warning.push_str(
            "\n  To try errata with an example service: `cargo run -p kaplaix-events` in errata's \
             repository (it listens on 127.0.0.1:3000), or `errata serve --demo` for the gateway \
             and the example service in one.",
        );
    } else {
        warning.push_str("\n  Start it, or point `upstream` in the config at it.");
    }
    warning
}

/// The runtime for the admin listener and background work; the public listener runs on the
/// gateway's own worker threads, so one thread is plenty here.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

pub fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_deref())?;
    errata::logs::init(cfg.gateway.log_format, &cfg.gateway.log_level)?;
    let rt = runtime()?;
    if args.demo {
        rt.block_on(crate::demo::run(cfg, args.config.as_deref()))?;
    } else {
        let generated_token = cfg.admin_token.is_none();
        rt.block_on(async {
            let (upstream, store, counters) = (
                cfg.gateway.upstream.clone(),
                cfg.gateway.store_url.clone(),
                cfg.gateway.counters_url.clone(),
            );
            let warning =
                (!upstream_answers(&upstream).await).then(|| upstream_warning(&cfg));
            errata::serve::run(cfg, args.config.as_deref(), |r| {
                let admin = if generated_token {
                    format!("http://{} (token for this run: {})", r.admin_addr, r.admin_token)
                } else {
                    format!("http://{}", r.admin_addr)
                };
                // A closed stdout (a supervisor that stopped reading) must not stop the gateway.
                let _ = writeln!(
                    std::io::stdout(),
                    "errata gateway listening on http://{} -> {upstream}\n  store {store}, counters {counters}\n  error reference: http://{}{}\n  admin API: {admin}",
                    r.addr, r.addr, r.gateway().config.errors_path
                );
                if let Some(w) = warning {
                    eprintln!("{w}");
                }
            })
            .await
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_upstream_warning_names_the_example_service() {
        assert_eq!(
            upstream_warning(&Config::embedded()),
            "warning: nothing answers at http://127.0.0.1:3000 yet; requests will get 502 bad_gateway until it does.\n  To try errata with an example service: `cargo run -p kaplaix-events` in errata's repository (it listens on 127.0.0.1:3000), or `errata serve --demo` for the gateway and the example service in one."
        );
    }
}
