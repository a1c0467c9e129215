use super::*;

const BOTH: Refusal = Refusal::Malformed("Content-Length and Transfer-Encoding are both present");
const NAN: Refusal = Refusal::Malformed("the Content-Length header is not a number");
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

fn parse(s: &str) -> Result<Option<RequestHead>, Refusal> {
    parse_request(s.as_bytes())
}

fn head(s: &str) -> RequestHead {
    match parse(s) {
        Ok(Some(h)) => h,
        other => panic!("{s:?}: {other:?}"),
    }
}

fn refusal(s: &str) -> Refusal {
    match parse(s) {
        Err(r) => r,
        other => panic!("{s:?} was not refused: {other:?}"),
    }
}

/// The body of a POST with these header lines.
fn body(lines: &str) -> Result<BodyKind, Refusal> {
    parse(&format!("POST / HTTP/1.1\r\n{lines}\r\n")).map(|h| h.unwrap().body)
}

#[test]
fn a_plain_get_is_ranges_into_the_buffer() {
    let buf = b"GET /v1/x?y=1 HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Pad: \t b c \t\r\n\r\nGET";
    let h = parse_request(buf).unwrap().unwrap();
    assert_eq!(
        h,
        RequestHead {
            len: 61,
            method: 0..3,
            target: 4..13,
            minor: 1,
            headers: vec![
                HeaderAt {
                    name: 24..28,
                    value: 30..31
                },
                HeaderAt {
                    name: 33..40,
                    value: 41..41
                },
                HeaderAt {
                    name: 43..48,
                    value: 52..55
                },
            ],
            body: BodyKind::None,
            keep_alive: true,
            expect_continue: false,
            upgrade: false,
        }
    );
    assert_eq!(&buf[h.len..], b"GET");
    assert_eq!(h.method(buf), "GET");
    assert_eq!(h.target(buf), "/v1/x?y=1");
    assert_eq!(h.path(buf), "/v1/x");
    assert_eq!(h.header(buf, "host"), Some(&b"a"[..]));
    assert_eq!(h.header(buf, "X-EMPTY"), Some(&b""[..]));
    assert_eq!(h.header(buf, "x-pad"), Some(&b"b c"[..]));
    assert_eq!(h.header(buf, "x-none"), None);
}

#[test]
fn leading_empty_lines_are_skipped_and_counted() {
    let h = head("\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    assert_eq!((h.len, h.method, h.target), (22, 4..7, 8..9));
    // Bare LF is refused, even there.
    assert_eq!(refusal("\nGET / HTTP/1.1\r\n\r\n"), BARE);
}

#[test]
fn headers_named_gives_every_line_in_order() {
    let buf = b"GET / HTTP/1.1\r\nAccept: a\r\nX: 1\r\naccept: b\r\n\r\n";
    let h = parse_request(buf).unwrap().unwrap();
    let all: Vec<&[u8]> = h.headers_named(buf, "ACCEPT").collect();
    assert_eq!(all, [&b"a"[..], &b"b"[..]]);
}

#[test]
fn the_path_drops_the_query_and_the_authority() {
    for (target, path) in [
        ("/a/b?c=d", "/a/b"),
        ("/a#frag", "/a"),
        ("/", "/"),
        ("http://h.example/x/y?q", "/x/y"),
        ("http://h.example?q", "/"),
        ("https://h.example", "/"),
        ("*", "*"),
        ("h.example:443", "h.example:443"),
    ] {
        let method = if target.contains(':') && !target.contains('/') {
            "CONNECT"
        } else if target == "*" {
            "OPTIONS"
        } else {
            "GET"
        };
        let s = format!("{method} {target} HTTP/1.1\r\n\r\n");
        assert_eq!(head(&s).path(s.as_bytes()), path, "{target}");
    }
}

#[test]
fn content_length_frames_the_body() {
    assert_eq!(body("Content-Length: 12\r\n"), Ok(BodyKind::Length(12)));
    assert_eq!(body("content-length: 0\r\n"), Ok(BodyKind::Length(0)));
    assert_eq!(body("Content-Length: 007\r\n"), Ok(BodyKind::Length(7)));
    assert_eq!(
        body("Content-Length: 18446744073709551613\r\n"),
        Ok(BodyKind::Length(u64::MAX - 2))
    );
    assert_eq!(
        body("Content-Length: 18446744073709551614\r\n"),
        Err(Refusal::TooLarge)
    );
    assert_eq!(body("X: 1\r\n"), Ok(BodyKind::None));
}

#[test]
fn content_length_is_plain_digits_or_refused() {
    for value in [
        "+5",
        "-5",
        "5 5",
        "0x5",
        "5,",
        "5, 5",
        "5, 6",
        "five",
        "",
        "99999999999999999999999",
        "5\u{e9}",
    ] {
        assert_eq!(
            body(&format!("Content-Length: {value}\r\n")),
            Err(NAN),
            "{value:?}"
        );
    }
}

#[test]
fn a_second_content_length_is_refused() {
    assert_eq!(
        body("Content-Length: 5\r\nContent-Length: 5\r\n"),
        Err(CL_REPEATED)
    );
    assert_eq!(
        body("Content-Length: 5\r\ncontent-length: 05\r\n"),
        Err(CL_REPEATED)
    );
    assert_eq!(
        body("Content-Length: 5\r\nContent-Length: 6\r\n"),
        Err(CL_DISAGREE)
    );
    assert_eq!(
        body("Content-Length: 5\r\nContent-Length: x\r\n"),
        Err(CL_DISAGREE)
    );
    // The first value is judged first.
    assert_eq!(body("Content-Length: x\r\nContent-Length: 5\r\n"), Err(NAN));
}

#[test]
fn transfer_encoding_must_be_exactly_chunked() {
    for value in ["chunked", "CHUNKED", "Chunked", "  chunked \t"] {
        assert_eq!(
            body(&format!("Transfer-Encoding: {value}\r\n")),
            Ok(BodyKind::Chunked),
            "{value:?}"
        );
    }
    for (value, want) in [
        ("gzip, chunked", TE_ONLY_CHUNKED),
        ("chunked, chunked", TE_ONLY_CHUNKED),
        (",chunked", TE_ONLY_CHUNKED),
        ("chunked, gzip", TE_LAST),
        ("chunked,", TE_LAST),
        ("xchunked", TE_LAST),
        ("chunkedx", TE_LAST),
        ("identity", TE_LAST),
        ("", TE_LAST),
        ("chun ked", TE_LAST),
    ] {
        assert_eq!(
            body(&format!("Transfer-Encoding: {value}\r\n")),
            Err(want),
            "{value:?}"
        );
    }
}

#[test]
fn transfer_encoding_is_alone_once_and_in_http_1_1() {
    assert_eq!(
        body("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
        Err(BOTH)
    );
    assert_eq!(
        body("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
        Err(BOTH)
    );
    // Even when the Content-Length is itself invalid.
    assert_eq!(
        body("Content-Length: +5\r\nTransfer-Encoding: chunked\r\n"),
        Err(BOTH)
    );
    assert_eq!(
        body("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"),
        Err(TE_REPEATED)
    );
    assert_eq!(
        body("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        Err(TE_REPEATED)
    );
    assert_eq!(
        refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        TE_HTTP10
    );
    assert_eq!(
        refusal("POST / HTTP/1.0\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        TE_HTTP10
    );
}

#[test]
fn every_line_ends_with_crlf() {
    assert_eq!(refusal("GET / HTTP/1.1\nHost: a\r\n\r\n"), BARE);
    assert_eq!(refusal("GET / HTTP/1.1\r\nHost: a\n\r\n"), BARE);
    assert_eq!(refusal("GET / HTTP/1.1\r\nHost: a\r\n\n"), BARE);
    assert_eq!(refusal("GET / HTTP/1.1\n\n"), BARE);
    // httparse refuses a bare CR itself.
    assert_eq!(refusal("GET / HTTP/1.1\rHost: a\r\n\r\n"), HEAD);
    assert_eq!(refusal("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), VALUE);
    assert_eq!(refusal("GET / HTTP/1.1\r\nX: a\r\r\n\r\n"), VALUE);
}

#[test]
fn check_line_ends_sees_every_bare_byte() {
    use crate::fields::check_line_ends;
    assert_eq!(check_line_ends(b"a\r\nb\r\n\r\n"), Ok(()));
    assert_eq!(check_line_ends(b""), Ok(()));
    for bad in [
        &b"\n"[..],
        b"\r",
        b"a\r",
        b"a\rb\r\n",
        b"a\r\n\n",
        b"\r\r\n",
        b"a\n\rb",
        b"a\r\nb\n",
    ] {
        assert_eq!(check_line_ends(bad), Err(BARE), "{bad:?}");
    }
}

#[test]
fn header_lines_follow_httparse_and_refuse_folding() {
    assert_eq!(refusal("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), FOLDED);
    assert_eq!(refusal("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), FOLDED);
    assert_eq!(
        refusal("GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n"),
        NAME
    );
    assert_eq!(refusal("GET / HTTP/1.1\r\nX\0: a\r\n\r\n"), NAME);
    assert_eq!(refusal("GET / HTTP/1.1\r\nX-A\r\n\r\n"), NAME);
    assert_eq!(refusal("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"), VALUE);
    assert_eq!(refusal("GET / HTTP/1.1\r\nX: chunked\x0b\r\n\r\n"), VALUE);
    assert_eq!(refusal("GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n"), VALUE);
    // obs-text is allowed in a value.
    assert_eq!(head("GET / HTTP/1.1\r\nX: caf\u{e9}\r\n\r\n").len, 28);
}

#[test]
fn the_request_line_is_checked() {
    assert_eq!(
        refusal("G(T / HTTP/1.1\r\n\r\n"),
        Refusal::Malformed("the method is not a valid token")
    );
    assert_eq!(
        refusal("GET /a b HTTP/1.1\r\n\r\n"),
        Refusal::Malformed("the HTTP version is not HTTP/1.0 or 1.1")
    );
    assert_eq!(
        refusal("GET /\x01 HTTP/1.1\r\n\r\n"),
        Refusal::Malformed("the request target is not valid")
    );
    assert_eq!(
        refusal("GET /a<b HTTP/1.1\r\n\r\n"),
        Refusal::Malformed("the request target is not a valid URI")
    );
    assert_eq!(
        refusal("GET http://a b/ HTTP/1.1\r\n\r\n"),
        Refusal::Malformed("the HTTP version is not HTTP/1.0 or 1.1")
    );
    for version in ["HTTP/1.2", "HTTP/2.0", "http/1.1"] {
        assert_eq!(
            refusal(&format!("GET / {version}\r\n\r\n")),
            Refusal::Malformed("the HTTP version is not HTTP/1.0 or 1.1")
        );
    }
    assert_eq!(head("GET / HTTP/1.0\r\n\r\n").minor, 0);
    assert_eq!(head("PURGE-IT /x HTTP/1.1\r\n\r\n").method, 0..8);
}

#[test]
fn limits_are_hypers() {
    let target = |n: usize| format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(n - 1));
    assert_eq!(head(&target(MAX_URI_LEN)).target, 4..4 + MAX_URI_LEN);
    assert_eq!(refusal(&target(MAX_URI_LEN + 1)), Refusal::UriTooLong);

    let headers = |n: usize| format!("GET / HTTP/1.1\r\n{}\r\n", "x: 1\r\n".repeat(n));
    assert_eq!(head(&headers(MAX_HEADERS)).headers.len(), MAX_HEADERS);
    assert_eq!(refusal(&headers(MAX_HEADERS + 1)), Refusal::TooLarge);

    let value = |n: usize| format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "b".repeat(n));
    let fits = value(MAX_HEAD_BYTES - 23);
    assert_eq!(fits.len(), MAX_HEAD_BYTES);
    assert_eq!(head(&fits).len, MAX_HEAD_BYTES);
    assert_eq!(refusal(&value(MAX_HEAD_BYTES - 22)), Refusal::TooLarge);
    // Incomplete: wait below the limit, refuse at it.
    let partial = format!("GET / HTTP/1.1\r\nx: {}", "b".repeat(MAX_HEAD_BYTES));
    assert_eq!(parse(&partial[..MAX_HEAD_BYTES - 1]), Ok(None));
    assert_eq!(parse(&partial[..MAX_HEAD_BYTES]), Err(Refusal::TooLarge));

    let name = |n: usize| format!("GET / HTTP/1.1\r\n{}: 1\r\n\r\n", "n".repeat(n));
    assert_eq!(head(&name(65_535)).headers[0].name, 16..16 + 65_535);
    assert_eq!(refusal(&name(65_536)), Refusal::TooLarge);
}

#[test]
fn incomplete_heads_wait() {
    for s in [
        "",
        "\r\n",
        "GET",
        "GET / HTTP/1.1\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\r",
    ] {
        assert_eq!(parse(s), Ok(None), "{s:?}");
    }
}

#[test]
fn keep_alive_follows_the_version_and_connection() {
    let ka = |s: &str| head(s).keep_alive;
    assert!(ka("GET / HTTP/1.1\r\n\r\n"));
    assert!(!ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    assert!(!ka(
        "GET / HTTP/1.1\r\nConnection: keep-alive, CLOSE\r\n\r\n"
    ));
    assert!(!ka(
        "GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n"
    ));
    assert!(ka("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n"));
    assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
    assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(ka(
        "GET / HTTP/1.0\r\nConnection: te,,\tkeep-alive \r\n\r\n"
    ));
    assert!(!ka(
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
    ));
}

#[test]
fn expect_continue_is_an_http_1_1_flag() {
    let ec = |s: &str| head(s).expect_continue;
    assert!(ec("PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n"));
    assert!(ec("PUT / HTTP/1.1\r\nexpect: 100-Continue\r\n\r\n"));
    assert!(!ec("PUT / HTTP/1.1\r\nExpect: 100-continue-x\r\n\r\n"));
    assert!(!ec("PUT / HTTP/1.1\r\n\r\n"));
    assert!(!ec("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"));
}

#[test]
fn upgrade_is_connect_or_an_upgrade_header_on_http_1_1() {
    let up = |s: &str| head(s).upgrade;
    assert!(up("CONNECT h:443 HTTP/1.1\r\n\r\n"));
    assert!(up("CONNECT h:443 HTTP/1.0\r\n\r\n"));
    assert!(up(
        "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
    ));
    assert!(!up("GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n"));
    assert!(!up("GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n"));
    assert!(!up("connect h:443 HTTP/1.1\r\n\r\n"));
    assert!(up("CONNECT h:443 HTTP/1.1\r\nUpgrade: x\r\n\r\n"));
    // A tunnel by RFC 9110, a plain request to hyper.
    assert_eq!(
        refusal("CONNECT h:443 HTTP/1.0\r\nUpgrade: x\r\n\r\n"),
        Refusal::Malformed("an HTTP/1.0 CONNECT request has an Upgrade header")
    );
}
