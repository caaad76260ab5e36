//! The builds for hosts that cannot run spin.toml as it is, checked by what
//! they import and export (run after `scripts/build-wasm --postgres-only`
//! and `deploy/fermyon-cloud/build`, which the test command runs first).
//! `TROUPE_TEST_MANIFEST=deploy/<host>/spin.toml` serves the suite from a
//! variant: the test command runs the `users` tests on Fermyon Cloud's and
//! the suite on Postgres on Akamai's (less the tests that choose SQLite).

use std::path::{Path, PathBuf};

use troupe_tests::repo_root;
use wasmparser::{Parser, Payload};

/// The names a component imports and exports at its top level, and every
/// import name anywhere inside it (nested components included).
struct Interface {
    imports: Vec<String>,
    exports: Vec<String>,
    nested_imports: Vec<String>,
}

fn interface(path: &Path) -> Interface {
    let bytes = std::fs::read(path).unwrap_or_else(|e| {
        panic!("{}: {e}; build it first (scripts/test does: see deploy/*/spin.toml's build commands)", path.display())
    });
    let mut found = Interface { imports: Vec::new(), exports: Vec::new(), nested_imports: Vec::new() };
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.expect("a valid component") {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(imports) => {
                for import in imports {
                    let name = import.expect("an import").name.0.to_owned();
                    if depth == 0 {
                        found.imports.push(name.clone());
                    }
                    found.nested_imports.push(name);
                }
            }
            Payload::ComponentExportSection(exports) if depth == 0 => {
                found.exports.extend(exports.into_iter().map(|e| e.expect("an export").name.0.to_owned()));
            }
            _ => {}
        }
    }
    found
}

fn built(profile: &str, name: &str) -> PathBuf {
    repo_root().join("target/wasm32-wasip2").join(profile).join(format!("{name}.wasm"))
}

fn sqlite_imports(names: &[String]) -> Vec<&String> {
    names.iter().filter(|name| name.starts_with("fermyon:spin/sqlite")).collect()
}

#[test]
fn the_postgres_only_components_import_no_sqlite_interface() {
    for name in ["auth", "users", "health"] {
        // The default build does, so the check below can fail.
        let default = interface(&built("release", name));
        assert_eq!(sqlite_imports(&default.imports), ["fermyon:spin/sqlite@2.0.0"], "{name}");

        let postgres_only = interface(&built("postgres-only", name));
        assert_eq!(sqlite_imports(&postgres_only.nested_imports), Vec::<&String>::new(), "{name}");
        assert!(postgres_only.imports.iter().any(|i| i == "fermyon:spin/postgres@2.0.0"), "{name}");
        assert!(postgres_only.exports.iter().any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")), "{name}");
    }
}

#[test]
fn the_fermyon_cloud_users_component_carries_its_verifier() {
    const VERIFIER: &str = "troupe:auth/verifier@0.1.0";
    let plain = interface(&built("release", "users"));
    assert!(plain.imports.iter().any(|i| i == VERIFIER), "{:?}", plain.imports);

    let composed = interface(&repo_root().join("target/fermyon-cloud/users.wasm"));
    assert!(!composed.imports.iter().any(|i| i == VERIFIER), "{:?}", composed.imports);
    // It needs nothing the plain one did not, and serves HTTP as it did.
    for import in &composed.imports {
        assert!(plain.imports.contains(import), "{import} is new");
    }
    assert!(
        composed.exports.iter().any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")),
        "{:?}",
        composed.exports
    );
}
