//! `errata`: the command line of the errata error layer.

mod cli;
mod config_cli;
mod demo;
mod gateway_cli;
mod keys_cli;
mod requests_cli;
mod sdk_cli;
mod server_cli;

use std::process::ExitCode;

use clap::Parser;

/// The gateway allocates and frees small objects on every request (headers, ids, futures);
/// mimalloc's per-thread free lists serve that with less work than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Gives back what this thread's heap holds free (all of it when `all`). mimalloc returns
/// freed pages to the system only as it allocates more; a worker that has gone quiet after
/// thousands of connections would otherwise keep their memory.
fn collect_freed(all: bool) {
    // SAFETY: mi_collect only walks and purges the calling thread's own heap.
    unsafe { libmimalloc_sys::mi_collect(all) }
}

fn main() -> ExitCode {
    errata_gateway::worker::set_idle_hook(collect_freed);
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(message) => {
            if already_an_error(&message) {
                eprintln!("{message}");
            } else {
                eprintln!("error: {message}");
            }
            ExitCode::from(2)
        }
    }
}

/// Whether a message already says where it is and that it is an error: problems rendered as
/// `file:line:column: error: ...` (a config or catalog file) are printed as they are, every
/// other message gets `error: ` in front, so that each problem reads `error:` once.
fn already_an_error(message: &str) -> bool {
    message
        .lines()
        .next()
        .is_some_and(|first| first.contains(": error: "))
}
