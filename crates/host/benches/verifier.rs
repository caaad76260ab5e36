//! Access-token verifications per second inside the `verifier` component.
//!
//! Not a test: it prints figures and asserts nothing about time (under
//! `cargo test` it runs for a moment, to check that it still runs). It
//! loads `target/wasm32-wasip2/release/verifier.wasm` (build it first with
//! `scripts/build-wasm`), binds it with `wasmtime::component::bindgen!` over
//! the repository's `wit/` folder (world `verifier-provider`), and verifies
//! the token of `troupe-tokens`' benchmarks in a loop:
//!
//! * in one instance of the component, instantiated once;
//! * in a fresh instance per call, which is what each request to `users`
//!   pays in troupe-host (a new instance per request).
//!
//! `troupe-tokens`' `verify` benchmark gives the native figure to compare.
//!
//! ```text
//! cargo bench --profile host -p troupe-host --bench verifier [-- --seconds 3]
//! ```
//! `scripts/bench-auth` runs both.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

#[path = "../../tokens/benches/support/mod.rs"]
mod support;

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

fn main() -> anyhow::Result<()> {
    let duration = support::duration_from_args().map_err(anyhow::Error::msg)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wasm: PathBuf = root.join("target/wasm32-wasip2/release/verifier.wasm");
    if !wasm.is_file() {
        bail!("{} is missing: run scripts/build-wasm first", wasm.display());
    }

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
    let wit_keys =
        vec![WitKey { key_id: support::KEY_ID.into(), algorithm: "EdDSA".into(), key: support::PUBLIC_KEY.to_vec() }];
    let wit_expect =
        WitExpectations { issuer: "troupe".into(), audience: "troupe-api".into(), now: support::NOW, leeway: 30 };
    let call = |store: &mut Store<State>, provider: &VerifierProvider| -> anyhow::Result<()> {
        match provider.troupe_auth_verifier().call_verify(
            &mut *store,
            Some(support::AUTHORIZATION),
            &wit_keys,
            &wit_expect,
        )? {
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
    let one_instance = support::rate(duration, || call(&mut store, &provider))?;

    // A fresh store and instance per call, as per request in troupe-host.
    let fresh = support::rate(duration, || {
        let mut store = Store::new(&engine, State::new());
        let provider = pre.instantiate(&mut store)?;
        call(&mut store, &provider)
    })?;

    println!(
        "verifier.wasm: {} KiB, compiled in {:.0} ms",
        std::fs::metadata(&wasm)?.len() / 1024,
        compile_time.as_secs_f64() * 1000.0
    );
    println!(
        "  component, one instance           {:>9.0} verifications/s  ({:.1} µs each)",
        one_instance,
        1e6 / one_instance
    );
    println!("  component, new instance per call  {:>9.0} verifications/s  ({:.1} µs each)", fresh, 1e6 / fresh);
    Ok(())
}
