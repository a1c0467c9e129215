//! Properties of the W3C trace context read from clients: `traceparent` and `tracestate`
//! never panic on any bytes, a `traceparent` is taken only in the spec's exact form (and
//! written back the same), and a carried `tracestate` is always within the spec's bounds.

use errata_gateway::trace_context::{
    MAX_TRACESTATE, bounded_tracestate, format_traceparent, parse_traceparent,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Bytes near a `traceparent`: its alphabet, upper-case hex, separators and space.
fn near_traceparent() -> impl Strategy<Value = Vec<u8>> {
    let alphabet: Vec<u8> = b"0123456789abcdefABCDEFxyz- \t,ff00".to_vec();
    vec(proptest::sample::select(alphabet), 50..62)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_bytes_are_read_or_refused_without_panicking(bytes in vec(any::<u8>(), 0..80)) {
        let _ = parse_traceparent(&bytes);
        let _ = bounded_tracestate([bytes.as_slice()]);
    }

    /// What is taken is the spec's form: for version 00, exactly what writing it back gives.
    #[test]
    fn a_version_00_value_is_taken_only_as_written(bytes in near_traceparent()) {
        if let Some(t) = parse_traceparent(&bytes) {
            let trimmed = bytes.trim_ascii();
            if trimmed.starts_with(b"00-") {
                let flags = &trimmed[53..55];
                let mut written = format_traceparent(&t.trace_id, &t.parent_id, t.sampled).to_vec();
                written[53..55].copy_from_slice(flags);
                prop_assert_eq!(written.as_slice(), trimmed);
                prop_assert!(trimmed.iter().all(|b| !b.is_ascii_uppercase()));
                prop_assert!(t.trace_id != [0; 16] && t.parent_id != [0; 8]);
            }
        }
    }

    #[test]
    fn every_id_pair_reads_back(trace in any::<[u8; 16]>(), parent in any::<[u8; 8]>(), sampled: bool) {
        prop_assume!(trace != [0; 16] && parent != [0; 8]);
        let t = parse_traceparent(&format_traceparent(&trace, &parent, sampled)).unwrap();
        prop_assert_eq!((t.trace_id, t.parent_id, t.sampled), (trace, parent, sampled));
    }

    /// A carried `tracestate` is at most 512 bytes of the spec's members, none repeated.
    #[test]
    fn a_carried_tracestate_is_bounded(
        members in vec(("[a-z][a-z0-9_*/-]{0,20}", "[!-+--<>-~]{1,200}"), 0..40)
    ) {
        let line: String = members
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        if let Some(kept) = bounded_tracestate([line.as_bytes()]) {
            prop_assert!(kept.len() <= MAX_TRACESTATE, "{}", kept.len());
            let keys: Vec<&str> = kept.split(',').map(|m| m.split('=').next().unwrap()).collect();
            let mut unique = keys.clone();
            unique.sort_unstable();
            unique.dedup();
            prop_assert_eq!(unique.len(), keys.len());
            for m in kept.split(',') {
                prop_assert!(line.split(',').any(|o| o == m), "{} was not sent", m);
            }
        }
    }
}
