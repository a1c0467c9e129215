//! Arbitrary bytes as a chunked body (after a first byte that seeds the piece sizes): the
//! decoder gives the same data, end and verdict whether the body arrives whole or in pieces,
//! and it ends where the reference walk on httparse ends and refuses where it refuses.

#![no_main]

#[path = "../../tests/support/differential.rs"]
#[allow(dead_code)] // only the reference's chunk walk is used here
mod differential;

use errata_wire::{Chunk, ChunkedDecoder, Refusal};
use libfuzzer_sys::fuzz_target;

type Outcome = Result<Option<(Vec<u8>, usize)>, Refusal>;

/// Decodes `body` as it would arrive in pieces of `next_piece()` bytes.
fn decode(body: &[u8], mut next_piece: impl FnMut() -> usize) -> Outcome {
    let mut d = ChunkedDecoder::new();
    let (mut data, mut at, mut seen) = (Vec::new(), 0, 0);
    loop {
        seen = (seen + next_piece()).min(body.len()).max(at);
        match d.decode(&body[at..seen])? {
            (n, Chunk::End) => {
                assert!(d.is_done() && at + n <= seen);
                return Ok(Some((data, at + n)));
            }
            (n, Chunk::Data(r)) => {
                assert!(r.start < r.end && r.end == n && at + n <= seen);
                data.extend_from_slice(&body[at..][r]);
                at += n;
            }
            (0, Chunk::Framing) if seen == body.len() => return Ok(None),
            (n, Chunk::Framing) => at += n,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let whole = decode(body, || body.len().max(1));
    let mut state = u32::from(seed) | 1;
    let pieces = decode(body, || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (state >> 16) as usize % 17 + 1
    });
    assert_eq!(whole, pieces);
    let reference = differential::chunked(body).end;
    match (&whole, reference) {
        (Ok(Some((_, end))), theirs) => assert_eq!(theirs, Ok(Some(*end))),
        (_, Err(_)) => assert!(whole.is_err(), "{whole:?}"),
        _ => {}
    }
});
