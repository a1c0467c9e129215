//! Arbitrary bytes as a stream of pipelined requests: errata-wire's split against the
//! reference splitter on httparse (the same check as tests/differential.rs), and the first
//! head's ranges and accessors.

#![no_main]

#[path = "../../tests/support/differential.rs"]
mod differential;

use errata_wire::{BodyKind, MAX_HEAD_BYTES, parse_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = differential::check(data) {
        panic!("{e}");
    }
    if let Ok(Some(h)) = parse_request(data) {
        assert!(h.len <= data.len() && h.len <= MAX_HEAD_BYTES);
        assert!(h.method.end <= h.len && h.target.end <= h.len);
        for r in h.headers.iter().flat_map(|x| [&x.name, &x.value]) {
            assert!(r.start <= r.end && r.end <= h.len);
        }
        assert_ne!(h.body, BodyKind::UntilClose);
        assert!(!h.method(data).is_empty() && !h.target(data).is_empty());
        assert!(h.target(data).len() >= h.path(data).len());
        for x in &h.headers {
            let name = std::str::from_utf8(&data[x.name.clone()]).unwrap();
            assert!(h.header(data, name).is_some());
        }
        // The head alone reads the same, and no shorter prefix of it is complete.
        assert_eq!(parse_request(&data[..h.len]), Ok(Some(h.clone())));
        for cut in [0, h.len / 2, h.len - 1] {
            assert_eq!(parse_request(&data[..cut]), Ok(None), "cut at {cut}");
        }
    }
});
