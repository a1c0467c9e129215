//! Subcommands: `catalog check`, `catalog diff`, `render`, `docs`, `sdk`, and the wiring of the
//! others (`serve`, `keys`, `requests`, `server`, `config`) to their files; `completions`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use errata_core::{ApiError, Catalog, Condition, Format, Severity, Violation};
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(
    name = "errata",
    // The version and, built from a git checkout, the commit: `0.1.0 (abc1234567 2026-12-07)`.
    version = env!("ERRATA_VERSION"),
    about = "One error contract for an HTTP API"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check or compare catalog files.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Print the response a server sends for a code, like `curl -i`.
    Render(RenderArgs),
    /// Generate the error reference (Markdown, HTML) or OpenAPI components from a catalog.
    Docs(DocsArgs),
    /// Run the gateway: the catalog in front of an upstream (embedded defaults without --config).
    Serve(crate::gateway_cli::ServeArgs),
    /// Manage API keys in the configured store.
    #[command(subcommand)]
    Keys(crate::keys_cli::KeysCommand),
    /// Look up answered requests in the configured store's request log.
    #[command(subcommand)]
    Requests(crate::requests_cli::RequestsCommand),
    /// Generate a Python or TypeScript SDK whose error classes and retries come from a catalog.
    #[command(subcommand)]
    Sdk(crate::sdk_cli::SdkCommand),
    /// Generate a Python (FastAPI/Starlette) or TypeScript (Express/Hono) server package that
    /// raises the catalog's codes and renders them exactly as errata does.
    #[command(subcommand)]
    Server(crate::server_cli::ServerCommand),
    /// Check gateway config files before they are served.
    #[command(subcommand)]
    Config(crate::config_cli::ConfigCommand),
    /// Print the shell completion script of `errata` for SHELL to standard output.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum CatalogCommand {
    /// Lint catalogs: every problem at once, with file:line and the fix. Exit 1 on any error.
    Check {
        /// Catalog files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List breaking and additive changes from OLD to NEW. Exit 1 when anything breaks.
    Diff { old: PathBuf, new: PathBuf },
}

#[derive(Args, Debug)]
struct RenderArgs {
    /// A code of the catalog, or a condition name (`rate_limited`).
    code: String,
    /// The catalog file; the built-in default catalog when left out.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// A message argument, `NAME=VALUE` (numbers stay numbers). Repeatable.
    #[arg(long = "arg", value_name = "NAME=VALUE")]
    args: Vec<String>,
    /// The parameter at fault.
    #[arg(long)]
    param: Option<String>,
    /// The request id to echo (a fresh one in the catalog's format when left out).
    #[arg(long = "request-id")]
    request_id: Option<String>,
    /// Seconds for the Retry-After header (and the `{retry_after}` argument).
    #[arg(long = "retry-after")]
    retry_after: Option<u64>,
    /// A named message variant of the code.
    #[arg(long)]
    variant: Option<String>,
    /// A validation detail, `PATH:CODE:MESSAGE` with PATH dotted (`items.3.sku`). Repeatable.
    #[arg(long = "detail", value_name = "PATH:CODE:MESSAGE")]
    details: Vec<String>,
    /// Render RFC 9457 problem+json instead of the envelope.
    #[arg(long)]
    problem: bool,
    /// The problem's `instance` (the request path).
    #[arg(long)]
    instance: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DocsFormat {
    Md,
    Html,
    Openapi,
}

#[derive(Args, Debug)]
struct DocsArgs {
    /// The catalog file; the built-in default catalog when left out.
    #[arg(long)]
    catalog: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "md")]
    format: DocsFormat,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Catalog(CatalogCommand::Check { files }) => Ok(check(&files)),
        Command::Catalog(CatalogCommand::Diff { old, new }) => {
            let (old, new) = (load(&old)?, load(&new)?);
            let d = errata_docs::diff::diff(&old, &new);
            println!("{d}");
            Ok(if d.is_breaking() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Render(args) => render(args),
        Command::Serve(args) => crate::gateway_cli::serve(args),
        Command::Keys(cmd) => crate::keys_cli::keys(cmd),
        Command::Requests(cmd) => crate::requests_cli::requests(cmd),
        Command::Sdk(cmd) => crate::sdk_cli::run(cmd, load_or_builtin),
        Command::Server(cmd) => crate::server_cli::run(cmd, load_or_builtin),
        Command::Config(cmd) => crate::config_cli::run(cmd),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "errata", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map_err(|e| format!("cannot write the completion script: {e}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Docs(args) => {
            let catalog = load_or_builtin(args.catalog.as_deref())?;
            let text = match args.format {
                DocsFormat::Md => errata_docs::markdown(&catalog).map_err(|e| e.to_string())?,
                DocsFormat::Html => errata_docs::html(&catalog).map_err(|e| e.to_string())?,
                DocsFormat::Openapi => {
                    let mut s = serde_json::to_string_pretty(&errata_docs::openapi(&catalog))
                        .map_err(|e| e.to_string())?;
                    s.push('\n');
                    s
                }
            };
            match args.output {
                Some(path) => {
                    std::fs::write(&path, text)
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for path in files {
        let name = path.display().to_string();
        let (catalog, diags) = errata_core::check_file(path);
        if !diags.0.is_empty() {
            eprintln!("{}", diags.render(&name));
        }
        let errors = diags.errors().count();
        let warnings = diags
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count();
        match catalog {
            Some(c) if errors == 0 => println!(
                "{name}: ok: {} codes, {} types, all {} conditions mapped{}",
                c.codes().len(),
                c.kinds().len(),
                Condition::ALL.len(),
                if warnings > 0 {
                    format!(", {warnings} warning{}", plural(warnings))
                } else {
                    String::new()
                }
            ),
            _ => {
                failed = true;
                eprintln!(
                    "{name}: {errors} error{}{}",
                    plural(errors),
                    if warnings > 0 {
                        format!(", {warnings} warning{}", plural(warnings))
                    } else {
                        String::new()
                    }
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

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Loads a catalog (and the catalogs it extends), or returns every problem, rendered as
/// `file:line:column: error: ...`, as the error message.
fn load(path: &Path) -> Result<Catalog, String> {
    Catalog::from_file(path).map_err(|d| d.render(&path.display().to_string()))
}

fn load_or_builtin(path: Option<&Path>) -> Result<Catalog, String> {
    match path {
        Some(p) => load(p),
        None => Ok(Catalog::builtin().clone()),
    }
}

fn render(args: RenderArgs) -> Result<ExitCode, String> {
    let catalog = load_or_builtin(args.catalog.as_deref())?;
    let mut err = if catalog.code(&args.code).is_some() {
        ApiError::code(args.code.clone())
    } else if let Ok(cond) = args.code.parse::<Condition>() {
        ApiError::condition(cond)
    } else {
        return Err(format!(
            "`{}` is neither a code of {} nor a condition; codes are: {}",
            args.code,
            catalog.name(),
            catalog
                .codes()
                .iter()
                .map(|c| c.code.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    for a in &args.args {
        let (name, value) = a
            .split_once('=')
            .ok_or_else(|| format!("--arg `{a}` is not NAME=VALUE"))?;
        let value = match serde_json::from_str::<Value>(value) {
            Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
            _ => Value::String(value.to_owned()),
        };
        err = err.arg(name, value);
    }
    for d in &args.details {
        let mut parts = d.splitn(3, ':');
        let (Some(path), Some(code), Some(message)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("--detail `{d}` is not PATH:CODE:MESSAGE"));
        };
        err = err.details([Violation::new(path.split('.'), message, code)]);
    }
    if let Some(p) = args.param {
        err = err.param(p);
    }
    if let Some(v) = args.variant {
        let def = catalog.code(&args.code);
        if def.is_some_and(|d| !d.messages.contains_key(&v)) {
            return Err(format!("`{}` has no message variant `{v}`", args.code));
        }
        err = err.variant(v);
    }
    if let Some(s) = args.retry_after {
        err = err.retry_after(s);
    }
    if let Some(i) = args.instance {
        err = err.instance(i);
    }
    let id = args
        .request_id
        .unwrap_or_else(|| catalog.request_id().generate());
    err = err.request_id(id);
    let format = if args.problem {
        Format::Problem
    } else {
        Format::Envelope
    };
    print!("{}", catalog.render(&err, format).to_http_string());
    Ok(ExitCode::SUCCESS)
}
