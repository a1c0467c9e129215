//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent` header read
//! and written, `tracestate` carried within bounds, and the trace of one request.
//!
//! Every request has a trace id: the client's, when `[tracing] trust_incoming` is on and its
//! `traceparent` is valid, else a new random one. The upstream always gets a `traceparent` of
//! the gateway's own: the same trace id, with the gateway's upstream (CLIENT) span as parent,
//! and the sampled flag of the trace (the client's, when adopted; else drawn against
//! `[tracing] sample`). An adopted trace's `tracestate` goes upstream too, bounded to
//! [`MAX_TRACESTATE`] bytes; the client's is dropped otherwise.
//!
//! Ids come from a per-thread xoshiro generator seeded from the OS: a few nanoseconds, no
//! lock. When a trace is exported ([`crate::otlp`]), [`Recording`] holds the stages' times;
//! on every other request it is `None`, and each stage pays one branch for it.

use std::cell::RefCell;
use std::time::{Instant, SystemTime};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use crate::lookup::HeaderLookup;

/// The header that carries the trace id and the parent span.
pub const TRACEPARENT: &str = "traceparent";
/// The header that carries vendors' trace data beside `traceparent`.
pub const TRACESTATE: &str = "tracestate";
/// The longest `tracestate` carried upstream, in bytes (what the spec asks every vendor to
/// propagate at least). A longer one loses members as the spec says: those over 128 bytes
/// first, then from the end.
pub const MAX_TRACESTATE: usize = 512;
/// The most list members a `tracestate` may have.
const MAX_MEMBERS: usize = 32;
/// Members longer than this go first when a `tracestate` is cut.
const LONG_MEMBER: usize = 128;
/// The length of a version-00 `traceparent`.
pub const TRACEPARENT_LEN: usize = 55;

/// A `traceparent` as read: the trace, the caller's span and whether the caller sampled it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub sampled: bool,
}

/// Reads a `traceparent` value. Version `00` must be exactly that format; a later version
/// (not `ff`) is read for its first 55 characters when what follows starts with `-`, as the
/// spec says. Upper-case hex, an all-zero id and a malformed field are refused.
pub fn parse_traceparent(value: &[u8]) -> Option<TraceParent> {
    let v = value.trim_ascii();
    if v.len() < TRACEPARENT_LEN {
        return None;
    }
    let version = hex_byte(v[0], v[1])?;
    if version == 0xff || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    if version == 0 && v.len() != TRACEPARENT_LEN {
        return None;
    }
    if version > 0 && v.len() > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    for (i, b) in trace_id.iter_mut().enumerate() {
        *b = hex_byte(v[3 + 2 * i], v[4 + 2 * i])?;
    }
    let mut parent_id = [0u8; 8];
    for (i, b) in parent_id.iter_mut().enumerate() {
        *b = hex_byte(v[36 + 2 * i], v[37 + 2 * i])?;
    }
    let flags = hex_byte(v[53], v[54])?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        sampled: flags & 1 == 1,
    })
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex_byte(hi: u8, lo: u8) -> Option<u8> {
    Some(hex_digit(hi)? << 4 | hex_digit(lo)?)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn put_hex(out: &mut [u8], bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
}

/// A 16-byte id in lower-case hex.
pub fn trace_id_hex(id: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    put_hex(&mut out, id);
    out
}

/// An 8-byte id in lower-case hex.
pub fn span_id_hex(id: &[u8; 8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    put_hex(&mut out, id);
    out
}

/// Hex bytes as text (they always are ASCII).
pub fn hex_str(hex: &[u8]) -> &str {
    std::str::from_utf8(hex).unwrap_or("")
}

/// A version-00 `traceparent` value.
pub fn format_traceparent(trace_id: &[u8; 16], parent_id: &[u8; 8], sampled: bool) -> [u8; 55] {
    let mut out = [b'-'; TRACEPARENT_LEN];
    out[0] = b'0';
    out[1] = b'0';
    put_hex(&mut out[3..35], trace_id);
    put_hex(&mut out[36..52], parent_id);
    out[53] = b'0';
    out[54] = if sampled { b'1' } else { b'0' };
    out
}

/// The `tracestate` to carry from a request's header lines, combined as one list: `None` when
/// there is none or it is not valid (a member without a key, a bad character, a key twice,
/// more than 32 members); cut to [`MAX_TRACESTATE`] bytes as the spec says.
pub fn bounded_tracestate<'a>(lines: impl IntoIterator<Item = &'a [u8]>) -> Option<Box<str>> {
    let mut members: Vec<&[u8]> = Vec::new();
    for line in lines {
        for m in line.split(|&b| b == b',') {
            let m = m.trim_ascii();
            if m.is_empty() {
                continue;
            }
            if members.len() == MAX_MEMBERS || !valid_member(m) {
                return None;
            }
            members.push(m);
        }
    }
    let key = |m: &[u8]| -> usize { m.iter().position(|&b| b == b'=').unwrap_or(m.len()) };
    for (i, m) in members.iter().enumerate() {
        let k = &m[..key(m)];
        if members[..i].iter().any(|o| &o[..key(o)] == k) {
            return None;
        }
    }
    let len = |ms: &[&[u8]]| ms.iter().map(|m| m.len()).sum::<usize>() + ms.len().saturating_sub(1);
    if len(&members) > MAX_TRACESTATE {
        members.retain(|m| m.len() <= LONG_MEMBER);
        while len(&members) > MAX_TRACESTATE {
            members.pop();
        }
    }
    if members.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(len(&members));
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Checked to be ASCII by `valid_member`.
        out.push_str(std::str::from_utf8(m).ok()?);
    }
    Some(out.into_boxed_str())
}

/// `key=value` as the spec's grammar has them.
fn valid_member(m: &[u8]) -> bool {
    let Some(eq) = m.iter().position(|&b| b == b'=') else {
        return false;
    };
    let (key, value) = (&m[..eq], &m[eq + 1..]);
    valid_key(key) && valid_value(value)
}

fn valid_key(key: &[u8]) -> bool {
    let rest = |s: &[u8]| {
        s.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
        })
    };
    match key.iter().position(|&b| b == b'@') {
        None => {
            key.len() <= 256 && key.first().is_some_and(u8::is_ascii_lowercase) && rest(&key[1..])
        }
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            (1..=241).contains(&tenant.len())
                && tenant
                    .first()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && rest(&tenant[1..])
                && (1..=14).contains(&system.len())
                && system.first().is_some_and(u8::is_ascii_lowercase)
                && rest(&system[1..])
        }
    }
}

fn valid_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value
            .iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
        && value.last().is_some_and(|&b| b != b' ')
}

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_os_rng());
}

/// A random `u64` from the thread's generator.
pub fn random_u64() -> u64 {
    RNG.with(|r| r.borrow_mut().next_u64())
}

/// A new trace id: random, never all zero.
pub fn new_trace_id() -> [u8; 16] {
    loop {
        let id = (u128::from(random_u64()) << 64 | u128::from(random_u64())).to_be_bytes();
        if id != [0; 16] {
            return id;
        }
    }
}

/// A new span id: random, never all zero.
pub fn new_span_id() -> [u8; 8] {
    loop {
        let id = random_u64();
        if id != 0 {
            return id.to_be_bytes();
        }
    }
}

/// A stage of the request path timed for its span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The key's verification; `cached` when the key cache answered without the store.
    KeyLookup { cached: bool },
    /// The one call to the counters (rate, quota, concurrency).
    Counters,
    /// The idempotency decision (replay, in use, claim).
    Idempotency,
    /// The upstream's request, to its response head.
    Upstream,
}

/// A stage's start and end.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub start: Instant,
    pub end: Instant,
}

/// The times of an exported request's stages (see [`crate::otlp`]).
#[derive(Clone, Debug)]
pub struct Recording {
    /// When the request arrived, by the wall clock and the monotonic one.
    pub wall: SystemTime,
    pub start: Instant,
    /// The gateway's (SERVER) span for the request.
    pub span_id: [u8; 8],
    pub key_lookup: Option<(Span, bool)>,
    pub counters: Option<Span>,
    pub idempotency: Option<Span>,
    pub upstream: Option<Span>,
}

/// The trace of one request: its ids, the sampling decision, the `tracestate` carried, and
/// when exported, the stages' times.
#[derive(Clone, Debug)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// The client's span, when its `traceparent` was adopted.
    pub parent_id: Option<[u8; 8]>,
    /// The gateway's upstream (CLIENT) span: the parent the upstream is told of.
    pub upstream_span_id: [u8; 8],
    pub sampled: bool,
    /// An adopted trace's `tracestate`, bounded.
    pub tracestate: Option<Box<str>>,
    /// The stages' times, only for a trace that is exported.
    pub recording: Option<Box<Recording>>,
}

impl TraceContext {
    /// The trace of a request with `headers`: the client's when `trust` and its
    /// `traceparent` is valid (one header line, no more), else a new one, sampled when
    /// `sample_new` says so. `record` says whether a sampled trace is exported.
    pub fn of<H: HeaderLookup + ?Sized>(
        headers: &H,
        trust: bool,
        sample_new: impl FnOnce() -> bool,
        record: bool,
    ) -> TraceContext {
        let adopted = if trust { adopt(headers) } else { None };
        let (trace_id, parent_id, sampled, tracestate) = match adopted {
            Some((p, state)) => (p.trace_id, Some(p.parent_id), p.sampled, state),
            None => (new_trace_id(), None, sample_new(), None),
        };
        let recording = (record && sampled).then(|| {
            Box::new(Recording {
                wall: SystemTime::now(),
                start: Instant::now(),
                span_id: new_span_id(),
                key_lookup: None,
                counters: None,
                idempotency: None,
                upstream: None,
            })
        });
        TraceContext {
            trace_id,
            parent_id,
            upstream_span_id: new_span_id(),
            sampled,
            tracestate,
            recording,
        }
    }

    /// The trace id in hex, for the logs.
    pub fn trace_id_hex(&self) -> [u8; 32] {
        trace_id_hex(&self.trace_id)
    }

    /// The `traceparent` the upstream gets.
    pub fn upstream_traceparent(&self) -> [u8; 55] {
        format_traceparent(&self.trace_id, &self.upstream_span_id, self.sampled)
    }

    /// Now, when the trace is recorded (the start of a stage); `None` costs nothing else.
    #[inline]
    pub fn clock(&self) -> Option<Instant> {
        self.recording.as_ref().map(|_| Instant::now())
    }

    /// Ends a stage begun at `since` (from [`TraceContext::clock`]).
    #[inline]
    pub fn record(&mut self, stage: Stage, since: Option<Instant>) {
        if let (Some(r), Some(start)) = (self.recording.as_mut(), since) {
            let span = Span {
                start,
                end: Instant::now(),
            };
            match stage {
                Stage::KeyLookup { cached } => r.key_lookup = Some((span, cached)),
                Stage::Counters => r.counters = Some(span),
                Stage::Idempotency => r.idempotency = Some(span),
                Stage::Upstream => r.upstream = Some(span),
            }
        }
    }

    /// Takes the upstream stage timed on another copy of this trace (the detached run of an
    /// idempotent request).
    pub fn take_upstream(&mut self, other: &TraceContext) {
        if let (Some(r), Some(o)) = (self.recording.as_mut(), other.recording.as_ref())
            && o.upstream.is_some()
        {
            r.upstream = o.upstream;
        }
    }
}

/// The client's `traceparent` (exactly one, valid) and its bounded `tracestate`.
fn adopt<H: HeaderLookup + ?Sized>(headers: &H) -> Option<(TraceParent, Option<Box<str>>)> {
    let mut lines = 0;
    let mut first: Option<&[u8]> = None;
    headers.each(TRACEPARENT, &mut |v| {
        lines += 1;
        first.get_or_insert(v);
    });
    if lines != 1 {
        return None;
    }
    let parent = parse_traceparent(first?)?;
    let mut state: Vec<&[u8]> = Vec::new();
    if headers.has(TRACESTATE) {
        headers.each(TRACESTATE, &mut |v| state.push(v));
    }
    Some((parent, bounded_tracestate(state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: [u8; 16] = [
        0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47,
        0x36,
    ];
    const PID: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];

    fn p(s: &str) -> Option<TraceParent> {
        parse_traceparent(s.as_bytes())
    }

    #[test]
    fn the_specs_examples_are_read() {
        assert_eq!(
            p("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some(TraceParent {
                trace_id: TID,
                parent_id: PID,
                sampled: true
            })
        );
        assert_eq!(
            p("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").map(|t| t.sampled),
            Some(false)
        );
        // Flags other than sampled are read past.
        assert_eq!(
            p("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09").map(|t| t.sampled),
            Some(true)
        );
        // Optional whitespace around the value.
        assert!(p(" \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t ").is_some());
    }

    #[test]
    fn invalid_values_are_refused() {
        for bad in [
            "",
            "00",
            // all-zero trace id and parent id
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // upper-case hex anywhere
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // version ff is invalid
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // version 00 is exactly 55 characters
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            // ids of the wrong length, wrong separators, non-hex
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7.01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // a future version whose extra part does not start with a dash
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn future_versions_are_read_for_what_version_00_has() {
        let want = Some(TraceParent {
            trace_id: TID,
            parent_id: PID,
            sampled: true,
        });
        assert_eq!(
            p("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            want
        );
        assert_eq!(
            p("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be"),
            want
        );
        assert_eq!(
            p("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"),
            want
        );
    }

    #[test]
    fn formatting_reads_back() {
        let v = format_traceparent(&TID, &PID, true);
        assert_eq!(
            hex_str(&v),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(
            hex_str(&format_traceparent(&TID, &PID, false)),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        );
        for _ in 0..1000 {
            let (t, s) = (new_trace_id(), new_span_id());
            let back = parse_traceparent(&format_traceparent(&t, &s, false)).unwrap();
            assert_eq!((back.trace_id, back.parent_id, back.sampled), (t, s, false));
        }
        assert_eq!(
            hex_str(&trace_id_hex(&TID)),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(hex_str(&span_id_hex(&PID)), "00f067aa0ba902b7");
    }

    fn ts(lines: &[&str]) -> Option<String> {
        bounded_tracestate(lines.iter().map(|l| l.as_bytes())).map(String::from)
    }

    #[test]
    fn tracestate_is_combined_checked_and_bounded() {
        assert_eq!(
            ts(&["rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE"]).as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        assert_eq!(
            ts(&[" rojo=1 ,, congo=2\t", "fw529a3039@dt=x"]).as_deref(),
            Some("rojo=1,congo=2,fw529a3039@dt=x")
        );
        assert_eq!(ts(&[]), None);
        assert_eq!(ts(&[" , "]), None);
        for bad in [
            "rojo",
            "=1",
            "Rojo=1",
            "rojo=1,rojo=2",
            "rojo=a,b=c=d",
            "rojo=\u{e9}",
            "1rojo=1",
            "t@=1",
            "t@sys0123456789ab=1",
        ] {
            assert_eq!(ts(&[bad]), None, "{bad:?}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(ts(&many), None, "33 members");
        assert!(ts(&many[..32]).is_some());

        // Over 512 bytes: members over 128 bytes go first, then from the end.
        let long = format!("long={}", "x".repeat(200));
        let mid: Vec<String> = (0..9).map(|i| format!("m{i}={}", "y".repeat(60))).collect();
        let mut lines = vec![long.as_str()];
        lines.extend(mid.iter().map(String::as_str));
        let cut = ts(&lines).unwrap();
        assert!(cut.len() <= MAX_TRACESTATE, "{}", cut.len());
        assert!(!cut.contains("long="));
        // Eight members of 63 bytes and their commas: 511 bytes.
        assert_eq!(cut.split(',').count(), 8);
        assert!(cut.starts_with("m0=") && cut.contains("m7=") && !cut.contains("m8="));
    }

    struct Headers(Vec<(&'static str, &'static str)>);

    impl HeaderLookup for Headers {
        fn first(&self, name: &str) -> Option<&[u8]> {
            self.0
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_bytes())
        }
        fn each<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s [u8])) {
            for (n, v) in &self.0 {
                if *n == name {
                    f(v.as_bytes());
                }
            }
        }
    }

    const CLIENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_trusted_valid_traceparent_is_adopted_and_nothing_else_is() {
        let h = Headers(vec![(TRACEPARENT, CLIENT), (TRACESTATE, "rojo=1")]);
        let t = TraceContext::of(&h, true, || false, true);
        assert_eq!(t.trace_id, TID);
        assert_eq!(t.parent_id, Some(PID));
        assert!(t.sampled, "the client's decision");
        assert_eq!(t.tracestate.as_deref(), Some("rojo=1"));
        assert!(t.recording.is_some());
        let up = parse_traceparent(&t.upstream_traceparent()).unwrap();
        assert_eq!(up.trace_id, TID);
        assert_eq!(up.parent_id, t.upstream_span_id);
        assert_ne!(up.parent_id, PID);

        // Untrusted: a new trace, the client's tracestate not carried.
        let t = TraceContext::of(&h, false, || false, true);
        assert_ne!(t.trace_id, TID);
        assert_eq!((t.parent_id, t.sampled), (None, false));
        assert!(t.tracestate.is_none() && t.recording.is_none());

        // Two traceparent lines, or a malformed one: a new trace, and no tracestate.
        let two = Headers(vec![
            (TRACEPARENT, CLIENT),
            (TRACEPARENT, CLIENT),
            (TRACESTATE, "rojo=1"),
        ]);
        let bad = Headers(vec![
            (
                TRACEPARENT,
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            ),
            (TRACESTATE, "rojo=1"),
        ]);
        for h in [two, bad] {
            let t = TraceContext::of(&h, true, || true, false);
            assert_ne!(t.trace_id, TID);
            assert_eq!(t.parent_id, None);
            assert!(t.sampled, "a new trace, sampled as `sample` says");
            assert!(t.tracestate.is_none());
            assert!(t.recording.is_none(), "not exported");
        }
    }

    #[test]
    fn stages_are_timed_only_when_recorded() {
        let h = Headers(vec![]);
        let mut off = TraceContext::of(&h, false, || true, false);
        assert!(off.clock().is_none());
        off.record(Stage::Counters, off.clock());
        assert!(off.recording.is_none());

        let mut on = TraceContext::of(&h, false, || true, true);
        let t = on.clock();
        assert!(t.is_some());
        on.record(Stage::KeyLookup { cached: true }, t);
        on.record(Stage::Upstream, on.clock());
        let r = on.recording.as_ref().unwrap();
        assert!(
            r.key_lookup
                .is_some_and(|(s, cached)| cached && s.end >= s.start)
        );
        assert!(r.upstream.is_some() && r.counters.is_none() && r.idempotency.is_none());

        let mut other = TraceContext::of(&h, false, || true, true);
        assert!(other.recording.as_ref().unwrap().upstream.is_none());
        other.take_upstream(&on);
        assert!(other.recording.as_ref().unwrap().upstream.is_some());
    }
}
