//! `cargo run --release -p latchkey-benches --bin ratios`: the overhead of latchkey over
//! the raw signature verification, as numbers anyone can reproduce.
//!
//! Raw verification and the measured operation run interleaved, on the same input, in one
//! process, so frequency changes and noise hit both alike. Each round times a batch of
//! each; the ratio is of the medians. Prints `ratio <name> = <x.xx>` lines.

// A measuring tool: a failed operation must stop the run loudly.
#![allow(clippy::panic, clippy::cast_precision_loss)]

use std::hint::black_box;
use std::time::Instant;

use latchkey_benches::{AssertionInput, LoginInput, receipts};
use latchkey_testkit::authenticator::SoftKey;

const ROUNDS: usize = 31;
const BATCH: usize = 200;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Nanoseconds per call of `f`, over one batch.
fn per_call(batch: usize, mut f: impl FnMut() -> bool) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        assert!(black_box(f()), "the benchmarked operation failed");
    }
    start.elapsed().as_nanos() as f64 / batch as f64
}

fn main() {
    let backend = if cfg!(feature = "aws-lc") {
        "aws-lc (ECDSA, RSA) + ed25519-dalek"
    } else {
        "RustCrypto"
    };
    println!("# backend: {backend}; raw = the same primitive alone, key parsed once");
    println!("# {ROUNDS} interleaved rounds of {BATCH} calls; medians in microseconds");
    for input in AssertionInput::all() {
        let (mut raw, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            raw.push(per_call(BATCH, || input.baseline_verify()));
            ours.push(per_call(BATCH, || input.verify_assertion()));
        }
        let (raw, ours) = (median(raw), median(ours));
        println!(
            "raw_verify {} = {:.1} us, verify_assertion = {:.1} us",
            input.name,
            raw / 1e3,
            ours / 1e3
        );
        println!("ratio verify_assertion/{} = {:.2}", input.name, ours / raw);
    }
    es256_warm_and_cold();
    for (name, soft) in [
        ("ES256", SoftKey::es256([1; 32])),
        ("EdDSA", SoftKey::eddsa([2; 32])),
    ] {
        let input = AssertionInput::new(name, soft.clone());
        let login = LoginInput::new(name, soft);
        let (mut raw, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            // Each login needs a fresh challenge: prepare outside the timed loops. The
            // baseline verifies the very signatures the logins verify (each assertion is
            // signed anew, and verification time varies with the signature).
            let responses: Vec<_> = (0..BATCH).map(|_| login.prepare()).collect();
            let signed: Vec<_> = responses.iter().map(LoginInput::signed).collect();
            let mut pairs = signed.iter();
            raw.push(per_call(BATCH, || {
                pairs.next().is_some_and(|(message, signature)| {
                    input.baseline_verify_of(message, signature)
                })
            }));
            let mut responses = responses.iter();
            ours.push(per_call(BATCH, || {
                responses.next().is_some_and(|r| login.finish(r))
            }));
        }
        let (raw, ours) = (median(raw), median(ours));
        println!(
            "finish_authentication {name} on MemoryStore = {:.1} us",
            ours / 1e3
        );
        println!("ratio finish_authentication/{name} = {:.2}", ours / raw);
    }
    // P10 audits: re-verifying many receipts, one by one and in bulk,
    // with the passkey's record and relying party from the service's records.
    let audit = receipts(64, SoftKey::eddsa([2; 32]));
    let items: Vec<(&latchkey::ApprovalReceipt, latchkey::ReceiptSigner<'_>)> = audit
        .receipts
        .iter()
        .map(|r| (r, latchkey::ReceiptSigner::from(&audit.signer)))
        .collect();
    let count = items.len() as f64;
    let (mut single, mut bulk) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        single.push(
            per_call(1, || {
                items
                    .iter()
                    .all(|(r, signer)| r.verify(signer, &audit.rp, None).is_ok())
            }) / count,
        );
        bulk.push(
            per_call(1, || {
                latchkey::verify_receipts(&audit.rp, &items)
                    .iter()
                    .all(Result::is_ok)
            }) / count,
        );
    }
    let (single, bulk) = (median(single), median(bulk));
    println!(
        "receipts EdDSA x{}: one by one = {:.1} us each, verify_receipts = {:.1} us each",
        items.len(),
        single / 1e3,
        bulk / 1e3
    );
    println!("ratio verify_receipts/EdDSA = {:.2}", bulk / single);
}

/// ES256 against the fastest raw verify in each case: a warm key (the same key object
/// every call, so its precomputed table is built, as for a key in the facade's cache)
/// against AWS-LC with the key parsed once, and a cold key (parsed from its COSE key on
/// every call, never used before) against p256 with the key parsed from SEC1 every call.
fn es256_warm_and_cold() {
    if cfg!(feature = "aws-lc") {
        println!(
            "# aws-lc build: warm and cold both verify in AWS-LC; the targets are the pure-Rust build's"
        );
    }
    let input = AssertionInput::new("ES256", SoftKey::es256([1; 32]));
    let (mut aws, mut warm, mut p256, mut cold) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        aws.push(per_call(BATCH, || input.aws_raw_verify() == Some(true)));
        warm.push(per_call(BATCH, || input.verify_assertion()));
        p256.push(per_call(BATCH, || input.raw_verify_cold() == Some(true)));
        cold.push(per_call(BATCH, || input.verify_assertion_cold()));
    }
    let (aws, warm, p256, cold) = (median(aws), median(warm), median(p256), median(cold));
    println!(
        "raw_verify ES256 aws-lc = {:.1} us, verify_assertion warm = {:.1} us; \
         raw_verify ES256 p256 with key parse = {:.1} us, verify_assertion cold = {:.1} us",
        aws / 1e3,
        warm / 1e3,
        p256 / 1e3,
        cold / 1e3
    );
    println!(
        "ratio verify_assertion_warm/aws_lc_raw ES256 = {:.2} (target <= 1.50)",
        warm / aws
    );
    println!(
        "ratio verify_assertion_cold/p256_raw ES256 = {:.2} (target <= 1.05)",
        cold / p256
    );
}
