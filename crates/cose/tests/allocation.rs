//! Memory a hostile CBOR document can make the decoder reserve, measured with a counting
//! global allocator (`allocation-counter`). Its own test binary, so nothing else
//! allocates meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use latchkey_cose::cbor::{self, MAX_PREALLOCATED_ITEMS};
use latchkey_cose::{Limits, ParseOptions};

/// 64 KiB whose every level opens an array declaring 2^64 - 1 elements (head `0x9b` and
/// eight `0xff`), as deep as `depth`, then `0xff` bytes: a break where an element must
/// be, so decoding fails at once, after every level has been opened.
fn nested_huge_heads(depth: usize) -> Vec<u8> {
    let mut input = Vec::with_capacity(64 * 1024);
    for _ in 0..depth {
        input.push(0x9b);
        input.extend_from_slice(&[0xff; 8]);
    }
    input.resize(64 * 1024, 0xff);
    input
}

#[test]
fn nested_huge_container_heads_reserve_almost_nothing() {
    // The counter counts: a closure that allocates is seen.
    let seen = allocation_counter::measure(|| drop(std::hint::black_box(vec![1u8; 4096])));
    assert!(seen.bytes_max >= 4096);

    for (name, options, depth) in [
        (
            "strict defaults",
            ParseOptions::STRICT,
            Limits::DEFAULT.max_depth,
        ),
        (
            "deep limits",
            ParseOptions {
                limits: Limits {
                    max_depth: 64,
                    max_items: 1 << 20,
                    ..Limits::DEFAULT
                },
                ..ParseOptions::STRICT
            },
            64,
        ),
    ] {
        let input = nested_huge_heads(depth);
        let info = allocation_counter::measure(|| {
            assert!(cbor::decode(std::hint::black_box(&input), &options).is_err());
        });
        // Each open level may hold MAX_PREALLOCATED_ITEMS values of a few dozen bytes;
        // before the cap each reserved one value per remaining input byte (>10 MiB).
        let bound = depth * MAX_PREALLOCATED_ITEMS * 64;
        assert!(
            info.bytes_max <= bound as u64,
            "{name}: peak {} bytes for a 64 KiB input (bound {bound})",
            info.bytes_max
        );
    }
}
