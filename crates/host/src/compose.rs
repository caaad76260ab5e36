//! Loading a component's bytes: componentizing `wasm32-wasip1` modules and
//! composing `[component.<id>.dependencies]`, both as Spin does at load.
//!
//! Composition follows Spin's `spin-compose`: each dependency key is matched
//! against the importing component's import names (package, optional
//! interface, optional exact version), each dependency is instantiated once
//! per key inside the importing component's own composition (so two
//! components never share a dependency instance), its export of the same
//! name (or its `export`) satisfies the import, and every export of the
//! importing component is re-exported. Imports left unsatisfied, the
//! dependency's included, become imports of the composition that the host
//! provides.
//!
//! Without `dependencies_inherit_configuration = true`, Spin plugs a
//! "deny-all" adapter into each dependency so that it cannot use the
//! component's capabilities. troupe-host does not ship that adapter; since an
//! empty environment and no preopened directories are what both this host
//! and the adapter give, those imports pass through, and a dependency that
//! imports any other capability the adapter denies is refused at load.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use wac_graph::{
    types::{Package, SubtypeChecker},
    CompositionGraph, EncodeOptions, NodeId,
};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

use crate::manifest::{Component, Dependency, DependencyName};

/// Capabilities Spin's deny-all adapter replaces (its exports, by interface
/// without version; it is plugged by semver-compatible name).
const DENIED_TO_DEPENDENCIES: &[&str] = &[
    "wasi:http/outgoing-handler@0.2",
    "wasi:sockets/ip-name-lookup@0.2",
    "wasi:sockets/tcp@0.2",
    "wasi:sockets/udp@0.2",
    "fermyon:spin/llm@2",
    "fermyon:spin/redis@2",
    "fermyon:spin/mqtt@2",
    "fermyon:spin/postgres@2",
    "fermyon:spin/mysql@2",
    "fermyon:spin/sqlite@2",
    "fermyon:spin/key-value@2",
    "fermyon:spin/variables@2",
];

/// Reads, componentizes and composes a component's source and dependencies.
pub fn load_component_bytes(component: &Component) -> anyhow::Result<Vec<u8>> {
    let bytes = read_wasm(&component.source)?;
    if component.dependencies.is_empty() {
        return Ok(bytes);
    }
    compose(component, bytes).context("composing dependencies")
}

fn read_wasm(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    componentize_if_necessary(bytes).with_context(|| format!("cannot componentize {}", path.display()))
}

/// Turns a `wasm32-wasip1` core module into a component with the WASI
/// preview 1 reactor adapter; a component is returned unchanged.
pub fn componentize_if_necessary(bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    const MAGIC: &[u8] = b"\0asm";
    const MODULE_VERSION: &[u8] = &[1, 0, 0, 0];
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        bail!("not a WebAssembly binary");
    }
    if &bytes[4..8] != MODULE_VERSION {
        // Component binaries have a different version/layer field.
        return Ok(bytes);
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&bytes)?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)?
        .encode()
}

/// An import name split like Spin's `ImportName`.
struct ImportName<'a> {
    package: &'a str,
    interface: &'a str,
    version: Option<&'a str>,
}

fn parse_import_name(name: &str) -> Option<ImportName<'_>> {
    let (package, rest) = name.split_once('/')?;
    let (interface, version) = match rest.split_once('@') {
        Some((interface, version)) => (interface, Some(version)),
        None => (rest, None),
    };
    Some(ImportName { package, interface, version })
}

/// Spin's `matches_import` for `ns:pkg[/iface][@version]` keys.
fn matches_import(dependency: &DependencyName, import: &str) -> bool {
    let Some(import) = parse_import_name(import) else {
        return false;
    };
    import.package == dependency.package
        && dependency.interface.as_deref().is_none_or(|i| i == import.interface)
        && dependency.version.as_deref().is_none_or(|v| Some(v) == import.version)
}

fn compose(component: &Component, main_bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let main = Package::from_bytes(&component.id, None, main_bytes, graph.types_mut())?;
    let main_world = main.ty();
    let main_package = graph.register_package(main)?;
    let main_instance = graph.instantiate(main_package);
    let import_names: Vec<String> = graph.types()[main_world].imports.keys().cloned().collect();

    // Import name -> (dependency, its instance, its world).
    let mut satisfied: BTreeMap<String, Vec<(&Dependency, NodeId, wac_graph::types::WorldId)>> = BTreeMap::new();
    for dependency in &component.dependencies {
        let matched: Vec<&String> = import_names.iter().filter(|i| matches_import(&dependency.name, i)).collect();
        if matched.is_empty() {
            bail!("dependency '{}' doesn't match any imports of component '{}'", dependency.name, component.id);
        }
        let bytes = read_wasm(&dependency.path).with_context(|| format!("dependency '{}'", dependency.name))?;
        let package = Package::from_bytes(&dependency.name.package, None, bytes, graph.types_mut())
            .with_context(|| format!("dependency '{}'", dependency.name))?;
        let world = package.ty();
        if !component.dependencies_inherit_configuration {
            refuse_denied_imports(&graph, world, dependency)?;
        }
        let package = graph.register_package(package)?;
        let instance = graph.instantiate(package);
        for import in matched {
            satisfied.entry(import.clone()).or_default().push((dependency, instance, world));
        }
    }

    let conflicts: Vec<String> = satisfied
        .iter()
        .filter(|(_, deps)| deps.len() > 1)
        .map(|(import, deps)| {
            let names: Vec<String> = deps.iter().map(|(d, _, _)| d.name.to_string()).collect();
            format!("import '{import}' satisfied by dependencies: '{}'", names.join(", "))
        })
        .collect();
    if !conflicts.is_empty() {
        bail!("component '{}' has dependency conflicts: {}", component.id, conflicts.join("; "));
    }

    let mut cache = Default::default();
    let mut checker = SubtypeChecker::new(&mut cache);
    for (import, deps) in satisfied {
        let (dependency, instance, world) = deps[0];
        let export = dependency.export.clone().unwrap_or_else(|| import.clone());
        let Some(export_ty) = graph.types()[world].exports.get(&export).copied() else {
            bail!("dependency '{}' doesn't export '{export}' to satisfy import '{import}'", dependency.name);
        };
        let import_ty = graph.types()[main_world].imports[&import];
        checker.is_subtype(export_ty, graph.types(), import_ty, graph.types()).with_context(|| {
            format!(
                "dependency '{}' exports '{export}' which is not compatible with import '{import}'",
                dependency.name
            )
        })?;
        let export_node = graph.alias_instance_export(instance, &export)?;
        graph.set_instantiation_argument(main_instance, &import, export_node)?;
    }

    let exports: Vec<String> = graph.types()[main_world].exports.keys().cloned().collect();
    for export in exports {
        let node = graph.alias_instance_export(main_instance, &export)?;
        graph.export(node, &export)?;
    }
    Ok(graph.encode(EncodeOptions::default())?)
}

/// Refuses a non-inheriting dependency that imports a capability Spin's
/// deny-all adapter would take away.
fn refuse_denied_imports(
    graph: &CompositionGraph,
    world: wac_graph::types::WorldId,
    dependency: &Dependency,
) -> anyhow::Result<()> {
    for import in graph.types()[world].imports.keys() {
        let denied = DENIED_TO_DEPENDENCIES.iter().any(|prefix| {
            let (name, major) = prefix.split_once('@').unwrap_or((prefix, ""));
            import
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('@'))
                .is_some_and(|version| version == major || version.starts_with(&format!("{major}.")))
        });
        if denied {
            bail!(
                "dependency '{}' imports `{import}`; without `dependencies_inherit_configuration = true` Spin plugs its deny-all adapter into it, which troupe-host does not implement (set `dependencies_inherit_configuration = true` if the dependency may use the component's capabilities)",
                dependency.name
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(key: &str) -> DependencyName {
        DependencyName::parse(key).expect("valid key")
    }

    #[test]
    fn dependency_keys_match_imports_like_spin() {
        for (key, imports) in [
            ("foo:bar/baz@0.1.0", vec!["foo:bar/baz@0.1.0"]),
            ("foo:bar/baz", vec!["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar", vec!["foo:bar/baz@0.1.0", "foo:bar/baz"]),
            ("foo:bar@0.1.0", vec!["foo:bar/baz@0.1.0"]),
        ] {
            for import in imports {
                assert!(matches_import(&name(key), import), "{key} should match {import}");
            }
        }
        for (key, imports) in [
            ("foo:bar/baz@0.1.0", vec!["foo:bar/baz"]),
            ("foo:bar/baz", vec!["foo:bar/bub", "foo:bar/bub@0.1.0"]),
            ("foo:bar", vec!["foo:bub/bib"]),
            ("foo:bar@0.1.0", vec!["foo:bar/baz"]),
            ("foo:bar/baz", vec!["foo:bar/baz-bub", "foo-bar"]),
        ] {
            for import in imports {
                assert!(!matches_import(&name(key), import), "{key} should not match {import}");
            }
        }
    }

    #[test]
    fn component_binaries_are_left_alone_and_garbage_is_refused() {
        // The header of an empty component (layer 1, version 0x0d).
        let component = b"\0asm\x0d\x00\x01\x00".to_vec();
        assert_eq!(componentize_if_necessary(component.clone()).expect("component"), component);
        assert!(componentize_if_necessary(b"not wasm".to_vec()).is_err());
    }

    const DEPENDENCY: &str = r#"(component
        (core module $m (func (export "f") (result i32) i32.const 42))
        (core instance $i (instantiate $m))
        (func $f (result u32) (canon lift (core func $i "f")))
        (instance $inst (export "f" (func $f)))
        (export "test:dep/iface@0.1.0" (instance $inst))
    )"#;

    const MAIN: &str = r#"(component
        (import "test:dep/iface@0.1.0" (instance $dep (export "f" (func (result u32)))))
        (alias export $dep "f" (func $f))
        (core func $lowered (canon lower (func $f)))
        (core module $m
            (import "dep" "f" (func $f (result i32)))
            (func (export "g") (result i32) call $f))
        (core instance $i (instantiate $m (with "dep" (instance (export "f" (func $lowered))))))
        (func $g (result u32) (canon lift (core func $i "g")))
        (export "g" (func $g))
    )"#;

    /// Writes the main component and a dependency file, and describes them.
    fn component_with_dependency(dir: &std::path::Path, key: &str, dependency_wat: &str, inherit: bool) -> Component {
        let main = dir.join("main.wasm");
        let dependency = dir.join("dep.wasm");
        std::fs::write(&main, wat::parse_str(MAIN).expect("main wat")).expect("write");
        std::fs::write(&dependency, wat::parse_str(dependency_wat).expect("dependency wat")).expect("write");
        Component {
            id: "main".into(),
            description: None,
            source: main,
            allowed_outbound_hosts: vec![],
            key_value_stores: vec![],
            sqlite_databases: vec![],
            variables: Default::default(),
            dependencies: vec![Dependency { name: name(key), path: dependency, export: None }],
            dependencies_inherit_configuration: inherit,
        }
    }

    #[test]
    fn dependency_satisfies_the_import_and_main_exports_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let component = component_with_dependency(dir.path(), "test:dep/iface@0.1.0", DEPENDENCY, false);
        let composed = load_component_bytes(&component).expect("composes");

        let engine = wasmtime::Engine::default();
        let composed = wasmtime::component::Component::new(&engine, composed).expect("valid component");
        let imports: Vec<String> =
            composed.component_type().imports(&engine).map(|(name, _)| name.to_owned()).collect();
        assert!(imports.is_empty(), "left unsatisfied: {imports:?}");
        let mut store = wasmtime::Store::new(&engine, ());
        let linker = wasmtime::component::Linker::new(&engine);
        let instance = linker.instantiate(&mut store, &composed).expect("instantiates");
        let g = instance.get_typed_func::<(), (u32,)>(&mut store, "g").expect("export g");
        assert_eq!(g.call(&mut store, ()).expect("call").0, 42);
    }

    #[test]
    fn package_key_matches_every_import_of_the_package() {
        let dir = tempfile::tempdir().expect("tempdir");
        let component = component_with_dependency(dir.path(), "test:dep", DEPENDENCY, false);
        assert!(load_component_bytes(&component).is_ok());
    }

    #[test]
    fn dependency_key_matching_no_import_is_refused_like_spin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let component = component_with_dependency(dir.path(), "test:other/iface", DEPENDENCY, false);
        let message = format!("{:#}", load_component_bytes(&component).expect_err("refused"));
        assert!(
            message.contains("dependency 'test:other/iface' doesn't match any imports of component 'main'"),
            "{message}"
        );
    }

    #[test]
    fn non_inheriting_dependency_that_imports_a_spin_capability_is_refused() {
        let dependency = DEPENDENCY.replacen(
            "(component",
            r#"(component (import "fermyon:spin/variables@2.0.0" (instance (export "probe" (func))))"#,
            1,
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let component = component_with_dependency(dir.path(), "test:dep/iface", &dependency, false);
        let message = format!("{:#}", load_component_bytes(&component).expect_err("refused"));
        assert!(message.contains("fermyon:spin/variables@2.0.0"), "{message}");

        // With inheritance the import passes through to the host.
        let component = component_with_dependency(dir.path(), "test:dep/iface", &dependency, true);
        assert!(load_component_bytes(&component).is_ok());
    }

    #[test]
    fn wasip1_module_is_componentized_with_the_reactor_adapter() {
        let module = wat::parse_str(
            r#"(module
                (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 1))"#,
        )
        .expect("module wat");
        let component = componentize_if_necessary(module).expect("componentizes");
        let engine = wasmtime::Engine::default();
        let component = wasmtime::component::Component::new(&engine, component).expect("valid component");
        // The adapter turns preview 1 calls into WASI 0.2 imports.
        assert!(component
            .component_type()
            .imports(&engine)
            .any(|(name, _)| name.starts_with("wasi:cli/stdout@0.2") || name.starts_with("wasi:io/streams@0.2")));
    }
}
