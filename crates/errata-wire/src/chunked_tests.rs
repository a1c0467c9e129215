use super::*;

/// The outcome of a whole body: its data and where the message ends; `Ok(None)` if incomplete.
type Outcome = Result<Option<(Vec<u8>, usize)>, Refusal>;

/// Decodes `input` handed over `step` bytes at a time (the decoder sees only the bytes given
/// so far, as when reading from a socket).
fn decode_in_steps(input: &[u8], step: usize) -> Outcome {
    let mut d = ChunkedDecoder::new();
    let (mut data, mut at, mut seen) = (Vec::new(), 0, 0);
    loop {
        seen = (seen + step).min(input.len()).max(at);
        match d.decode(&input[at..seen])? {
            (n, Chunk::End) => {
                assert!(d.is_done());
                return Ok(Some((data, at + n)));
            }
            (n, Chunk::Data(r)) => {
                data.extend_from_slice(&input[at..][r]);
                at += n;
            }
            (0, Chunk::Framing) if seen == input.len() => return Ok(None),
            (n, Chunk::Framing) => at += n,
        }
    }
}

/// Decodes `input` whole and in every step size up to 7, and checks they agree.
fn decode(input: &[u8]) -> Outcome {
    let whole = decode_in_steps(input, input.len().max(1));
    for step in 1..8 {
        assert_eq!(
            decode_in_steps(input, step),
            whole,
            "step {step}: {input:?}"
        );
    }
    whole
}

fn ends(input: &[u8], data: &[u8]) {
    assert_eq!(
        decode(input),
        Ok(Some((data.to_vec(), input.len()))),
        "{input:?}"
    );
}

fn refused(input: &[u8], why: Refusal) {
    assert_eq!(decode(input), Err(why), "{input:?}");
}

#[test]
fn one_call_takes_framing_then_data() {
    let body = b"5\r\nhello\r\n0\r\n\r\n";
    let mut d = ChunkedDecoder::new();
    assert_eq!(d.decode(body), Ok((8, Chunk::Data(3..8))));
    assert_eq!(d.decode(&body[8..]), Ok((7, Chunk::End)));
    assert!(d.is_done());
    assert_eq!(d.decode(b"more"), Ok((0, Chunk::End)));

    let mut d = ChunkedDecoder::new();
    assert_eq!(d.decode(b""), Ok((0, Chunk::Framing)));
    assert_eq!(d.decode(b"1"), Ok((1, Chunk::Framing)));
    assert_eq!(d.decode(b"0\r"), Ok((2, Chunk::Framing)));
    assert_eq!(d.decode(b"\nabc"), Ok((4, Chunk::Data(1..4))));
    assert_eq!(d.decode(b"defghijklmnopq"), Ok((13, Chunk::Data(0..13))));
    assert!(!d.is_done());
}

#[test]
fn bodies_end_where_the_last_chunk_and_trailers_do() {
    ends(b"0\r\n\r\n", b"");
    ends(b"5\r\nhello\r\n0\r\n\r\n", b"hello");
    ends(b"3\r\nabc\r\n2\r\nde\r\n000\r\n\r\n", b"abcde");
    ends(b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789");
    ends(b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789");
    // The next message is not consumed.
    assert_eq!(
        decode(b"1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
        Ok(Some((b"x".to_vec(), 11)))
    );
    assert_eq!(decode(b"5\r\nhel"), Ok(None));
    assert_eq!(decode(b"5\r\nhello\r\n0\r\n"), Ok(None));
    assert_eq!(decode(b""), Ok(None));
}

#[test]
fn chunk_sizes_are_one_to_sixteen_hex_digits() {
    for bad in [
        &b"\r\n"[..],
        b"g\r\n",
        b"-5\r\n",
        b"+5\r\n",
        b" 5\r\n",
        b"0x5\r\n",
        b"5 5\r\n",
    ] {
        refused(bad, NOT_HEX);
    }
    refused(b"ffffffffffffffffff\r\n", SIZE_TOO_LARGE);
    refused(b"00000000000000001\r\n", SIZE_TOO_LARGE);
    // Sixteen digits fit in a u64.
    let mut d = ChunkedDecoder::new();
    assert_eq!(
        d.decode(b"ffffffffffffffff\r\nab"),
        Ok((20, Chunk::Data(18..20)))
    );
    assert_eq!(d.remaining, u64::MAX - 2);
    // Whitespace may follow the size.
    ends(b"1 \t\r\nx\r\n0\r\n\r\n", b"x");
}

#[test]
fn chunk_lines_end_with_crlf() {
    refused(b"5\nhello\r\n", LINE_END);
    refused(b"5\rhello\r\n", LINE_END);
    refused(b"5 \n", LINE_END);
    refused(b"0\r\r\n", LINE_END);
}

#[test]
fn extensions_are_allowed_but_bounded() {
    ends(b"5;name=value\r\nhello\r\n0;last\r\n\r\n", b"hello");
    ends(b"5 ; a=\"b c\"\t;d\r\nhello\r\n0\r\n\r\n", b"hello");
    refused(b"5;a\nb\r\nhello\r\n0\r\n\r\n", LINE_END);
    refused(b"5;a\rb\r\n", LINE_END);
    refused(b"5;a\0\r\n", BAD_EXTENSION);
    refused(b"5;a\x7f\r\n", BAD_EXTENSION);
    let line = |ext: usize| [&b"1;"[..], &b"e".repeat(ext), b"\r\nx\r\n0\r\n\r\n"].concat();
    ends(&line(MAX_CHUNK_LINE_BYTES - 4), b"x");
    refused(&line(MAX_CHUNK_LINE_BYTES - 3), LINE_TOO_LONG);
}

#[test]
fn chunk_data_is_followed_by_exactly_crlf() {
    refused(b"5\r\nhelloX\r\n0\r\n\r\n", DATA_END);
    refused(b"5\r\nhello\n0\r\n\r\n", DATA_END);
    refused(b"5\r\nhello\r0\r\n\r\n", DATA_END);
    refused(b"5\r\nhello world\r\n0\r\n\r\n", DATA_END);
    refused(b"5\r\nhello\r\n\r\n0\r\n\r\n", NOT_HEX);
}

#[test]
fn trailers_are_read_and_dropped() {
    ends(b"0\r\nX-Sum: 1\r\nY:\r\n\r\n", b"");
    ends(b"2\r\nok\r\n0\r\nExpires: \tnever \r\n\r\n", b"ok");
    for bad in [
        &b"0\r\nX: 1\n\r\n"[..],
        b"0\r\nX: 1\r\n\n",
        b"0\r\n\n",
        b"0\r\nX: 1\r\n folded\r\n\r\n",
        b"0\r\nX : 1\r\n\r\n",
        b"0\r\nX\r\n\r\n",
        b"0\r\n: 1\r\n\r\n",
        b"0\r\nX: a\0b\r\n\r\n",
        b"0\r\n\rX",
    ] {
        refused(bad, BAD_TRAILER);
    }
    let trailer = |value: usize| [&b"0\r\nx:"[..], &b"v".repeat(value), b"\r\n\r\n"].concat();
    // Trailer bytes: "x:" (2), the value, CRLF CRLF (4).
    ends(&trailer(MAX_TRAILER_BYTES - 6), b"");
    refused(&trailer(MAX_TRAILER_BYTES - 5), TRAILERS_TOO_LARGE);
}
