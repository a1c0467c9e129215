//! A request's headers read by name, whether hyper parsed them into a `HeaderMap` or the relay
//! left them where they arrived, in the connection's buffer. The request path's decisions
//! (the key, the body checks, the client's address, the answer's format) read through this,
//! so both paths decide alike.

use http::HeaderMap;

/// Headers looked up by lowercase name.
pub trait HeaderLookup {
    /// The first value of `name`.
    fn first(&self, name: &str) -> Option<&[u8]>;
    /// Calls `f` with every value of `name`, in order.
    fn each<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s [u8]));

    /// Whether `name` is present.
    fn has(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    /// The first value of `name` as text, when it is visible ASCII (what `HeaderValue::to_str`
    /// accepts).
    fn text(&self, name: &str) -> Option<&str> {
        self.first(name).and_then(visible)
    }
}

/// `v` as text when every byte is visible ASCII, a space or a tab.
pub fn visible(v: &[u8]) -> Option<&str> {
    if v.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        // Only ASCII: always UTF-8.
        std::str::from_utf8(v).ok()
    } else {
        None
    }
}

impl HeaderLookup for HeaderMap {
    fn first(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(|v| v.as_bytes())
    }

    fn each<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s [u8])) {
        for v in self.get_all(name) {
            f(v.as_bytes());
        }
    }
}

impl HeaderLookup for crate::relay::HeadView<'_> {
    fn first(&self, name: &str) -> Option<&[u8]> {
        self.head.header(self.buf, name)
    }

    fn each<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s [u8])) {
        for v in self.head.headers_named(self.buf, name) {
            f(v);
        }
    }
}
