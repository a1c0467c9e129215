use super::*;

fn parse(s: &str, to_head: bool) -> Result<Option<ResponseHead>, Refusal> {
    parse_response(s.as_bytes(), to_head)
}

fn head(s: &str) -> ResponseHead {
    match parse(s, false) {
        Ok(Some(h)) => h,
        other => panic!("{s:?}: {other:?}"),
    }
}

/// The body and keep-alive of a response with this status line and these header lines.
fn framing(status: &str, lines: &str, to_head: bool) -> Result<(BodyKind, bool), Refusal> {
    parse(&format!("HTTP/1.1 {status}\r\n{lines}\r\n"), to_head)
        .map(|h| h.unwrap())
        .map(|h| (h.body, h.keep_alive))
}

#[test]
fn a_response_head_is_ranges_into_the_buffer() {
    let buf = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Id: abc \r\n\r\n{}";
    let h = parse_response(buf, false).unwrap().unwrap();
    assert_eq!(
        h,
        ResponseHead {
            len: 55,
            status: 201,
            minor: 1,
            headers: vec![
                HeaderAt {
                    name: 22..36,
                    value: 38..39
                },
                HeaderAt {
                    name: 41..45,
                    value: 47..50
                },
            ],
            body: BodyKind::Length(2),
            keep_alive: true,
        }
    );
    assert_eq!(&buf[h.len..], b"{}");
    assert_eq!(h.header(buf, "x-id"), Some(&b"abc"[..]));
    assert_eq!(h.headers_named(buf, "X-ID").count(), 1);
}

#[test]
fn some_responses_never_have_a_body() {
    let lines = "Content-Length: 5\r\n";
    for status in [
        "100 Continue",
        "103 Early Hints",
        "204 No Content",
        "304 Not Modified",
    ] {
        assert_eq!(
            framing(status, lines, false),
            Ok((BodyKind::None, true)),
            "{status}"
        );
    }
    assert_eq!(framing("200 OK", lines, true), Ok((BodyKind::None, true)));
    assert_eq!(
        framing("200 OK", "Transfer-Encoding: chunked\r\n", true),
        Ok((BodyKind::None, true))
    );
    assert_eq!(framing("200 OK", "", true), Ok((BodyKind::None, true)));
    assert_eq!(
        framing("200 OK", lines, false),
        Ok((BodyKind::Length(5), true))
    );
}

#[test]
fn a_body_is_chunked_or_sized_or_until_close() {
    assert_eq!(
        framing("200 OK", "Transfer-Encoding: chunked\r\n", false),
        Ok((BodyKind::Chunked, true))
    );
    // A response may compress before chunking.
    assert_eq!(
        framing("200 OK", "Transfer-Encoding: gzip, Chunked\r\n", false),
        Ok((BodyKind::Chunked, true))
    );
    assert_eq!(
        framing("200 OK", "", false),
        Ok((BodyKind::UntilClose, false))
    );
    assert_eq!(
        framing("500 Oops", "Connection: keep-alive\r\n", false),
        Ok((BodyKind::UntilClose, false))
    );
    assert_eq!(
        framing(
            "200 OK",
            "Content-Length: 0\r\nConnection: close\r\n",
            false
        ),
        Ok((BodyKind::Length(0), false))
    );
}

#[test]
fn framing_that_reads_two_ways_is_refused() {
    let refused = |lines: &str, reason: &'static str| {
        assert_eq!(
            framing("200 OK", lines, false),
            Err(Refusal::Malformed(reason)),
            "{lines:?}"
        );
        // Refused even where no body follows: the upstream is broken.
        assert_eq!(
            framing("204 No Content", lines, false),
            Err(Refusal::Malformed(reason)),
            "{lines:?}"
        );
    };
    refused(
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Content-Length and Transfer-Encoding are both present",
    );
    refused(
        "Transfer-Encoding: chunked, gzip\r\n",
        "Transfer-Encoding must end with chunked",
    );
    refused(
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding must end with chunked",
    );
    refused(
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding lists chunked more than once",
    );
    refused(
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "the Transfer-Encoding header is repeated",
    );
    refused(
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "the Content-Length header is repeated",
    );
    refused(
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "the Content-Length headers disagree",
    );
    refused(
        "Content-Length: 5, 5\r\n",
        "the Content-Length header is not a number",
    );
    refused(
        "Content-Length: -1\r\n",
        "the Content-Length header is not a number",
    );
    assert_eq!(
        parse(
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        ),
        Err(Refusal::Malformed(
            "Transfer-Encoding is not allowed in HTTP/1.0"
        ))
    );
}

#[test]
fn keep_alive_follows_the_version_and_connection() {
    let ka = |s: &str| head(s).keep_alive;
    assert!(ka("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(!ka(
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ));
    assert!(!ka("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(ka(
        "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    ));
    assert!(ka(
        "HTTP/1.0 204 No Content\r\nConnection: Keep-Alive\r\n\r\n"
    ));
}

#[test]
fn the_status_line_and_lines_are_checked() {
    let refusal = |s: &str| parse(s, false).unwrap_err();
    assert_eq!(
        refusal("HTTP/1.1 099 Low\r\n\r\n"),
        Refusal::Malformed("the status code is not valid")
    );
    assert_eq!(
        refusal("HTTP/1.1 2x0 OK\r\n\r\n"),
        Refusal::Malformed("the status line is not valid")
    );
    assert_eq!(
        refusal("HTTP/2 200 OK\r\n\r\n"),
        Refusal::Malformed("the HTTP version is not HTTP/1.0 or 1.1")
    );
    assert_eq!(
        refusal("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"),
        Refusal::Malformed(
            "a line of the head ends with a bare CR or LF; lines must end with CRLF"
        )
    );
    assert_eq!(
        refusal("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
        Refusal::Malformed(
            "a header line starts with whitespace (obsolete line folding is not allowed)"
        )
    );
    assert_eq!(
        refusal("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"),
        Refusal::Malformed("a header name is not valid (a token, then a colon)")
    );
    assert_eq!(
        refusal("HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n"),
        Refusal::Malformed("a header value contains a character that is not allowed")
    );
    let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "x: 1\r\n".repeat(101));
    assert_eq!(refusal(&many), Refusal::TooLarge);
    assert_eq!(
        refusal("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"),
        Refusal::Malformed("the Content-Length header is not a number")
    );
    // The reason phrase may be missing.
    assert_eq!(
        head("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").status,
        200
    );
    assert_eq!(
        head("HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n").status,
        999
    );
}

#[test]
fn incomplete_and_oversized_heads() {
    assert_eq!(parse("HTTP/1.1 200 OK\r\nContent-Len", false), Ok(None));
    assert_eq!(parse("", false), Ok(None));
    let partial = format!("HTTP/1.1 200 OK\r\nx: {}", "b".repeat(MAX_HEAD_BYTES));
    assert_eq!(parse(&partial[..MAX_HEAD_BYTES - 1], false), Ok(None));
    assert_eq!(
        parse(&partial[..MAX_HEAD_BYTES], false),
        Err(Refusal::TooLarge)
    );
}
