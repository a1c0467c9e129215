//! The known request-smuggling and response-desync shapes, each with its exact verdict.
//!
//! A request case is a stream cut into pieces: the verdict says how many leading pieces are
//! whole messages (so the boundaries are exact) and the refusal that stops the split, if any.
//! The same cases seed the fuzz targets' corpora (`fuzz/corpus/*/smuggling-*`); run with
//! `ERRATA_WIRE_WRITE_SEEDS=1` after changing a case to write them again.

use std::path::{Path, PathBuf};

use errata_wire::{BodyKind, Refusal, parse_request, parse_response, split_requests};

const BOTH: Refusal = Refusal::Malformed("Content-Length and Transfer-Encoding are both present");
const CL_NAN: Refusal = Refusal::Malformed("the Content-Length header is not a number");
const CL_REPEATED: Refusal = Refusal::Malformed("the Content-Length header is repeated");
const CL_DISAGREE: Refusal = Refusal::Malformed("the Content-Length headers disagree");
const TE_REPEATED: Refusal = Refusal::Malformed("the Transfer-Encoding header is repeated");
const TE_HTTP10: Refusal = Refusal::Malformed("Transfer-Encoding is not allowed in HTTP/1.0");
const TE_LAST: Refusal = Refusal::Malformed("Transfer-Encoding must end with chunked");
const TE_ONLY_CHUNKED: Refusal =
    Refusal::NotImplemented("a request's Transfer-Encoding must be exactly chunked");
const BARE: Refusal =
    Refusal::Malformed("a line of the head ends with a bare CR or LF; lines must end with CRLF");
const FOLDED: Refusal = Refusal::Malformed(
    "a header line starts with whitespace (obsolete line folding is not allowed)",
);
const NAME: Refusal = Refusal::Malformed("a header name is not valid (a token, then a colon)");
const VALUE: Refusal =
    Refusal::Malformed("a header value contains a character that is not allowed");
const HEAD: Refusal = Refusal::Malformed("the request head is not valid HTTP/1.1");
const METHOD: Refusal = Refusal::Malformed("the method is not a valid token");
const TARGET: Refusal = Refusal::Malformed("the request target is not valid");
const NOT_HEX: Refusal = Refusal::Malformed("a chunk size is not a hexadecimal number");
const SIZE_TOO_LARGE: Refusal = Refusal::Malformed("a chunk size has more than 16 hex digits");
const LINE_END: Refusal = Refusal::Malformed("a chunk-size line does not end with CRLF");
const BAD_EXTENSION: Refusal = Refusal::Malformed("a chunk extension contains a control character");
const DATA_END: Refusal = Refusal::Malformed("chunk data is not followed by CRLF");
const BAD_TRAILER: Refusal =
    Refusal::Malformed("a trailer line is not a header field ending with CRLF");

/// What the first message's head says, where a case is about it.
#[derive(Debug, PartialEq, Eq)]
struct First {
    body: BodyKind,
    keep_alive: bool,
    expect_continue: bool,
    upgrade: bool,
}

struct Case {
    name: &'static str,
    pieces: &'static [&'static str],
    /// How many leading pieces are whole messages.
    messages: usize,
    refusal: Option<Refusal>,
    first: Option<First>,
}

const fn case(
    name: &'static str,
    pieces: &'static [&'static str],
    messages: usize,
    refusal: Option<Refusal>,
) -> Case {
    Case {
        name,
        pieces,
        messages,
        refusal,
        first: None,
    }
}

const fn flags(mut c: Case, body: BodyKind, keep_alive: bool, expect: bool, up: bool) -> Case {
    c.first = Some(First {
        body,
        keep_alive,
        expect_continue: expect,
        upgrade: up,
    });
    c
}

const GET: &str = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
const ADMIN: &str = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";

#[rustfmt::skip]
const REQUESTS: &[Case] = &[
    // CL.TE and TE.CL: the two headers together are refused whatever their order or values.
    case("cl-te", &["POST / HTTP/1.1\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"], 0, Some(BOTH)),
    case("te-cl", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"], 0, Some(BOTH)),
    case("te-cl-zero", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n"], 0, Some(BOTH)),
    case("te-obfuscated-cl", &["POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: xchunked\r\n\r\n5c\r\nGPOST"], 0, Some(BOTH)),
    case("cl-invalid-te", &["POST / HTTP/1.1\r\nContent-Length: +4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], 0, Some(BOTH)),
    // TE.TE: every obfuscation of Transfer-Encoding.
    case("te-xchunked", &["POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"], 0, Some(TE_LAST)),
    case("te-chunkedx", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n"], 0, Some(TE_LAST)),
    case("te-quoted", &["POST / HTTP/1.1\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n"], 0, Some(TE_LAST)),
    case("te-parameter", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n"], 0, Some(TE_LAST)),
    case("te-identity", &["POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"], 0, Some(TE_LAST)),
    case("te-chunked-gzip", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"], 0, Some(TE_LAST)),
    case("te-gzip-chunked", &["POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"], 0, Some(TE_ONLY_CHUNKED)),
    case("te-chunked-twice", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"], 0, Some(TE_ONLY_CHUNKED)),
    case("te-vertical-tab", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n"], 0, Some(VALUE)),
    case("te-space-before-colon", &["POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"], 0, Some(NAME)),
    case("te-folded", &["POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"], 0, Some(FOLDED)),
    case("te-folded-behind-other", &["POST / HTTP/1.1\r\nX: a\r\n\tTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], 0, Some(FOLDED)),
    case("te-twice-chunked-identity", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n"], 0, Some(TE_REPEATED)),
    case("te-twice-chunked", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"], 0, Some(TE_REPEATED)),
    case("te-http10", &["POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], 0, Some(TE_HTTP10)),
    case("te-http10-with-cl", &["POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], 0, Some(TE_HTTP10)),
    // Whitespace around a value is not part of it: these are plain chunked bodies.
    flags(case("te-leading-space", &["POST / HTTP/1.1\r\nTransfer-Encoding:  chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", GET], 2, None), BodyKind::Chunked, true, false, false),
    case("te-tab-around", &["POST / HTTP/1.1\r\nTransfer-Encoding:\tChunked\t\r\n\r\n0\r\n\r\n", GET], 2, None),
    // Not Transfer-Encoding at all: no body, so what follows is read as the next request.
    case("te-underscore", &["POST / HTTP/1.1\r\nTransfer_Encoding: chunked\r\n\r\n", "0\r\n\r\n"], 1, Some(METHOD)),
    // Content-Length: once, plain digits.
    case("cl-twice-equal", &["POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"], 0, Some(CL_REPEATED)),
    case("cl-twice-different", &["POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"], 0, Some(CL_DISAGREE)),
    case("cl-list-equal", &["POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello"], 0, Some(CL_NAN)),
    case("cl-list-different", &["POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello!"], 0, Some(CL_NAN)),
    case("cl-plus", &["POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello"], 0, Some(CL_NAN)),
    case("cl-minus", &["POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\nhello"], 0, Some(CL_NAN)),
    case("cl-hex", &["POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\nhello"], 0, Some(CL_NAN)),
    case("cl-space-inside", &["POST / HTTP/1.1\r\nContent-Length: 1 0\r\n\r\nhello"], 0, Some(CL_NAN)),
    case("cl-empty", &["POST / HTTP/1.1\r\nContent-Length:\r\n\r\nhello"], 0, Some(CL_NAN)),
    case("cl-overflow", &["POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\nhello"], 0, Some(CL_NAN)),
    case("cl-past-max", &["POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nhello"], 0, Some(Refusal::TooLarge)),
    case("cl-space-before-colon", &["POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello"], 0, Some(NAME)),
    flags(case("cl-leading-spaces", &["POST / HTTP/1.1\r\nContent-Length:    5\r\n\r\nhello", GET], 2, None), BodyKind::Length(5), true, false, false),
    case("cl-leading-zeros", &["POST / HTTP/1.1\r\nContent-Length: 0005\r\n\r\nhello", GET], 2, None),
    // Line endings: CRLF only.
    case("bare-lf-request-line", &["GET / HTTP/1.1\nHost: a\r\n\r\n"], 0, Some(BARE)),
    case("bare-lf-header", &["GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"], 0, Some(BARE)),
    case("bare-lf-everywhere", &["GET / HTTP/1.1\nHost: a\n\n"], 0, Some(BARE)),
    case("bare-lf-leading", &["\nGET / HTTP/1.1\r\n\r\n"], 0, Some(BARE)),
    case("bare-lf-after-message", &[GET, "GET / HTTP/1.1\r\nContent-Length: 1\n\r\nx"], 1, Some(BARE)),
    case("bare-cr-request-line", &["GET / HTTP/1.1\rHost: a\r\n\r\n"], 0, Some(HEAD)),
    case("bare-cr-value", &["GET / HTTP/1.1\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n"], 0, Some(VALUE)),
    case("nul-in-value", &["GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"], 0, Some(VALUE)),
    case("nul-in-name", &["GET / HTTP/1.1\r\nX\0: a\r\n\r\n"], 0, Some(NAME)),
    case("http09", &["GET /\r\n\r\n"], 0, Some(TARGET)),
    case("leading-crlf", &["\r\n\r\nGET / HTTP/1.1\r\n\r\n", GET], 2, None),
    // Chunked bodies.
    case("chunk-extensions", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;x\r\nhello\r\n0;last=\"yes\"\r\n\r\n", GET], 2, None),
    case("chunk-extension-bare-lf", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nGET /admin HTTP/1.1\r\n\r\n"], 0, Some(LINE_END)),
    case("chunk-extension-nul", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a\0\r\nhello\r\n0\r\n\r\n"], 0, Some(BAD_EXTENSION)),
    case("chunk-size-overflow", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n"], 0, Some(SIZE_TOO_LARGE)),
    case("chunk-size-sixteen-digits", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000005\r\nhello\r\n0\r\n\r\n", GET], 2, None),
    case("chunk-size-negative", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n"], 0, Some(NOT_HEX)),
    case("chunk-size-0x", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"], 0, Some(NOT_HEX)),
    case("chunk-size-leading-space", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n"], 0, Some(NOT_HEX)),
    case("chunk-size-empty", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n"], 0, Some(NOT_HEX)),
    case("chunk-size-trailing-space", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", GET], 2, None),
    case("chunk-size-bare-lf", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"], 0, Some(LINE_END)),
    case("chunk-data-longer", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n"], 0, Some(DATA_END)),
    case("chunk-data-no-crlf", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello0\r\n\r\n"], 0, Some(DATA_END)),
    case("chunk-data-bare-lf", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n"], 0, Some(DATA_END)),
    case("trailers", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\nY: z\r\n\r\n", GET], 2, None),
    case("no-trailers", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", GET], 2, None),
    case("trailer-bare-lf", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\n\r\n"], 0, Some(BAD_TRAILER)),
    case("trailer-is-a-request", &["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nGET /admin HTTP/1.1\r\n\r\n"], 0, Some(BAD_TRAILER)),
    // Flags the relay acts on.
    flags(case("expect-continue", &["PUT /f HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\nabc", GET], 2, None), BodyKind::Length(3), true, true, false),
    flags(case("expect-continue-http10", &["PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"], 1, None), BodyKind::Length(3), false, false, false),
    flags(case("upgrade-websocket", &["GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "\u{1}\u{5}hello", GET], 1, None), BodyKind::None, true, false, true),
    flags(case("upgrade-http10-ignored", &["GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n\r\n", GET], 2, None), BodyKind::None, true, false, false),
    flags(case("connect", &["CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", "\u{16}\u{3}\u{1}", GET], 1, None), BodyKind::None, true, false, true),
    case("connect-http10-with-upgrade", &["CONNECT a:443 HTTP/1.0\r\nUpgrade: x\r\n\r\n", "\u{16}\u{3}\u{1}", GET], 0, Some(Refusal::Malformed("an HTTP/1.0 CONNECT request has an Upgrade header"))),
    flags(case("upgrade-with-body", &["POST /h2c HTTP/1.1\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\n{}", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], 1, None), BodyKind::Length(2), true, false, true),
    // Pipelining: boundaries are exact.
    case("pipelined", &[GET, "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "PUT /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", ADMIN], 4, None),
    case("get-cl-zero-then-request", &["GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", ADMIN], 2, None),
    case("get-with-body-holding-a-request", &["GET / HTTP/1.1\r\nContent-Length: 32\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n", GET], 2, None),
    case("no-length-then-bytes", &["POST / HTTP/1.1\r\nHost: a\r\n\r\n", ADMIN], 2, None),
    case("no-length-then-garbage", &["POST / HTTP/1.1\r\nHost: a\r\n\r\n", "hello world\r\n\r\n"], 1, Some(TARGET)),
    case("incomplete-body", &[GET, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nhello"], 1, None),
    case("incomplete-chunked", &[GET, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"], 1, None),
];

struct ResponseCase {
    name: &'static str,
    bytes: &'static str,
    to_head: bool,
    verdict: Result<(usize, BodyKind, bool), Refusal>,
}

const fn response(
    name: &'static str,
    bytes: &'static str,
    to_head: bool,
    verdict: Result<(usize, BodyKind, bool), Refusal>,
) -> ResponseCase {
    ResponseCase {
        name,
        bytes,
        to_head,
        verdict,
    }
}

#[rustfmt::skip]
const RESPONSES: &[ResponseCase] = &[
    response("cl-te", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, Err(BOTH)),
    response("cl-twice", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello", false, Err(CL_DISAGREE)),
    response("te-not-last", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false, Err(TE_LAST)),
    response("te-http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, Err(TE_HTTP10)),
    response("bare-lf", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", false, Err(BARE)),
    response("folded", "HTTP/1.1 200 OK\r\nContent-Length:\r\n 5\r\n\r\nhello", false, Err(FOLDED)),
    response("gzip-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", false, Ok((53, BodyKind::Chunked, true))),
    response("no-length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close", false, Ok((45, BodyKind::UntilClose, false))),
    response("no-content-then-next", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n", false, Ok((46, BodyKind::None, true))),
    response("not-modified", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, Ok((57, BodyKind::None, true))),
    response("to-head", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", true, Ok((41, BodyKind::None, true))),
    response("continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", false, Ok((25, BodyKind::None, true))),
];

#[test]
fn requests_have_their_exact_verdicts() {
    let mut failures = Vec::new();
    for c in REQUESTS {
        let stream = c.pieces.concat();
        let mut ends = Vec::new();
        let mut at = 0;
        for piece in &c.pieces[..c.messages] {
            ends.push(at..at + piece.len());
            at += piece.len();
        }
        let got = split_requests(stream.as_bytes());
        if got != (ends.clone(), c.refusal) {
            failures.push(format!(
                "{}: got {got:?}, want {:?}",
                c.name,
                (ends, c.refusal)
            ));
        }
        if let Some(first) = &c.first {
            let h = parse_request(stream.as_bytes()).unwrap().unwrap();
            let got = First {
                body: h.body,
                keep_alive: h.keep_alive,
                expect_continue: h.expect_continue,
                upgrade: h.upgrade,
            };
            if &got != first {
                failures.push(format!("{}: got {got:?}, want {first:?}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn responses_have_their_exact_verdicts() {
    let mut failures = Vec::new();
    for c in RESPONSES {
        let got = parse_response(c.bytes.as_bytes(), c.to_head)
            .map(|h| h.unwrap())
            .map(|h| (h.len, h.body, h.keep_alive));
        if got != c.verdict {
            failures.push(format!("{}: got {got:?}, want {:?}", c.name, c.verdict));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn names_are_unique() {
    let mut names: Vec<&str> = REQUESTS.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), REQUESTS.len());
}

/// The seed files every case gives the fuzz targets: (target, file name, bytes).
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for c in REQUESTS {
        let stream = c.pieces.concat().into_bytes();
        out.push(("split", format!("smuggling-{}", c.name), stream.clone()));
        if let Ok(Some(h)) = parse_request(&stream)
            && h.body == BodyKind::Chunked
        {
            // The chunked target reads a step seed, then the body.
            let body = [&[7u8][..], &stream[h.len..]].concat();
            out.push(("chunked", format!("smuggling-{}", c.name), body));
        }
    }
    for c in RESPONSES {
        // The response target reads `to_head` from the first byte.
        let bytes = [&[u8::from(c.to_head)][..], c.bytes.as_bytes()].concat();
        out.push(("response", format!("smuggling-{}", c.name), bytes));
    }
    out
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

#[test]
fn the_fuzz_seed_corpus_holds_every_case() {
    let write = std::env::var_os("ERRATA_WIRE_WRITE_SEEDS").is_some();
    let mut stale = Vec::new();
    for (target, name, bytes) in seeds() {
        let path = corpus_dir(target).join(&name);
        if write {
            std::fs::create_dir_all(corpus_dir(target)).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "seed files missing or stale (ERRATA_WIRE_WRITE_SEEDS=1 writes them):\n{}",
        stale.join("\n")
    );
}
