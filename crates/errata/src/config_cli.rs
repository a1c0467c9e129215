//! `errata config check FILE...`: a gateway config read as `errata serve` reads it, every
//! problem at once with its line, plus what only the file system can say before a start (the
//! folder of a SQLite store). Nothing is connected to, written or started: it can run before
//! a deploy, or as a service manager's pre-start step.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use errata::config::Config;
use errata_core::{Diagnostic, Diagnostics, LineIndex};
use serde::Deserialize;
use toml::Spanned;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check gateway configs as `errata serve` reads them, without starting anything: every
    /// problem at once, with file:line and the fix (catalog, TLS files, SQLite store folder
    /// included). Exit 1 on any error.
    Check {
        /// Config files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(cmd: ConfigCommand) -> Result<ExitCode, String> {
    match cmd {
        ConfigCommand::Check { files } => Ok(check(&files)),
    }
}

fn check(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for path in files {
        let name = path.display().to_string();
        match check_one(path) {
            Ok(cfg) => println!("{name}: ok: {}", summary(&cfg)),
            Err(diags) => {
                failed = true;
                eprintln!("{}", diags.render(&name));
                let errors = diags.errors().count();
                eprintln!(
                    "{name}: {errors} error{}",
                    if errors == 1 { "" } else { "s" }
                );
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The file's config, or all its problems: those `errata serve` would stop at, then the
/// store's.
fn check_one(path: &Path) -> Result<Config, Diagnostics> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| Diagnostics(vec![Diagnostic::error((0, 0), format!("cannot read: {e}"))]))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let config = Config::from_toml(&src, base);
    let store = store_problem(&src, base);
    match (config, store) {
        (Ok(cfg), None) => Ok(cfg),
        (Ok(_), Some(p)) => Err(Diagnostics(vec![p])),
        (Err(mut d), p) => {
            d.0.extend(p);
            d.sort();
            Err(d)
        }
    }
}

/// The `store` key with its place, read on its own so that it can be checked even when other
/// keys are wrong.
#[derive(Deserialize)]
struct StoreKey {
    store: Option<Spanned<String>>,
}

/// A SQLite store the gateway could not open: its folder missing (the gateway makes the file,
/// never the folder), or a file there that is not a database file it may read and write.
fn store_problem(src: &str, base: &Path) -> Option<Diagnostic> {
    let store = toml::from_str::<StoreKey>(src).ok()?.store?;
    let url = store.get_ref();
    let file = errata_store::db::sqlite_file(url)?;
    // `sqlite://` paths are the config folder's, as `errata serve` reads them.
    let file = if url.starts_with("sqlite://") {
        base.join(file)
    } else {
        file
    };
    let folder = match file.parent() {
        Some(f) if !f.as_os_str().is_empty() => f.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let problem = if !folder.is_dir() {
        Some((
            if folder.exists() {
                format!("store: {} is not a folder", folder.display())
            } else {
                format!("store: the folder {} does not exist", folder.display())
            },
            "create it (the gateway makes the database file, not its folder), or point the store elsewhere",
        ))
    } else if file.is_dir() {
        Some((
            format!("store: {} is a folder, not a database file", file.display()),
            "name a file in it, e.g. \"sqlite://data/errata-keys.db\"",
        ))
    } else if file.exists() {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&file)
        {
            Ok(_) => None,
            Err(e) => Some((
                format!(
                    "store: cannot open {} to read and write: {e}",
                    file.display()
                ),
                "give the user errata runs as read and write access to it",
            )),
        }
    } else {
        None
    };
    let (message, help) = problem?;
    let at = LineIndex::new(src).position(src, store.span().start);
    Some(Diagnostic::error(at, message).help(help))
}

/// What the config sets up, in one line: where it listens, what it serves, and the services
/// it will need (passwords in URLs shown as `***`).
fn summary(cfg: &Config) -> String {
    let g = &cfg.gateway;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "listen {} ({}), admin {}, {}, {}, upstream {}, store {}, counters {}",
        g.listen,
        if g.tls.is_some() { "https" } else { "http" },
        cfg.admin_listen,
        plural(g.routes.len(), "route"),
        plural(g.plans.len(), "plan"),
        g.upstream,
        redact(&g.store_url),
        redact(&g.counters_url),
    )
}

/// A URL with the password of its user info replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match user_info.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_not_shown() {
        assert_eq!(
            redact("postgres://errata:s3cret@db.internal:5432/errata?sslmode=verify-full"),
            "postgres://errata:***@db.internal:5432/errata?sslmode=verify-full"
        );
        assert_eq!(
            redact("redis://:hunter2@cache:6379"),
            "redis://:***@cache:6379"
        );
        assert_eq!(
            redact("rediss+cluster://:hunter2@r1:6380,r2:6380?ca=ca.pem"),
            "rediss+cluster://:***@r1:6380,r2:6380?ca=ca.pem"
        );
        assert_eq!(
            redact("postgres://errata@db/errata"),
            "postgres://errata@db/errata"
        );
        assert_eq!(redact("memory://"), "memory://");
        assert_eq!(
            redact("sqlite:///var/lib/errata/keys.db"),
            "sqlite:///var/lib/errata/keys.db"
        );
    }
}
