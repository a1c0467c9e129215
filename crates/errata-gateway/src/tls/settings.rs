//! Checking the TLS settings of a config file before anything starts: listener certificates,
//! the upstream's CA, and the TLS options inside the store and counters URLs.
//!
//! Relative files resolve against the config file's folder, like every other path in it; the
//! URLs handed on carry them absolute, because the libraries reading them (sqlx, redis) resolve
//! against the working directory.

use std::path::{Path, PathBuf};

use super::{TlsError, TlsFiles, pem};

/// The `sslmode` values a PostgreSQL store URL may carry (libpq's, which sqlx implements).
pub const SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// A listener's `cert` and `key`, resolved and loaded once to prove they are usable.
pub fn listener_files(cert: &str, key: &str, base: &Path) -> Result<TlsFiles, TlsError> {
    let files = TlsFiles {
        cert: base.join(cert),
        key: base.join(key),
    };
    pem::certified_key(&files)?;
    Ok(files)
}

/// The upstream's private CA, resolved and read once.
pub fn upstream_ca(path: &str, base: &Path) -> Result<PathBuf, TlsError> {
    let path = base.join(path);
    pem::ca_roots(&path, "upstream_ca")?;
    Ok(path)
}

/// A problem with a URL's TLS option: the message and the fix.
pub type UrlProblem = (String, &'static str);

/// Checks a PostgreSQL URL's `sslmode` and `sslrootcert`; returns the URL with `sslrootcert`
/// made absolute.
pub fn postgres_url(url: &str, base: &Path) -> Result<String, UrlProblem> {
    let rewritten = rewrite_query(url, |name, value| match name {
        "sslmode" if !SSLMODES.contains(&value) => Err((
            format!("sslmode `{value}` is not one PostgreSQL knows"),
            "use disable, prefer, require, verify-ca or verify-full",
        )),
        "sslrootcert" => {
            let path = base.join(value);
            pem::ca_roots(&path, "sslrootcert").map_err(problem)?;
            Ok(Some(path.display().to_string()))
        }
        _ => Ok(None),
    })?;
    Ok(rewritten)
}

/// Checks a Redis URL's `ca` (a private CA for `rediss://`); returns the URL with it absolute.
pub fn redis_url(url: &str, base: &Path) -> Result<String, UrlProblem> {
    let tls = errata_store::counters::redis_tls(url) == Some(true);
    rewrite_query(url, |name, value| match name {
        "ca" if !tls => Err((
            "`ca` is only for TLS connections".to_owned(),
            "use a rediss:// (or rediss+cluster://) URL to connect over TLS, or drop `ca`",
        )),
        "ca" => {
            let path = base.join(value);
            pem::ca_roots(&path, "counters `ca`").map_err(problem)?;
            Ok(Some(path.display().to_string()))
        }
        _ => Ok(None),
    })
}

fn problem(e: TlsError) -> UrlProblem {
    (format!("{}: {}", e.file.display(), e.problem), e.fix)
}

/// Runs `check` over the query's pairs; a `Some` replaces that pair's value.
fn rewrite_query(
    url: &str,
    mut check: impl FnMut(&str, &str) -> Result<Option<String>, UrlProblem>,
) -> Result<String, UrlProblem> {
    let Some((head, query)) = url.split_once('?') else {
        return Ok(url.to_owned());
    };
    let mut changed = false;
    let mut pairs = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let new = check(&name, &value)?;
        changed |= new.is_some();
        pairs.push((name.into_owned(), new.unwrap_or_else(|| value.into_owned())));
    }
    if !changed {
        return Ok(url.to_owned());
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    Ok(format!("{head}?{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_sslmode_is_refused() {
        let (msg, fix) =
            postgres_url("postgres://h/db?sslmode=always", Path::new(".")).unwrap_err();
        assert_eq!(msg, "sslmode `always` is not one PostgreSQL knows");
        assert!(fix.contains("verify-full"));
        let ok = "postgres://h/db?sslmode=verify-full&application_name=x";
        assert_eq!(postgres_url(ok, Path::new(".")).unwrap(), ok);
    }

    #[test]
    fn a_missing_ca_names_the_file() {
        let (msg, fix) = postgres_url(
            "postgres://h/db?sslmode=verify-ca&sslrootcert=no-such.pem",
            Path::new("/etc/errata"),
        )
        .unwrap_err();
        assert!(
            msg.starts_with("/etc/errata/no-such.pem: cannot read the sslrootcert CA bundle"),
            "{msg}"
        );
        assert!(fix.contains("PEM"), "{fix}");
        let (msg, _) = redis_url("redis://h:6379/?ca=ca.pem", Path::new(".")).unwrap_err();
        assert_eq!(msg, "`ca` is only for TLS connections");
    }
}
