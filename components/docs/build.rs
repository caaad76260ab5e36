//! Fail early, with the fix, when Swagger UI's files are not installed: the
//! component embeds them from `node_modules` (see `src/lib.rs`).

use std::path::Path;

fn main() {
    let package = Path::new("node_modules/swagger-ui-dist/package.json");
    println!("cargo::rerun-if-changed={}", package.display());
    println!("cargo::rerun-if-changed=package-lock.json");
    assert!(
        package.exists(),
        "Swagger UI's assets are missing: run `npm ci --prefix components/docs` (scripts/build-wasm and `spin build` do)"
    );
}
