//! `errata`: the command line of the errata error layer.

mod cli;
mod demo;
mod gateway_cli;
mod sdk_cli;
mod server_cli;

use std::process::ExitCode;

use clap::Parser;

/// The gateway allocates and frees small objects on every request (headers, ids, futures);
/// mimalloc's per-thread free lists serve that with less work than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
