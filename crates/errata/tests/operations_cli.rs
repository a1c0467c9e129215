//! What an operator runs around `errata serve`, as the real binary: `errata config check`,
//! `errata completions`, `errata --version`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::certs::{TestCa, temp_dir};

fn errata_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_errata"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The repository's root, where `docs/` is.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn config_check_of_a_good_file_prints_one_line_and_exits_0() {
    let dir = temp_dir("check-good");
    TestCa::new("errata test CA")
        .leaf(&["localhost"])
        .write(&dir, "cert.pem", "key.pem");
    std::fs::write(
        dir.join("errata.toml"),
        r#"listen = "127.0.0.1:9443"
upstream = "http://127.0.0.1:3000"
store = "sqlite://keys.db"
counters = "memory://"
log_format = "text"
log_level = "info,errata::access=warn"

[tls]
cert = "cert.pem"
key = "key.pem"

[admin]
listen = "127.0.0.1:9091"
token = "admin-token-0123456789"

[limits]
default_plan = "free"

[plans.free]
rate = 10

[[routes]]
path = "/v1"

[[routes]]
path = "/health"
auth = false
"#,
    )
    .unwrap();
    let o = errata_in(&dir, &["config", "check", "errata.toml"]);
    assert_eq!(stderr(&o), "");
    assert_eq!(
        stdout(&o),
        "errata.toml: ok: listen 127.0.0.1:9443 (https), admin 127.0.0.1:9091, 2 routes, 1 plan, upstream http://127.0.0.1:3000, store sqlite://keys.db, counters memory://\n"
    );
    assert_eq!(o.status.code(), Some(0));
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["cert.pem", "errata.toml", "key.pem"],
        "a check makes no store"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_check_prints_every_problem_with_its_line_and_exits_1() {
    let dir = temp_dir("check-bad");
    std::fs::write(
        dir.join("errata.toml"),
        r#"listen = "127.0.0.1:9090"
upstrem = "http://127.0.0.1:3000"
workers = "2"
store = "sqlite://data/keys.db"
log_format = "jsn"
log_level = "warning"

[tls]
cert = "missing-cert.pem"
key = "missing-key.pem"
"#,
    )
    .unwrap();
    let o = errata_in(&dir, &["config", "check", "errata.toml"]);
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        r#"errata.toml:2:1: error: unknown key `upstrem`
  help: did you mean `upstream`?
errata.toml:3:11: error: `workers` must be a whole number, not `"2"`
  help: e.g. `workers = 2`
errata.toml:4:9: error: store: the folder data does not exist
  help: create it (the gateway makes the database file, not its folder), or point the store elsewhere
errata.toml:5:14: error: `log_format` must be one of "json", "text", not `"jsn"`
  help: did you mean "json"?
errata.toml:6:13: error: log_level `warning`: `warning` is not a level
  help: did you mean `warn`?
errata.toml:9:8: error: missing-cert.pem: cannot read the certificate chain: No such file or directory (os error 2)
  help: point `cert` at the PEM certificate chain (leaf first)
errata.toml: 6 errors
"#
    );
    assert_eq!(o.status.code(), Some(1));

    // A store that names a folder, and a config file that is not there: each file's problems,
    // then its count.
    std::fs::create_dir(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("errata.toml"),
        "store = \"sqlite://data\"\n\n[admin]\ntoken = \"admin-token-0123456789\"\n",
    )
    .unwrap();
    let o = errata_in(&dir, &["config", "check", "errata.toml", "nowhere.toml"]);
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "errata.toml:1:9: error: store: data is a folder, not a database file\n  help: name a file in it, e.g. \"sqlite://data/errata-keys.db\"\nerrata.toml: 1 error\nnowhere.toml: error: cannot read: No such file or directory (os error 2)\nnowhere.toml: 1 error\n"
    );
    assert_eq!(o.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn completions_name_the_subcommands_in_each_shell() {
    let here = root();
    for (shell, marker) in [
        ("bash", "_errata()"),
        ("zsh", "#compdef errata"),
        ("fish", "complete -c errata"),
        ("elvish", "edit:completion:arg-completer[errata]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let o = errata_in(&here, &["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}:\n{script}");
        for sub in ["serve", "keys", "config", "catalog", "completions"] {
            assert!(script.contains(sub), "{shell} lacks `{sub}`");
        }
    }
    let o = errata_in(&here, &["completions", "tcsh"]);
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "error: invalid value 'tcsh' for '<SHELL>'\n  [possible values: bash, elvish, fish, powershell, zsh]\n\n  tip: a similar value exists: 'zsh'\n\nFor more information, try '--help'.\n"
    );
    assert_eq!(o.status.code(), Some(2));
}

/// `git ARGS` in the repository, or `None` where git is missing or it is not a checkout.
fn git(args: &[&str]) -> Option<String> {
    let o = Command::new("git")
        .args(args)
        .current_dir(root())
        .output()
        .ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let o = errata_in(&root(), &["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let version = env!("CARGO_PKG_VERSION");
    let inner = out
        .strip_prefix(&format!("errata {version} ("))
        .and_then(|r| r.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("not `errata {version} (HASH DATE)`: {out:?}"));
    let (hash, date) = inner.split_once(' ').unwrap();
    let bare = hash.strip_suffix("-dirty").unwrap_or(hash);
    assert!(
        bare.len() == 10 && bare.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hash}"
    );
    let d = date.as_bytes();
    assert!(
        d.len() == 10
            && d[4] == b'-'
            && d[7] == b'-'
            && date.replace('-', "").bytes().all(|b| b.is_ascii_digit()),
        "{date}"
    );
    match (
        git(&["rev-parse", "--short=10", "HEAD"]),
        git(&["log", "-1", "--format=%cs", "HEAD"]),
    ) {
        (Some(head), Some(day)) => {
            assert_eq!(bare, head, "the commit checked out");
            assert_eq!(date, day, "its date");
        }
        _ => println!("skipped: no git, so the hash is not compared with HEAD"),
    }
}
