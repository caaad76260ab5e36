//! Access-token verifications per second inside the `verifier` component.
//!
//! Not a test: it prints figures and asserts nothing about time. It loads
//! `target/wasm32-wasip2/release/verifier.wasm` (build it first with
//! `scripts/build-wasm`), binds it with `wasmtime::component::bindgen!` over
//! the repository's `wit/` folder (world `verifier-provider`), signs one
//! token with `troupe_tokens::SigningKey`, and calls `verify` in a loop:
//!
//! * natively, `troupe_tokens::verify` (the same code, compiled for the host);
//! * in one instance of the component, instantiated once;
//! * in a fresh instance per call, which is what each request to `users`
//!   pays in troupe-host (a new instance per request).
//!
//! ```text
//! cargo bench -p troupe-verifier-bench --bench verifier [-- --seconds 3]
//! ```
//! `scripts/bench-auth` runs it.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use troupe_tokens::{AccessClaims, Expectations, KeySet, SigningKey};

/// Host bindings of the verifier contract, from the repository's `wit/`.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "troupe:auth/verifier-provider@0.1.0",
    });
}

use bindings::troupe::auth::types::{Expectations as WitExpectations, PublicKey as WitKey};
use bindings::VerifierProvider;

/// The component's store state: WASI only (the verifier needs no Spin
/// interface; its WASI imports come from the Rust standard library).
struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl State {
    fn new() -> Self {
        Self { wasi: WasiCtx::builder().build(), table: ResourceTable::new() }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Calls `step` repeatedly for about `duration`; returns calls per second.
fn rate(duration: Duration, mut step: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
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

fn seconds_from_args() -> anyhow::Result<f64> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seconds = 3.0;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        // `cargo bench` passes `--bench`; ignore it and anything unknown.
        if arg == "--seconds" {
            seconds = iter.next().context("--seconds needs a value")?.parse()?;
        }
    }
    Ok(seconds)
}

fn main() -> anyhow::Result<()> {
    let duration = Duration::from_secs_f64(seconds_from_args()?);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wasm: PathBuf = root.join("target/wasm32-wasip2/release/verifier.wasm");
    if !wasm.is_file() {
        bail!("{} is missing: run scripts/build-wasm first", wasm.display());
    }

    // One token, as auth would mint it.
    let signing = SigningKey::generate("bench-key");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let claims = AccessClaims {
        iss: "troupe".into(),
        aud: "troupe-api".into(),
        sub: "0190f0c4-6a4e-7cc2-9b6e-3c1f1f2a8d11".into(),
        iat: now,
        nbf: now,
        exp: now + 900,
        jti: "0190f0c4-6a4e-7cc2-9b6e-3c1f1f2a8d12".into(),
        sid: "0190f0c4-6a4e-7cc2-9b6e-3c1f1f2a8d13".into(),
        role: "user".into(),
    };
    let header = format!("Bearer {}", signing.sign(&claims)?);

    // Native: the same verification compiled for the host.
    let keys = KeySet::new([signing.public().clone()]);
    let expect = Expectations { issuer: "troupe".into(), audience: "troupe-api".into(), now, leeway: 30 };
    troupe_tokens::verify(Some(&header), &keys, &expect).context("the token verifies natively")?;
    let native = rate(duration, || {
        black_box(troupe_tokens::verify(black_box(Some(header.as_str())), &keys, &expect))
            .map(drop)
            .map_err(anyhow::Error::from)
    })?;

    // The component, compiled once (like troupe-host, with cranelift).
    let engine = Engine::default();
    let compiled = Instant::now();
    let component =
        Component::from_file(&engine, &wasm).map_err(anyhow::Error::from).context("compiling verifier.wasm")?;
    let compile_time = compiled.elapsed();
    let mut linker: Linker<State> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let pre = linker.instantiate_pre(&component)?;
    let pre = bindings::VerifierProviderPre::new(pre)?;

    // What `users` passes: the key set, the expectations, the header.
    let wit_keys = vec![WitKey {
        key_id: signing.kid().to_owned(),
        algorithm: "EdDSA".into(),
        key: signing.public().bytes().to_vec(),
    }];
    let wit_expect = WitExpectations { issuer: "troupe".into(), audience: "troupe-api".into(), now, leeway: 30 };
    let call = |store: &mut Store<State>, provider: &VerifierProvider| -> anyhow::Result<()> {
        match provider.troupe_auth_verifier().call_verify(&mut *store, Some(&header), &wit_keys, &wit_expect)? {
            Ok(claims) => {
                black_box(claims);
                Ok(())
            }
            Err(error) => bail!("the component refused the token: {error:?}"),
        }
    };

    // One instance, instantiated once and called in a loop.
    let mut store = Store::new(&engine, State::new());
    let provider = pre.instantiate(&mut store)?;
    let one_instance = rate(duration, || call(&mut store, &provider))?;

    // A fresh store and instance per call, as per request in troupe-host.
    let fresh = rate(duration, || {
        let mut store = Store::new(&engine, State::new());
        let provider = pre.instantiate(&mut store)?;
        call(&mut store, &provider)
    })?;

    println!(
        "verifier.wasm: {} KiB, compiled in {:.0} ms",
        std::fs::metadata(&wasm)?.len() / 1024,
        compile_time.as_secs_f64() * 1000.0
    );
    println!("  native troupe_tokens::verify      {:>9.0} verifications/s  ({:.1} µs each)", native, 1e6 / native);
    println!(
        "  component, one instance           {:>9.0} verifications/s  ({:.1} µs each, {:.2}x native time)",
        one_instance,
        1e6 / one_instance,
        native / one_instance
    );
    println!("  component, new instance per call  {:>9.0} verifications/s  ({:.1} µs each)", fresh, 1e6 / fresh);
    Ok(())
}
