//! Arbitrary bytes as a response head (the first byte says whether it answers HEAD): no
//! panic, ranges inside the head, bodies as the status and method allow, and the same verdict
//! for the head alone while no shorter prefix of it is complete.

#![no_main]

use errata_wire::{BodyKind, MAX_HEAD_BYTES, parse_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flag, buf)) = data.split_first() else {
        return;
    };
    let to_head = flag & 1 == 1;
    match parse_response(buf, to_head) {
        Ok(Some(h)) => {
            assert!(h.len <= buf.len() && h.len <= MAX_HEAD_BYTES);
            assert!((100..=999).contains(&h.status) && h.minor <= 1);
            for r in h.headers.iter().flat_map(|x| [&x.name, &x.value]) {
                assert!(r.start <= r.end && r.end <= h.len);
            }
            if to_head || h.status < 200 || h.status == 204 || h.status == 304 {
                assert_eq!(h.body, BodyKind::None);
            }
            if h.body == BodyKind::UntilClose {
                assert!(!h.keep_alive);
            }
            assert_eq!(parse_response(&buf[..h.len], to_head), Ok(Some(h.clone())));
            for cut in [0, h.len / 2, h.len - 1] {
                assert_eq!(
                    parse_response(&buf[..cut], to_head),
                    Ok(None),
                    "cut at {cut}"
                );
            }
        }
        Ok(None) => assert!(buf.len() < MAX_HEAD_BYTES),
        Err(_) => {}
    }
});
