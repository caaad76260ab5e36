//! Access-token verifications per second in native code: the figure the
//! component benchmark (troupe-host's `verifier`) compares itself with.
//!
//! Not a test: it prints a figure and asserts nothing about time (under
//! `cargo test` it runs for a moment, to check that it still runs).
//!
//! ```text
//! cargo bench --profile host -p troupe-tokens --bench verify [-- --seconds 3]
//! ```
//! `scripts/bench-auth` runs it.

use std::hint::black_box;

use troupe_tokens::{Expectations, KeySet, PublicKey};

mod support;

fn main() -> Result<(), String> {
    let duration = support::duration_from_args()?;
    let key = PublicKey::from_bytes(support::KEY_ID, &support::PUBLIC_KEY).map_err(|e| e.to_string())?;
    let keys = KeySet::new([key]);
    let expect = Expectations { issuer: "troupe".into(), audience: "troupe-api".into(), now: support::NOW, leeway: 30 };
    troupe_tokens::verify(Some(support::AUTHORIZATION), &keys, &expect)
        .map_err(|e| format!("the benchmark's token does not verify: {e}"))?;
    let native = support::rate(duration, || {
        black_box(troupe_tokens::verify(black_box(Some(support::AUTHORIZATION)), &keys, &expect))
            .map(drop)
            .map_err(|e| e.to_string())
    })?;
    println!("  native troupe_tokens::verify      {:>9.0} verifications/s  ({:.1} µs each)", native, 1e6 / native);
    Ok(())
}
