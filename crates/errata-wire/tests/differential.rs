//! Property: `split_requests` agrees with a reference splitter built on `httparse` alone
//! (`support/differential.rs` says how), on well-formed pipelined streams, on mutations of
//! them, and on garbage; and it accepts every well-formed stream whole, with the boundaries
//! the stream was built with.
//!
//! `PROPTEST_CASES` sets the number of cases of each property (20 000 by default).

#[path = "support/differential.rs"]
mod differential;

use std::ops::Range;

use errata_wire::split_requests;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        // ChaCha, the default, takes most of the time in a debug build.
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

fn word(list: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    select(list).prop_map(str::to_owned)
}

/// A string of `len` bytes from `alphabet` (cheaper to generate than a regex in debug builds).
fn text(alphabet: &'static [u8], len: Range<usize>) -> impl Strategy<Value = String> + Clone {
    vec(select(alphabet), len).prop_map(|b| String::from_utf8(b).unwrap())
}

/// Body bytes: pieces of other messages, line ends, and bytes of every kind.
fn data(pieces: Range<usize>) -> impl Strategy<Value = Vec<u8>> + Clone {
    const PIECES: &[&[u8]] = &[
        b"hello",
        b"{\"a\":1}",
        b"\r\n",
        b"\n",
        b"0\r\n\r\n",
        b"5\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"Content-Length: 5\r\n",
        b"\0",
        b"\xff\xfe",
        b"x",
        b" ",
        b"\t",
        b"\x80",
    ];
    vec(select(PIECES), pieces).prop_map(|p| p.concat())
}

const SEGMENT: &[u8] = b"abcXYZ019._~%!$&'()*+,;=:@-";
const QUERY: &[u8] = b"abcXYZ019._~%!$&'()*+,;=:@-/?";
const VALUE: &[u8] = b"abc XYZ 019 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t";

/// A chunked body: chunks of data (sizes in hex of any case, maybe zero-padded, maybe with
/// extensions), the last chunk, maybe trailers.
fn chunked_body() -> impl Strategy<Value = Vec<u8>> {
    let chunk = (
        data(1..8),
        any::<bool>(),
        0..3usize,
        word(&["", ";a", ";name=value", " ; q=\"x y\"", "\t;e"]),
    )
        .prop_map(|(data, upper, pad, ext)| {
            let size = if upper {
                format!("{:X}", data.len())
            } else {
                format!("{:x}", data.len())
            };
            let size = format!("{}{size}", "0".repeat(pad));
            [
                format!("{size}{ext}\r\n").into_bytes(),
                data,
                b"\r\n".to_vec(),
            ]
            .concat()
        });
    (
        vec(chunk, 0..4),
        word(&["0", "000", "0;end"]),
        vec(
            word(&["X-Sum: 1", "Expires: never", "y:", "Z-A: a b\tc"]),
            0..3,
        ),
    )
        .prop_map(|(chunks, last, trailers)| {
            let trailers: String = trailers.iter().map(|t| format!("{t}\r\n")).collect();
            [
                chunks.concat(),
                format!("{last}\r\n{trailers}\r\n").into_bytes(),
            ]
            .concat()
        })
}

#[derive(Clone, Debug)]
enum Body {
    None,
    Length(Vec<u8>),
    Chunked(Vec<u8>),
}

/// One well-formed request (never an upgrade).
fn request() -> impl Strategy<Value = Vec<u8>> {
    let target = (
        vec(text(SEGMENT, 0..8), 0..4),
        proptest::option::of(text(QUERY, 0..12)),
    )
        .prop_map(|(segments, query)| {
            let path = format!("/{}", segments.join("/"));
            match query {
                Some(q) => format!("{path}?{q}"),
                None => path,
            }
        });
    let header = prop_oneof![
        (
            word(&[
                "Host",
                "Accept",
                "User-Agent",
                "Authorization",
                "x-request-id"
            ]),
            text(VALUE, 0..20)
        ),
        (
            text(b"abcxyz019-", 1..10).prop_map(|n| format!("x-{n}")),
            text(VALUE, 0..20)
        ),
        (
            word(&["Connection"]),
            word(&["close", "keep-alive", "Keep-Alive, Upgrade", "te"])
        ),
        (word(&["Expect"]), word(&["100-continue"])),
    ]
    .prop_map(|(n, v)| format!("{n}: {v}\r\n"));
    let body = prop_oneof![
        Just(Body::None),
        data(0..10).prop_map(Body::Length),
        chunked_body().prop_map(Body::Chunked),
    ];
    (
        0..2usize,
        word(&[
            "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "X-PURGE", "get",
        ]),
        target,
        prop_oneof![4 => Just(1u8), 1 => Just(0u8)],
        vec(header, 0..6),
        body,
        any::<bool>(),
        word(&["Content-Length", "content-length", "CONTENT-LENGTH"]),
        word(&["Transfer-Encoding: chunked", "transfer-encoding: Chunked"]),
    )
        .prop_map(
            |(blank, method, target, minor, headers, body, before, cl_name, te)| {
                let (framing, body) = match body {
                    Body::None => (None, Vec::new()),
                    Body::Length(b) => (Some(format!("{cl_name}: {}\r\n", b.len())), b),
                    // HTTP/1.0 has no chunked bodies: the data goes as they are.
                    Body::Chunked(b) if minor == 0 => {
                        (Some(format!("{cl_name}: {}\r\n", b.len())), b)
                    }
                    Body::Chunked(b) => (Some(format!("{te}\r\n")), b),
                };
                let mut lines = headers.concat();
                if let Some(f) = framing {
                    if before {
                        lines = f + &lines;
                    } else {
                        lines.push_str(&f);
                    }
                }
                [
                    "\r\n".repeat(blank).into_bytes(),
                    format!("{method} {target} HTTP/1.{minor}\r\n{lines}\r\n").into_bytes(),
                    body,
                ]
                .concat()
            },
        )
}

/// Several well-formed requests, maybe ending with an upgrade and bytes of another protocol;
/// with the boundaries they were built with.
fn stream() -> impl Strategy<Value = (Vec<u8>, Vec<Range<usize>>)> {
    let upgrade = proptest::option::of((
        word(&[
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "CONNECT h.example:443 HTTP/1.1\r\nHost: h.example:443\r\n\r\n",
        ]),
        data(0..4),
    ));
    (vec(request(), 1..5), upgrade).prop_map(|(messages, upgrade)| {
        let mut bytes = Vec::new();
        let mut ranges = Vec::new();
        for m in messages {
            ranges.push(bytes.len()..bytes.len() + m.len());
            bytes.extend(m);
        }
        if let Some((head, after)) = upgrade {
            ranges.push(bytes.len()..bytes.len() + head.len());
            bytes.extend(head.as_bytes());
            bytes.extend(after);
        }
        (bytes, ranges)
    })
}

/// Bytes and snippets that change how a message is framed.
const SNIPPETS: &[&str] = &[
    "\r",
    "\n",
    "\r\n",
    " ",
    "\t",
    ":",
    ",",
    ";",
    "0",
    "5",
    "f",
    "\0",
    "\x0b",
    "-",
    "+",
    "\"",
    "\r\n\r\n",
    "\r\n ",
    "Content-Length: 5\r\n",
    "Content-Length: 0\r\n",
    "Content-Length: 5, 5\r\n",
    "Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip, chunked\r\n",
    "Transfer-Encoding: identity\r\n",
    "HTTP/1.0",
    "0\r\n\r\n",
    "5\r\nhello\r\n",
    "ffffffffffffffffff",
    ";ext",
    "X-T: 1\r\n",
    "Upgrade: x\r\n",
    "GET / HTTP/1.1\r\n\r\n",
];

#[derive(Clone, Debug)]
enum Mutation {
    Insert(Index, &'static str),
    Delete(Index, usize),
    Replace(Index, u8),
    Duplicate(Index, usize),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), select(SNIPPETS)).prop_map(|(i, s)| Mutation::Insert(i, s)),
        2 => (any::<Index>(), 1..4usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        1 => (any::<Index>(), 1..30usize).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let at = |i: &Index, extra: usize| i.index(bytes.len() + extra);
        match m {
            Mutation::Insert(i, s) => {
                let at = at(i, 1);
                bytes.splice(at..at, s.bytes());
            }
            Mutation::Delete(i, n) if !bytes.is_empty() => {
                let at = at(i, 0);
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Replace(i, b) if !bytes.is_empty() => {
                let at = at(i, 0);
                bytes[at] = *b;
            }
            Mutation::Duplicate(i, n) if !bytes.is_empty() => {
                let at = at(i, 0);
                let end = (at + n).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(end..end, copy);
            }
            Mutation::Truncate(i) => {
                let at = at(i, 1);
                bytes.truncate(at);
            }
            _ => {}
        }
    }
    bytes
}

/// Pieces of requests, right and wrong, in any order.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    const PIECES: &[&str] = &[
        "GET",
        "POST",
        " ",
        "/",
        "/a?b",
        "*",
        "h:1",
        " HTTP/1.1",
        " HTTP/1.0",
        "\r\n",
        "\n",
        "\r",
        "Content-Length: ",
        "Transfer-Encoding: ",
        "chunked",
        "gzip, ",
        "Host: a",
        "Upgrade: w",
        "5",
        "0",
        "a",
        "ff",
        ";x",
        ":",
        "hello",
        "\t",
        "\0",
        "\r\n\r\n",
    ];
    vec(select(PIECES), 0..40).prop_map(|p| p.concat().into_bytes())
}

fn agree(bytes: &[u8]) -> Result<(), TestCaseError> {
    differential::check(bytes).map_err(TestCaseError::fail)
}

proptest! {
    #![proptest_config(config(cases()))]

    #[test]
    fn well_formed_streams_are_accepted_whole((bytes, ranges) in stream()) {
        let shown = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert_eq!(split_requests(&bytes), (ranges, None), "{:?}", shown);
        agree(&bytes)?;
    }

    #[test]
    fn garbage_agrees_with_the_reference(bytes in garbage()) {
        agree(&bytes)?;
    }
}

proptest! {
    #![proptest_config(config(cases()))]

    #[test]
    fn mutated_streams_agree_with_the_reference(
        (bytes, _) in stream(),
        mutations in vec(mutation(), 1..4),
    ) {
        agree(&mutate(bytes, &mutations))?;
    }
}

/// The check can fail: a splitter that ignored Content-Length, or refused a sound message, or
/// accepted what the reference refuses, would be caught.
#[test]
fn the_check_catches_disagreements() {
    use differential::{Stop, justified, reference};
    use errata_wire::Refusal;

    let r = reference(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\n\r\n");
    assert_eq!((r.messages, r.stop), (vec![0..40, 40..58], Stop::End));
    let r = reference(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\nX");
    assert_eq!((r.messages, r.stop), (vec![], Stop::Incomplete));

    // A refusal needs the feature it is about.
    let both = Refusal::Malformed("Content-Length and Transfer-Encoding are both present");
    let te_cl = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n";
    assert_eq!(justified(both, te_cl), Ok(()));
    assert!(justified(both, b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx").is_err());
    let not_hex = Refusal::Malformed("a chunk size is not a hexadecimal number");
    let empty_size = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n\r\n";
    assert_eq!(justified(not_hex, empty_size), Ok(()));
    let sound = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert!(justified(not_hex, sound).is_err());
}
