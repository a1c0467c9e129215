//! `errata server python|typescript`: writes a server package generated from a catalog.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use errata_core::Catalog;

#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// An installable Python package (`pip install DIR`): one exception per code, and
    /// `install(app)` for FastAPI and Starlette.
    Python(ServerArgs),
    /// An npm package of ESM JavaScript with .d.ts types: one error class per code, an Express
    /// error middleware and a Hono `onError` handler.
    Typescript(ServerArgs),
}

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// The catalog file; the built-in default catalog when left out.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// The folder to write the package into (created if missing).
    #[arg(short, long)]
    output: PathBuf,
    /// The package name (Python: the import package, e.g. `kaplaix_server`; npm: e.g.
    /// `@kaplaix/server`). Default: derived from the catalog's name.
    #[arg(long)]
    package: Option<String>,
}

pub fn run(
    cmd: ServerCommand,
    load: fn(Option<&Path>) -> Result<Catalog, String>,
) -> Result<ExitCode, String> {
    let (args, python) = match cmd {
        ServerCommand::Python(a) => (a, true),
        ServerCommand::Typescript(a) => (a, false),
    };
    let catalog = load(args.catalog.as_deref())?;
    let options = errata_sdk::ServerOptions {
        package: args.package,
    };
    let files = if python {
        errata_sdk::server_python(&catalog, &options)
    } else {
        errata_sdk::server_typescript(&catalog, &options)
    }
    .map_err(|e| e.to_string())?;
    errata_sdk::write(&args.output, &files)?;
    eprintln!(
        "wrote {} files of the {} server package to {}",
        files.len(),
        if python { "Python" } else { "TypeScript" },
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
