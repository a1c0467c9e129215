//! `kaplaix-events --catalog FILE --listen ADDR`: the Kaplaix-style event service.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use errata_core::Catalog;

/// A Kaplaix-style event ingestion service on errata-axum.
#[derive(Parser)]
struct Args {
    /// The error catalog (default: errata's built-in catalog).
    #[arg(long, value_name = "FILE")]
    catalog: Option<PathBuf>,
    /// Where to listen; by default where a plain `errata serve` sends its requests.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// The SQLite database.
    #[arg(long, value_name = "URL", default_value = "sqlite::memory:")]
    database: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    let args = Args::parse();
    let catalog = match &args.catalog {
        None => Catalog::builtin().clone(),
        Some(path) => match Catalog::from_file(path) {
            Ok(c) => c,
            Err(diags) => {
                eprintln!("{}", diags.render(&path.display().to_string()));
                return ExitCode::FAILURE;
            }
        },
    };
    let name = catalog.name().to_owned();
    let app = match kaplaix_events::app(Arc::new(catalog), &args.database).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: cannot open {}: {e}", args.database);
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    println!("kaplaix-events listening on http://{addr} (catalog: {name})");
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
