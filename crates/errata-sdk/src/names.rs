//! Names in the generated code: the client class, the packages and one error class per code,
//! derived from the catalog and never colliding with each other or with a language's own names.

/// Splits text into words of ASCII letters and digits (`Bearer-key API` → `Bearer`, `key`,
/// `API`; `RATE_LIMITED` → `RATE`, `LIMITED`).
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The client class for an API name: each word with its first letter upper-cased and the rest
/// kept (`Kaplaix` → `Kaplaix`, `KlayrAI` → `KlayrAI`, `errata` → `Errata`). A name with no
/// letter at all gives `Api`; one starting with a digit is prefixed with `Api`.
pub fn class_name(api_name: &str) -> String {
    let mut out: String = words(api_name).iter().map(|w| upper_first(w)).collect();
    if out.is_empty() {
        out = "Api".into();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Api");
    }
    out
}

/// The Python import package: the words lower-cased, joined by `_` (`Bearer-key API` →
/// `bearer_key_api`).
pub fn python_package(api_name: &str) -> String {
    let mut out = words(api_name)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "api");
    }
    out
}

/// The npm package: `@<words joined by ->/sdk-ts` (`Kaplaix` → `@kaplaix/sdk-ts`).
pub fn npm_package(api_name: &str) -> String {
    let scope = words(api_name)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("-");
    let scope = if scope.is_empty() {
        "api".into()
    } else {
        scope
    };
    format!("@{scope}/sdk-ts")
}

/// Whether `name` is usable as a Python package name in an import line.
pub fn is_python_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !PYTHON_KEYWORDS.contains(&name)
}

/// Whether `name` is a valid npm package name (optionally scoped), lower case.
pub fn is_npm_name(name: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && !p.starts_with(['.', '_'])
            && p.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
            })
    };
    let ok = match name.strip_prefix('@') {
        Some(scoped) => scoped
            .split_once('/')
            .is_some_and(|(scope, pkg)| part(scope) && part(pkg)),
        None => part(name),
    };
    ok && name.len() <= 214
}

/// Whether `name` can name a class in both languages.
pub fn is_class_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric())
}

fn upper_first(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Error classes Python or JavaScript already define, which a code's class must not shadow.
const LANGUAGE_ERRORS: &[&str] = &[
    // Python builtins
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "EOFError",
    "EnvironmentError",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "IOError",
    "ImportError",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotADirectoryError",
    "OSError",
    "OverflowError",
    "PermissionError",
    "ProcessLookupError",
    "RecursionError",
    "ReferenceError",
    "RuntimeError",
    "SyntaxError",
    "SystemError",
    "TabError",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "ValueError",
    "ZeroDivisionError",
    // JavaScript globals
    "Error",
    "AggregateError",
    "EvalError",
    "RangeError",
    "URIError",
    "DOMException",
];

const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// The error class of each code, in order: the code in PascalCase with `Error` appended unless
/// it already ends so (`RATE_LIMITED` → `RateLimitedError`, `internal_error` →
/// `InternalError`). A name taken by the language, by the SDK's own classes (`reserved`) or by an
/// earlier code gets `Api` in front (`timeout` → `ApiTimeoutError`), then a number.
pub fn code_classes<'a>(
    codes: impl IntoIterator<Item = &'a str>,
    reserved: &[String],
) -> Vec<String> {
    let mut taken: Vec<String> = reserved.to_vec();
    let mut out = Vec::new();
    for code in codes {
        let mut base: String = words(code)
            .iter()
            .map(|w| upper_first(&w.to_ascii_lowercase()))
            .collect();
        if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
            base.insert_str(0, "Code");
        }
        if !base.ends_with("Error") {
            base.push_str("Error");
        }
        let clash = |n: &str, taken: &[String]| {
            LANGUAGE_ERRORS.contains(&n) || taken.iter().any(|t| t == n)
        };
        let mut name = base.clone();
        if clash(&name, &taken) {
            name = format!("Api{base}");
        }
        let mut n = 2;
        while clash(&name, &taken) {
            name = format!("Api{}{n}", base.trim_end_matches("Error")) + "Error";
            n += 1;
        }
        taken.push(name.clone());
        out.push(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names() {
        assert_eq!(class_name("Kaplaix"), "Kaplaix");
        assert_eq!(class_name("KlayrAI"), "KlayrAI");
        assert_eq!(class_name("errata"), "Errata");
        assert_eq!(class_name("Bearer-key API"), "BearerKeyAPI");
        assert_eq!(class_name("42"), "Api42");
        assert_eq!(class_name("--"), "Api");
        assert_eq!(python_package("Bearer-key API"), "bearer_key_api");
        assert_eq!(python_package("Kaplaix"), "kaplaix");
        assert_eq!(npm_package("Kaplaix"), "@kaplaix/sdk-ts");
        assert_eq!(npm_package("Bearer-key API"), "@bearer-key-api/sdk-ts");
    }

    #[test]
    fn code_class_names() {
        let reserved = vec!["KaplaixError".to_owned(), "KaplaixTimeoutError".to_owned()];
        let codes = [
            "RATE_LIMITED",
            "INTERNAL_ERROR",
            "rate_limit_exceeded",
            "timeout",
            "Kaplaix",
            "rate-limited",
            "api.error",
        ];
        assert_eq!(
            code_classes(codes, &reserved),
            [
                "RateLimitedError",
                "InternalError",
                "RateLimitExceededError",
                "ApiTimeoutError",
                "ApiKaplaixError",
                "ApiRateLimitedError",
                "ApiError",
            ]
        );
    }

    #[test]
    fn validation() {
        assert!(is_python_identifier("kaplaix_sdk"));
        assert!(!is_python_identifier("kaplaix-sdk"));
        assert!(!is_python_identifier("class"));
        assert!(is_npm_name("@kaplaix/sdk-ts"));
        assert!(!is_npm_name("@Kaplaix/sdk"));
        assert!(!is_npm_name("@kaplaix"));
        assert!(is_class_identifier("Kaplaix2"));
        assert!(!is_class_identifier("2Kaplaix"));
    }
}
