// Expected splits are lists of ranges, one long or more.
#![allow(clippy::single_range_in_vec_init)]

use super::*;

fn split(s: &str) -> (Vec<Range<usize>>, Option<Refusal>) {
    split_requests(s.as_bytes())
}

#[test]
fn pipelined_requests_are_cut_at_their_ends() {
    let get = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    let post = "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    let chunked = "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let stream = format!("{get}{post}{chunked}{get}");
    let (a, b, c) = (get.len(), post.len(), chunked.len());
    assert_eq!(
        split(&stream),
        (
            vec![0..a, a..a + b, a + b..a + b + c, a + b + c..2 * a + b + c],
            None
        )
    );
    let (messages, _) = split_messages(stream.as_bytes());
    assert_eq!(
        messages[1],
        Message {
            head: a..a + b - 3,
            whole: a..a + b
        }
    );
}

#[test]
fn the_split_stops_at_an_incomplete_message() {
    let get = "GET / HTTP/1.1\r\n\r\n";
    assert_eq!(split(&format!("{get}GET / HT")), (vec![0..18], None));
    assert_eq!(
        split(&format!(
            "{get}POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"
        )),
        (vec![0..18], None)
    );
    assert_eq!(
        split(&format!(
            "{get}POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"
        )),
        (vec![0..18], None)
    );
    assert_eq!(split(""), (vec![], None));
}

#[test]
fn the_split_stops_at_a_refusal() {
    let get = "GET / HTTP/1.1\r\n\r\n";
    assert_eq!(
        split(&format!("{get}{get}GET / HTTP/1.1\nHost: a\n\n{get}")),
        (
            vec![0..18, 18..36],
            Some(Refusal::Malformed(
                "a line of the head ends with a bare CR or LF; lines must end with CRLF"
            ))
        )
    );
    assert_eq!(
        split(&format!(
            "{get}POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"
        )),
        (
            vec![0..18],
            Some(Refusal::Malformed("chunk data is not followed by CRLF"))
        )
    );
}

#[test]
fn an_upgrade_ends_the_split() {
    let upgrade = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let after = "\x01\x05hello GET / HTTP/1.1\r\n\r\n";
    assert_eq!(
        split(&format!("{upgrade}{after}")),
        (vec![0..upgrade.len()], None)
    );
    let connect = "CONNECT h:443 HTTP/1.1\r\n\r\n";
    assert_eq!(
        split(&format!("{connect}\x16\x03\x01")),
        (vec![0..connect.len()], None)
    );
}
