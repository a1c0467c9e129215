//! `errata sdk python|typescript`: writes an SDK generated from a catalog into a folder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use errata_core::Catalog;

#[derive(Subcommand, Debug)]
pub enum SdkCommand {
    /// An installable Python project (`pip install DIR`): sync and async clients, typed errors.
    Python(SdkArgs),
    /// An npm package of ESM JavaScript with .d.ts types, on the platform's fetch.
    Typescript(SdkArgs),
}

#[derive(Args, Debug)]
pub struct SdkArgs {
    /// The catalog file; the built-in default catalog when left out.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// The folder to write the SDK into (created if missing).
    #[arg(short, long)]
    output: PathBuf,
    /// The package name (Python: the import package, e.g. `kaplaix`; npm: e.g.
    /// `@kaplaix/sdk-ts`). Default: derived from the catalog's name.
    #[arg(long)]
    package: Option<String>,
    /// The client class (`Kaplaix`); errors are named after it (`KaplaixError`). Default:
    /// derived from the catalog's name.
    #[arg(long)]
    class: Option<String>,
}

pub fn run(
    cmd: SdkCommand,
    load: fn(Option<&Path>) -> Result<Catalog, String>,
) -> Result<ExitCode, String> {
    let (args, python) = match cmd {
        SdkCommand::Python(a) => (a, true),
        SdkCommand::Typescript(a) => (a, false),
    };
    let catalog = load(args.catalog.as_deref())?;
    let options = errata_sdk::Options {
        package: args.package,
        class: args.class,
    };
    let files = if python {
        errata_sdk::python(&catalog, &options)
    } else {
        errata_sdk::typescript(&catalog, &options)
    }
    .map_err(|e| e.to_string())?;
    errata_sdk::write(&args.output, &files)?;
    eprintln!(
        "wrote {} files of the {} SDK to {}",
        files.len(),
        if python { "Python" } else { "TypeScript" },
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
