//! Native timing of Troupe's argon2id hashing, for comparison with a login
//! served by the `auth` component (see `scripts/bench-auth`).
//!
//! Not a test: it prints figures. Build it optimized, or the figure means
//! nothing:
//!
//! ```text
//! cargo run --release -p troupe-accounts --example hash_timing [-- --count 20] [--tsv]
//! ```
//!
//! It hashes with `troupe_accounts::PasswordHasher` and the production defaults
//! (`HashParams::default()`: m=19456 KiB, t=2, p=1), `--count` times, then
//! verifies as many times (a login verifies; the cost is the same hash).
//! `--tsv` prints `hash<TAB>p50_ms<TAB>p99_ms<TAB>mean_ms` (and the same for
//! `verify`) instead of prose, for scripts.

use std::time::Instant;

use troupe_accounts::{HashParams, Password, PasswordHasher, Verification};

/// p50, p99 (nearest rank) and mean of `samples`, in milliseconds.
fn summary(mut samples: Vec<f64>) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let rank = |p: f64| samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    (rank(0.50), rank(0.99), samples.iter().sum::<f64>() / samples.len() as f64)
}

fn time(count: usize, mut f: impl FnMut()) -> Vec<f64> {
    f(); // warm-up, not counted
    (0..count)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tsv = args.iter().any(|a| a == "--tsv");
    let count = match args.iter().position(|a| a == "--count") {
        Some(i) => args.get(i + 1).ok_or("--count needs a value")?.parse()?,
        None => 20,
    };
    if count == 0 {
        return Err("--count must be at least 1".into());
    }

    let params = HashParams::default();
    let hasher = PasswordHasher::new(params).map_err(|e| e.0)?;
    let password = "correct horse battery staple";
    let valid = Password::parse(password).map_err(|e| e.0)?;
    let stored = hasher.hash(&valid);
    let hashes = summary(time(count, || {
        std::hint::black_box(hasher.hash(std::hint::black_box(&valid)));
    }));
    let verifies = summary(time(count, || {
        let outcome = hasher.verify(std::hint::black_box(password), &stored);
        assert_eq!(outcome, Verification::Match { upgrade: false }, "the password verifies");
    }));

    for (what, (p50, p99, mean)) in [("hash", hashes), ("verify", verifies)] {
        if tsv {
            println!("{what}\t{p50:.3}\t{p99:.3}\t{mean:.3}");
        } else {
            println!(
                "native argon2id {what} (m={} KiB, t={}, p={}): p50 {p50:.1} ms, p99 {p99:.1} ms, mean {mean:.1} ms over {count}",
                params.memory_kib, params.iterations, params.parallelism
            );
        }
    }
    Ok(())
}
