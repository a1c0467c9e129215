//! `errata serve`: the gateway (and the demo), with what every store-reading subcommand
//! shares: the config, the store flags, the runtime and logs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use errata::config::Config;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The gateway config (TOML); embedded defaults when left out.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Start the bundled example service as the upstream, create a test key and print curl
    /// commands that show a success and each kind of error.
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

/// The runtime for the admin listener and background work; the public listener runs on the
/// gateway's own worker threads, so one thread is plenty here.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// JSON logs to standard error, `RUST_LOG` to filter (default `info`).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .try_init();
}

pub fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let cfg = load_config(args.config.as_deref())?;
    init_logs();
    let rt = runtime()?;
    if args.demo {
        rt.block_on(crate::demo::run(cfg))?;
    } else {
        let generated_token = cfg.admin_token.is_none();
        rt.block_on(async {
            let (upstream, store, counters) = (
                cfg.gateway.upstream.clone(),
                cfg.gateway.store_url.clone(),
                cfg.gateway.counters_url.clone(),
            );
            errata::serve::run(cfg, |r| {
                let admin = if generated_token {
                    format!("http://{} (token for this run: {})", r.admin_addr, r.admin_token)
                } else {
                    format!("http://{}", r.admin_addr)
                };
                // A closed stdout (a supervisor that stopped reading) must not stop the gateway.
                let _ = writeln!(
                    std::io::stdout(),
                    "errata gateway listening on http://{} -> {upstream}\n  store {store}, counters {counters}\n  error reference: http://{}{}\n  admin API: {admin}",
                    r.addr, r.addr, r.gateway.config.errors_path
                );
            })
            .await
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

