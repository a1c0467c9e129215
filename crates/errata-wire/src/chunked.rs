//! A chunked body, walked in place as it arrives.
//!
//! Chunk lines and trailers are read a byte at a time (they are short and bounded); chunk data
//! is handed back as a range, never copied. The decoder keeps only a few counters, so the same
//! body gives the same verdict and the same boundaries however its bytes are split.

use std::ops::Range;

use crate::Refusal;

/// The longest chunk-size line, extensions and CRLF included.
pub const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// The largest trailer section, its final CRLF included (trailers are read and dropped).
pub const MAX_TRAILER_BYTES: usize = 8192;

/// Hex digits a chunk size may have (`httparse`'s bound: 16 digits cannot overflow a `u64`).
const MAX_SIZE_DIGITS: u8 = 16;

const NOT_HEX: Refusal = Refusal::Malformed("a chunk size is not a hexadecimal number");
const SIZE_TOO_LARGE: Refusal = Refusal::Malformed("a chunk size has more than 16 hex digits");
const LINE_END: Refusal = Refusal::Malformed("a chunk-size line does not end with CRLF");
const BAD_EXTENSION: Refusal = Refusal::Malformed("a chunk extension contains a control character");
const LINE_TOO_LONG: Refusal = Refusal::Malformed("a chunk-size line is longer than 4096 bytes");
const DATA_END: Refusal = Refusal::Malformed("chunk data is not followed by CRLF");
const BAD_TRAILER: Refusal =
    Refusal::Malformed("a trailer line is not a header field ending with CRLF");
const TRAILERS_TOO_LARGE: Refusal =
    Refusal::Malformed("the trailer section is larger than 8192 bytes");

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Before a chunk size's first digit.
    #[default]
    SizeStart,
    /// In a chunk size's digits.
    Size,
    /// Whitespace after the digits.
    SizeSpace,
    /// In the extensions, after `;`.
    Extension,
    /// CR seen at the end of a chunk-size line.
    SizeLf,
    /// `remaining` bytes of chunk data to go.
    Data,
    /// Chunk data done: CR, then LF.
    DataCr,
    DataLf,
    /// After the last chunk: the start of a trailer line or of the final CRLF.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// CR of the final CRLF seen.
    EndLf,
    Done,
}

/// Decodes a chunked body as it arrives, without copying.
#[derive(Clone, Debug, Default)]
pub struct ChunkedDecoder {
    state: State,
    /// The chunk size being read, then the data left in the chunk.
    remaining: u64,
    digits: u8,
    /// Bytes of the current chunk-size line, or of the trailer section.
    line: usize,
}

/// What [`ChunkedDecoder::decode`] consumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// These bytes of `input` are chunk data (framing bytes before them were consumed too).
    Data(Range<usize>),
    /// Only framing bytes were consumed; `(0, Framing)`: more input is needed.
    Framing,
    /// The last chunk and the trailers were consumed: the message ends after `consumed`.
    End,
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the whole body, trailers included, has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `input`: returns (bytes consumed, what they were).
    ///
    /// Consumes framing up to the next chunk data and returns as much of that data as `input`
    /// holds; or consumes through the end of the message and returns [`Chunk::End`]; or
    /// consumes all of `input` as framing. Never consumes past the end of the message; once
    /// done, returns `(0, Chunk::End)`.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Chunk), Refusal> {
        if self.state == State::Done {
            return Ok((0, Chunk::End));
        }
        let mut at = 0;
        while at < input.len() {
            if self.state == State::Data {
                let left = input.len() - at;
                let n = usize::try_from(self.remaining).map_or(left, |r| r.min(left));
                self.remaining -= n as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                return Ok((at + n, Chunk::Data(at..at + n)));
            }
            self.step(input[at])?;
            at += 1;
            if self.state == State::Done {
                return Ok((at, Chunk::End));
            }
        }
        Ok((at, Chunk::Framing))
    }

    /// One framing byte.
    fn step(&mut self, b: u8) -> Result<(), Refusal> {
        use State::*;
        match self.state {
            SizeStart | Size | SizeSpace | Extension | SizeLf => {
                self.line += 1;
                if self.line > MAX_CHUNK_LINE_BYTES {
                    return Err(LINE_TOO_LONG);
                }
            }
            TrailerStart | TrailerName | TrailerValue | TrailerLf | EndLf => {
                self.line += 1;
                if self.line > MAX_TRAILER_BYTES {
                    return Err(TRAILERS_TOO_LARGE);
                }
            }
            Data | DataCr | DataLf | Done => {}
        }
        self.state = match (self.state, b) {
            (SizeStart | Size, _) if b.is_ascii_hexdigit() => {
                self.digits += 1;
                if self.digits > MAX_SIZE_DIGITS {
                    return Err(SIZE_TOO_LARGE);
                }
                self.remaining = self.remaining << 4 | u64::from(hex(b));
                Size
            }
            (SizeStart, _) => return Err(NOT_HEX),
            (Size | SizeSpace, b' ' | b'\t') => SizeSpace,
            (Size | SizeSpace, b';') => Extension,
            (Size | SizeSpace | Extension, b'\r') => SizeLf,
            (Size | SizeSpace, b'\n') | (Extension, b'\n') => return Err(LINE_END),
            (Size | SizeSpace, _) => return Err(NOT_HEX),
            (Extension, b'\t' | b' '..=0x7e | 0x80..=0xff) => Extension,
            (Extension, _) => return Err(BAD_EXTENSION),
            (SizeLf, b'\n') => {
                self.digits = 0;
                self.line = 0;
                if self.remaining == 0 {
                    TrailerStart
                } else {
                    Data
                }
            }
            (SizeLf, _) => return Err(LINE_END),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => SizeStart,
            (DataCr | DataLf, _) => return Err(DATA_END),
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart | TrailerName, _) if is_token(b) => TrailerName,
            (TrailerName, b':') => TrailerValue,
            (TrailerValue, b'\t' | b' '..=0x7e | 0x80..=0xff) => TrailerValue,
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerLf, b'\n') => TrailerStart,
            (EndLf, b'\n') => Done,
            (TrailerStart | TrailerName | TrailerValue | TrailerLf | EndLf, _) => {
                return Err(BAD_TRAILER);
            }
            // Data and the end are not framing; the decoder never steps them byte by byte, but
            // a refusal is the safe answer if it ever did.
            (Data | Done, _) => return Err(DATA_END),
        };
        Ok(())
    }
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// A `tchar` (RFC 9110): what a field name is made of.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "chunked_tests.rs"]
mod tests;
