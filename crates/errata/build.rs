//! `errata --version` names the commit it was built from: `0.1.0 (abc1234567 2026-12-07)`,
//! with `-dirty` after the hash when tracked files differed from it. Built outside a git
//! checkout (a crate tarball, `cargo install` from a registry) or without git, it is the
//! version alone.
//!
//! The script runs again only when HEAD moves (a commit, a checkout) or the index changes (a
//! file staged), not on every build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let full = match commit() {
        Some(c) => format!("{version} ({c})"),
        None => version,
    };
    println!("cargo:rustc-env=ERRATA_VERSION={full}");
    println!("cargo:rerun-if-changed=build.rs");
}

/// `HASH[-dirty] DATE` of the checkout this crate is in, with the files to watch for a change
/// of it printed for cargo.
fn commit() -> Option<String> {
    // The crate itself must be tracked: a tarball unpacked inside some other repository is not
    // that repository's commit.
    git(&["ls-files", "--error-unmatch", "Cargo.toml"])?;
    let hash = git(&["rev-parse", "--short=10", "HEAD"])?;
    let date = git(&["log", "-1", "--format=%cs", "HEAD"])?;
    let watched = [
        Some("HEAD".to_owned()),
        git(&["rev-parse", "--symbolic-full-name", "HEAD"]).filter(|r| r.starts_with("refs/")),
        Some("packed-refs".to_owned()),
        Some("index".to_owned()),
    ];
    for name in watched.into_iter().flatten() {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]).map(PathBuf::from)
            && path.exists()
        {
            println!("cargo:rerun-if-changed={}", absolute(&path).display());
        }
    }
    // Read-only: `status` may otherwise refresh and write the index, which would make this
    // script run again on the next build.
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    Some(format!(
        "{hash}{} {date}",
        if dirty { "-dirty" } else { "" }
    ))
}

/// A git command's trimmed output, or `None` when git is missing or the command fails.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// `path` from the crate's folder (git prints paths relative to where it ran).
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join(path)
    }
}
