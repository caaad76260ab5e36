//! Generates the host bindings for the Spin interfaces from the WIT files
//! shipped inside the published `spin-sdk` crate, so that the host and the
//! components agree on the exact same contract (no hand-written copies).
//!
//! `cargo metadata` tells where Cargo unpacked `spin-sdk` 5.2.0; the generated
//! `bindings.rs` (in `OUT_DIR`) holds one `wasmtime::component::bindgen!` call
//! with that absolute path, and `src/bindings.rs` includes it.

use std::{env, fs, path::PathBuf, process::Command};

/// The spin-sdk release whose `wit/` folder defines the interfaces we serve.
const SPIN_SDK_VERSION: &str = "5.2.0";

/// The Spin interfaces this host implements. Everything else a component
/// imports from Spin makes loading fail with the import's name.
const INTERFACES: &str = "
    import fermyon:spin/key-value@2.0.0;
    import fermyon:spin/sqlite@2.0.0;
    import fermyon:spin/variables@2.0.0;
    import fermyon:spin/postgres@2.0.0;
";

fn main() {
    let wit_dir = match spin_sdk_wit_dir() {
        Ok(dir) => dir,
        Err(message) => {
            // A build script reports failure by panicking; say what to fix.
            panic!("troupe-host build script: {message}");
        }
    };
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", wit_dir.display());

    let bindings = format!(
        r#"wasmtime::component::bindgen!({{
    path: {path:?},
    interfaces: {interfaces:?},
    imports: {{ default: async | trappable }},
    additional_derives: [PartialEq],
    with: {{
        "fermyon:spin/key-value.store": crate::key_value::OpenStore,
        "fermyon:spin/sqlite.connection": crate::sqlite::OpenConnection,
        "fermyon:spin/postgres.connection": crate::postgres::OpenConnection,
    }},
}});
"#,
        path = wit_dir.display().to_string(),
        interfaces = INTERFACES,
    );
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("bindings.rs"), bindings).expect("OUT_DIR is writable");
}

/// Finds `<spin-sdk 5.2.0 package dir>/wit` through `cargo metadata`.
fn spin_sdk_wit_dir() -> Result<PathBuf, String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(&manifest_dir)
        .output()
        .map_err(|e| format!("could not run `cargo metadata`: {e}"))?;
    if !output.status.success() {
        return Err(format!("`cargo metadata` failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("`cargo metadata` printed invalid JSON: {e}"))?;
    let packages = metadata["packages"].as_array().ok_or("`cargo metadata` output has no `packages`")?;
    let manifest_path = packages
        .iter()
        .find(|p| p["name"] == "spin-sdk" && p["version"] == SPIN_SDK_VERSION)
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or_else(|| {
            format!("spin-sdk {SPIN_SDK_VERSION} is not in the dependency graph (see the `cfg(any())` dependency in crates/host/Cargo.toml)")
        })?;
    let wit_dir = PathBuf::from(manifest_path).parent().ok_or("spin-sdk's manifest path has no parent")?.join("wit");
    if !wit_dir.is_dir() {
        return Err(format!("{} is not a directory", wit_dir.display()));
    }
    Ok(wit_dir)
}
