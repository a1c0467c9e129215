//! Whether a request target is one `http::Uri` takes, without copying it in the common case.

/// Whether `target` parses as an `http::Uri` (`Uri::try_from(target).is_ok()`). An origin-form
/// target (the common case) is checked here with `http`'s own byte classes, without the copy
/// `Uri::try_from` makes; the other forms go to `http` itself.
pub(crate) fn is_valid(target: &str) -> bool {
    let bytes = target.as_bytes();
    if bytes.first() != Some(&b'/') || bytes.len() > crate::MAX_URI_LEN {
        return http::Uri::try_from(target).is_ok();
    }
    // Path bytes until `?` or `#`, then query bytes until `#`; after `#` nothing is checked
    // (`http` drops the fragment). `target` is already UTF-8 (httparse checks it).
    let (path, rest) = match bytes.iter().position(|&b| b == b'?' || b == b'#') {
        Some(i) => bytes.split_at(i),
        None => (bytes, &b""[..]),
    };
    if !path.iter().all(|&b| PATH[usize::from(b)]) {
        return false;
    }
    let query = match rest.split_first() {
        Some((b'?', query)) => query,
        _ => return true,
    };
    let query = match query.iter().position(|&b| b == b'#') {
        Some(i) => &query[..i],
        None => query,
    };
    query.iter().all(|&b| QUERY[usize::from(b)])
}

/// `http`'s path bytes: what needs no percent-encoding in a path, `"`, `{`, `}`, and non-ASCII.
static PATH: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = matches!(i as u8,
            0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E
            | b'"' | b'{' | b'}' | 0x80..=0xFF);
        i += 1;
    }
    t
};

/// `http`'s query bytes.
static QUERY: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = matches!(i as u8, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E | 0x80..=0xFF);
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn origin_form_follows_http() {
        for (t, ok) in [
            ("/", true),
            ("/a?b=c", true),
            ("/a b", false),
            ("/a<b", false),
            ("/a`b", false),
            ("/{\"json\":1}", true),
            ("/a?\"q", false),
            ("/a?b?c", true),
            ("/a?b`c", true),
            ("/a#<frag>", true),
            ("/%zz", true),
            ("/\u{e9}", true),
        ] {
            assert_eq!(is_valid(t), ok, "{t:?}");
            assert_eq!(http::Uri::try_from(t).is_ok(), ok, "{t:?}");
        }
    }

    proptest! {
        #[test]
        fn agrees_with_http_uri(t in "[/?#a-z0-9 \"<>`{}|\\\\^%:@!$&'()*+,;=.~\\[\\]\u{7f}\u{e9}-]{0,12}") {
            prop_assert_eq!(is_valid(&t), http::Uri::try_from(t.as_str()).is_ok(), "{:?}", t);
        }
    }
}
