//! Request ids: the catalog says what they look like; errata makes them and checks inbound ones.

use rand::Rng;

/// The alphabet of the random part of a request id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// `0-9a-f`
    Hex,
    /// `0-9A-Za-z`
    Base62,
    /// A hyphenated UUID v4; `length` is ignored.
    Uuid,
}

impl Charset {
    pub fn name(self) -> &'static str {
        match self {
            Charset::Hex => "hex",
            Charset::Base62 => "base62",
            Charset::Uuid => "uuid",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Charset> {
        match s {
            "hex" => Some(Charset::Hex),
            "base62" => Some(Charset::Base62),
            "uuid" => Some(Charset::Uuid),
            _ => None,
        }
    }
}

/// How a catalog's request ids look and travel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIdFormat {
    /// The response (and upstream) header carrying the id, lower case.
    pub header: String,
    pub prefix: String,
    pub charset: Charset,
    /// Characters of the random part.
    pub length: usize,
}

impl Default for RequestIdFormat {
    fn default() -> Self {
        RequestIdFormat {
            header: "x-request-id".into(),
            prefix: "req_".into(),
            charset: Charset::Base62,
            length: 24,
        }
    }
}

/// The longest inbound request id errata accepts from a trusted hop.
pub const MAX_INBOUND_LEN: usize = 128;

impl RequestIdFormat {
    /// A fresh id in this format.
    pub fn generate(&self) -> String {
        let mut rng = rand::rng();
        let mut id = String::with_capacity(self.prefix.len() + self.length.max(36));
        id.push_str(&self.prefix);
        match self.charset {
            Charset::Uuid => {
                let b: [u8; 16] = rng.random();
                for (i, byte) in b.iter().enumerate() {
                    let byte = match i {
                        6 => (byte & 0x0f) | 0x40,
                        8 => (byte & 0x3f) | 0x80,
                        _ => *byte,
                    };
                    if matches!(i, 4 | 6 | 8 | 10) {
                        id.push('-');
                    }
                    id.push_str(&format!("{byte:02x}"));
                }
            }
            Charset::Hex | Charset::Base62 => {
                let alphabet: &[u8] = match self.charset {
                    Charset::Hex => b"0123456789abcdef",
                    _ => b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                };
                for _ in 0..self.length {
                    id.push(alphabet[rng.random_range(0..alphabet.len())] as char);
                }
            }
        }
        id
    }

    /// Whether `id` looks like one this format generates.
    pub fn matches(&self, id: &str) -> bool {
        let Some(rest) = id.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        match self.charset {
            Charset::Uuid => {
                rest.len() == 36
                    && rest.char_indices().all(|(i, c)| match i {
                        8 | 13 | 18 | 23 => c == '-',
                        _ => c.is_ascii_hexdigit(),
                    })
            }
            Charset::Hex => {
                rest.len() == self.length
                    && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            }
            Charset::Base62 => {
                rest.len() == self.length && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            }
        }
    }
}

/// Whether an inbound id is safe to echo in headers, bodies and logs: 1 to 128 characters of
/// `A-Z a-z 0-9 - _ . :`.
pub fn is_safe_token(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_INBOUND_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_match_their_format() {
        for charset in [Charset::Hex, Charset::Base62, Charset::Uuid] {
            let f = RequestIdFormat {
                charset,
                length: 12,
                ..RequestIdFormat::default()
            };
            let id = f.generate();
            assert!(f.matches(&id), "{id} should match {charset:?}");
            assert!(is_safe_token(&id));
            assert_ne!(id, f.generate());
        }
    }

    #[test]
    fn unsafe_tokens_are_refused() {
        assert!(is_safe_token("req_1a2b3c4d5e6f"));
        assert!(!is_safe_token(""));
        assert!(!is_safe_token("a b"));
        assert!(!is_safe_token("a\r\nx-evil: 1"));
        assert!(!is_safe_token(&"a".repeat(129)));
    }
}
