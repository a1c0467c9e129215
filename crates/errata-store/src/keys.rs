//! API keys: `<prefix>_live_<secret>` or `<prefix>_test_<secret>`, the secret 32 base62
//! characters (190 bits). Only the SHA-256 of a key is stored; comparison is constant-time.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Characters of the secret part.
pub const SECRET_LEN: usize = 32;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A key's environment, which reaches the upstream and can restrict routes.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Live,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Environment> {
        match s {
            "live" => Some(Environment::Live),
            "test" => Some(Environment::Test),
            _ => None,
        }
    }
}

/// A freshly made key: the plaintext (shown once) and what is stored of it.
pub struct NewSecret {
    pub plaintext: String,
    pub hash: String,
    /// The first characters, safe to show in listings (`klyr_live_4fQz…`).
    pub hint: String,
}

/// Makes a new key for `prefix` and `env`.
pub fn generate(prefix: &str, env: Environment) -> NewSecret {
    let mut rng = rand::rng();
    let secret: String = (0..SECRET_LEN)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect();
    let plaintext = format!("{prefix}_{}_{secret}", env.as_str());
    NewSecret {
        hash: hash(&plaintext),
        hint: hint(&plaintext),
        plaintext,
    }
}

/// The stored form of a key: lower-case hex SHA-256.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// What listings show of a key.
pub fn hint(key: &str) -> String {
    let keep = key.len().saturating_sub(SECRET_LEN) + 4;
    format!("{}…", &key[..keep.min(key.len())])
}

/// Whether two stored hashes are equal, in constant time.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Checks a presented key's shape; returns its environment. A key of the wrong shape is
/// `malformed`, never looked up.
pub fn parse(prefix: &str, key: &str) -> Option<Environment> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('_')?;
    let (env, secret) = rest.split_once('_')?;
    let env = Environment::parse(env)?;
    (secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_hash() {
        let k = generate("klyr", Environment::Test);
        assert!(k.plaintext.starts_with("klyr_test_"));
        assert_eq!(parse("klyr", &k.plaintext), Some(Environment::Test));
        assert_eq!(k.hash, hash(&k.plaintext));
        assert_eq!(k.hash.len(), 64);
        assert!(k.hint.starts_with("klyr_test_") && k.hint.ends_with('…'));
        assert_eq!(k.hint.chars().count(), "klyr_test_".len() + 5);
        assert_ne!(k.plaintext, generate("klyr", Environment::Test).plaintext);
    }

    #[test]
    fn malformed_keys_are_refused() {
        let good = generate("klyr", Environment::Live).plaintext;
        assert_eq!(parse("klyr", &good), Some(Environment::Live));
        assert_eq!(parse("other", &good), None);
        assert_eq!(parse("klyr", &good[..good.len() - 1]), None);
        assert_eq!(parse("klyr", &good.replace("_live_", "_prod_")), None);
        assert_eq!(parse("klyr", "klyr_live_"), None);
        assert_eq!(parse("klyr", &format!("{good} ")), None);
    }

    #[test]
    fn hash_comparison() {
        assert!(hashes_equal(&hash("a"), &hash("a")));
        assert!(!hashes_equal(&hash("a"), &hash("b")));
        assert!(!hashes_equal("ab", "abc"));
    }
}
