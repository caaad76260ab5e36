//! What the token-verification benchmarks share: one access token and its
//! public key, the time to verify it at, and the timing loop. Included by
//! `verify.rs` (native code) and by troupe-host's `verifier` benchmark (the
//! component), so that both verify the same token.
//!
//! The token was signed once with a throwaway Ed25519 key (`openssl
//! pkeyutl -sign -rawin`); it is valid from 1,800,000,000 until the year
//! 2100, and the verifier takes the current time as an argument, so a fixed
//! token stays valid. A fixed input also keeps the token crate out of the
//! component benchmark's build, which is troupe-host's.

use std::time::{Duration, Instant};

/// `Bearer` + an access token as `auth` mints them (kid `bench-key`, a
/// user's claims).
pub const AUTHORIZATION: &str = "Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6ImJlbmNoLWtleSJ9.\
    eyJpc3MiOiJ0cm91cGUiLCJhdWQiOiJ0cm91cGUtYXBpIiwic3ViIjoiMDE5MGYwYzQtNmE0ZS03Y2MyLTliNmUtM2MxZjFmMmE4ZDExIiwiaWF0\
    IjoxODAwMDAwMDAwLCJuYmYiOjE4MDAwMDAwMDAsImV4cCI6NDEwMjQ0NDgwMCwianRpIjoiMDE5MGYwYzQtNmE0ZS03Y2MyLTliNmUtM2MxZjFm\
    MmE4ZDEyIiwic2lkIjoiMDE5MGYwYzQtNmE0ZS03Y2MyLTliNmUtM2MxZjFmMmE4ZDEzIiwicm9sZSI6InVzZXIifQ.\
    YbRO0rpWxBRTor2YOv01KiPfzIg90u3RVFyOA7f_JWSS7oKSp6yv7Oe5P4eZGVJFK1dE4pAqEDku2eQSSiNNAg";

/// The token's `kid`.
pub const KEY_ID: &str = "bench-key";

/// The raw Ed25519 public key that verifies it.
pub const PUBLIC_KEY: [u8; 32] = [
    24, 32, 126, 119, 71, 9, 238, 167, 79, 69, 225, 82, 152, 205, 9, 179, 138, 225, 143, 188, 76, 250, 203, 45, 130,
    118, 13, 235, 253, 245, 27, 59,
];

/// When to verify it (Unix seconds): ten seconds after it was issued.
pub const NOW: i64 = 1_800_000_010;

/// How long to measure each figure: `--seconds S` under `cargo bench`
/// (3 by default). Without `--bench` (`cargo test` runs benchmarks that
/// way) a few milliseconds: a check that the benchmark still runs.
pub fn duration_from_args() -> Result<Duration, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds = if args.iter().any(|a| a == "--bench") { 3.0 } else { 0.01 };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--seconds" {
            let value = iter.next().ok_or("--seconds needs a value")?;
            seconds = value.parse().map_err(|e| format!("--seconds {value}: {e}"))?;
        }
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Calls `step` repeatedly for about `duration`; returns calls per second.
pub fn rate<E>(duration: Duration, mut step: impl FnMut() -> Result<(), E>) -> Result<f64, E> {
    // Warm-up (first-call costs, caches), not counted.
    for _ in 0..100 {
        step()?;
    }
    let started = Instant::now();
    let mut calls: u64 = 0;
    loop {
        for _ in 0..64 {
            step()?;
        }
        calls += 64;
        let elapsed = started.elapsed();
        if elapsed >= duration {
            return Ok(calls as f64 / elapsed.as_secs_f64());
        }
    }
}
