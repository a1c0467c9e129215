//! Pipelined requests cut at their boundaries, as the relay frames them one after another.

use std::ops::Range;

use crate::{BodyKind, Chunk, ChunkedDecoder, Refusal, parse_request};

/// One complete request in a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Its head, leading empty lines included.
    pub head: Range<usize>,
    /// The head and the body as framed on the wire.
    pub whole: Range<usize>,
}

/// Splits a byte stream of pipelined requests into whole messages (head and body), in order.
///
/// Stops at the first incomplete message (the bytes from the last range's end on are its
/// start), after a request that leaves HTTP/1 (`upgrade`), or at the first refusal, which is
/// returned beside the messages before it.
pub fn split_requests(stream: &[u8]) -> (Vec<Range<usize>>, Option<Refusal>) {
    let (messages, refusal) = split_messages(stream);
    (messages.into_iter().map(|m| m.whole).collect(), refusal)
}

/// [`split_requests`], with each message's head range beside its whole range.
pub fn split_messages(stream: &[u8]) -> (Vec<Message>, Option<Refusal>) {
    let mut out = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let head = match parse_request(&stream[at..]) {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(r) => return (out, Some(r)),
        };
        let body_start = at + head.len;
        let end = match head.body {
            BodyKind::None | BodyKind::UntilClose => Some(body_start),
            BodyKind::Length(n) => usize::try_from(n)
                .ok()
                .and_then(|n| body_start.checked_add(n))
                .filter(|&end| end <= stream.len()),
            BodyKind::Chunked => match chunked_end(&stream[body_start..]) {
                Ok(len) => len.map(|len| body_start + len),
                Err(r) => return (out, Some(r)),
            },
        };
        let Some(end) = end else { break };
        out.push(Message {
            head: at..body_start,
            whole: at..end,
        });
        at = end;
        if head.upgrade {
            break;
        }
    }
    (out, None)
}

/// The length of the chunked body at the start of `body`, if it is all there.
fn chunked_end(body: &[u8]) -> Result<Option<usize>, Refusal> {
    let mut decoder = ChunkedDecoder::new();
    let mut at = 0;
    loop {
        match decoder.decode(&body[at..])? {
            (n, Chunk::End) => return Ok(Some(at + n)),
            (0, _) => return Ok(None),
            (n, _) => at += n,
        }
    }
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
