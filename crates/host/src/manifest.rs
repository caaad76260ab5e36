//! The `spin.toml` manifest (version 2), limited to what troupe-host runs.
//!
//! Spin refuses unknown fields, and a field this host does not implement
//! would change what the application does under Spin, so both are load
//! errors here, naming the field and where it is. Parsing happens in two
//! steps: the raw [`toml::Table`] keys are checked against explicit lists of
//! accepted fields, then the accepted parts are read into typed structs.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use toml::{Table, Value};

use crate::variables::validate_variable_name;

/// Why a manifest was refused. The message always names the place (a table
/// or a component) and, where there is one, the offending field.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The manifest path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type.
    #[error("spin.toml: {0}")]
    Syntax(String),
    /// A field that Spin does not know either.
    #[error("spin.toml: {place}: unknown field `{field}`")]
    UnknownField {
        /// Where the field is, e.g. "component `users`".
        place: String,
        /// The field name.
        field: String,
    },
    /// A field Spin knows but this host does not implement.
    #[error("spin.toml: {place}: field `{field}` is not supported by troupe-host{}", reason_suffix(.reason))]
    Unsupported {
        /// Where the field is, e.g. "component `users`".
        place: String,
        /// The field name.
        field: String,
        /// Why, or what to do instead (may be empty).
        reason: String,
    },
    /// A field with a value Spin itself would reject.
    #[error("spin.toml: {place}: {message}")]
    Invalid {
        /// Where the problem is.
        place: String,
        /// What is wrong.
        message: String,
    },
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

/// A parsed and checked manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The `[application]` table.
    pub application: Application,
    /// The `[variables]` table, by name.
    pub variables: BTreeMap<String, VariableDecl>,
    /// The `[[trigger.http]]` entries, in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// The `[component.<id>]` tables, by id.
    pub components: BTreeMap<String, Component>,
}

/// The `[application]` table (metadata only).
#[derive(Debug, Clone)]
pub struct Application {
    /// `name`, served by `/.well-known/spin/info`.
    pub name: String,
    /// `version`, served by `/.well-known/spin/info`.
    pub version: Option<String>,
    /// `description`.
    pub description: Option<String>,
}

/// One application variable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariableDecl {
    /// The value used when no provider gives one.
    pub default: Option<String>,
    /// Whether a provider must give a value (there is then no default).
    pub required: bool,
    /// Whether the value is secret (never printed).
    pub secret: bool,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// The route, or `None` for `route = { private = true }`.
    pub route: Option<String>,
    /// The component id.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone)]
pub struct Component {
    /// The component id.
    pub id: String,
    /// `description`, printed next to its routes.
    pub description: Option<String>,
    /// `source`, made absolute against the manifest's folder.
    pub source: PathBuf,
    /// `allowed_outbound_hosts`, possibly templated (`{{ var }}`).
    pub allowed_outbound_hosts: Vec<String>,
    /// `key_value_stores` labels.
    pub key_value_stores: Vec<String>,
    /// `sqlite_databases` labels.
    pub sqlite_databases: Vec<String>,
    /// `[component.<id>.variables]`: name to template.
    pub variables: BTreeMap<String, String>,
    /// `[component.<id>.dependencies]`, in manifest order.
    pub dependencies: Vec<Dependency>,
    /// `dependencies_inherit_configuration`.
    pub dependencies_inherit_configuration: bool,
}

/// One component dependency given by a local path.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// The manifest key, which selects the imports it satisfies.
    pub name: DependencyName,
    /// The `.wasm` file, made absolute against the manifest's folder.
    pub path: PathBuf,
    /// `export`: the dependency's export that satisfies the import(s), when
    /// it is not named like the import.
    pub export: Option<String>,
}

/// A dependency key: `ns:pkg[@version]` or `ns:pkg/interface[@version]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyName {
    /// `ns:pkg`.
    pub package: String,
    /// The interface, when the key names one.
    pub interface: Option<String>,
    /// The exact version, when the key gives one.
    pub version: Option<String>,
}

impl fmt::Display for DependencyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.package)?;
        if let Some(interface) = &self.interface {
            write!(f, "/{interface}")?;
        }
        if let Some(version) = &self.version {
            write!(f, "@{version}")?;
        }
        Ok(())
    }
}

impl DependencyName {
    /// Parses a dependency key. Plain kebab names are refused: Spin needs a
    /// registry `package` for those, which troupe-host does not fetch.
    pub fn parse(key: &str) -> Result<Self, String> {
        let (name, version) = match key.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (key, None),
        };
        let Some((namespace, rest)) = name.split_once(':') else {
            return Err(format!(
                "dependency `{key}`: plain names need a registry `package`; use a `namespace:package` or `namespace:package/interface` key"
            ));
        };
        let (package, interface) = match rest.split_once('/') {
            Some((package, interface)) => (package, Some(interface)),
            None => (rest, None),
        };
        for (what, part) in
            [("namespace", namespace), ("package", package)].into_iter().chain(interface.map(|i| ("interface", i)))
        {
            if !is_kebab_id(part) {
                return Err(format!("dependency `{key}`: {what} `{part}` is not a kebab-case identifier"));
            }
        }
        if let Some(version) = version {
            if !is_semver(version) {
                return Err(format!("dependency `{key}`: `{version}` is not a semantic version"));
            }
        }
        Ok(Self {
            package: format!("{namespace}:{package}"),
            interface: interface.map(str::to_owned),
            version: version.map(str::to_owned),
        })
    }
}

/// Accepted fields, per table. Everything else is either a known Spin field
/// this host refuses (see `unsupported_*`) or unknown.
const TOP_LEVEL_FIELDS: &[&str] = &["spin_manifest_version", "application", "variables", "trigger", "component"];
const APPLICATION_FIELDS: &[&str] = &[
    "name",
    "version",
    "description",
    "authors",
    "targets",
    "trigger",
    // Tool-specific settings that Spin itself ignores.
    "tool",
];
const VARIABLE_FIELDS: &[&str] = &["default", "required", "secret", "description"];
const HTTP_TRIGGER_FIELDS: &[&str] = &["route", "component", "executor", "id"];
const COMPONENT_FIELDS: &[&str] = &[
    "description",
    "source",
    "allowed_outbound_hosts",
    "key_value_stores",
    "sqlite_databases",
    "variables",
    "dependencies",
    "dependencies_inherit_configuration",
    // Used by `spin build` and deployment tooling only.
    "build",
    "targets",
    "tool",
    // Only narrows `files`, which must be empty here.
    "exclude_files",
];

/// Known Spin component fields that change run-time behaviour and that this
/// host does not implement, with what to tell the user.
fn unsupported_component_field(field: &str) -> Option<&'static str> {
    Some(match field {
        "files" => "no files are mounted into components",
        "environment" => "components get an empty environment",
        "ai_models" => "there is no LLM support",
        "allowed_http_hosts" => "deprecated; use `allowed_outbound_hosts`",
        "profile" => "build profiles are not supported",
        _ => return None,
    })
}

impl Manifest {
    /// Reads and checks the manifest at `path`. Relative `source` and
    /// dependency paths are resolved against the manifest's folder.
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ManifestError::Io { path: path.to_owned(), source })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base)
    }

    /// Parses manifest text; `base` is the folder relative paths start from.
    pub fn parse(text: &str, base: &Path) -> Result<Self, ManifestError> {
        let table: Table = toml::from_str(text).map_err(|e| ManifestError::Syntax(e.message().to_owned()))?;
        check_fields(&table, "top level", TOP_LEVEL_FIELDS, |_| None)?;

        match table.get("spin_manifest_version") {
            Some(Value::Integer(2)) => {}
            Some(Value::String(v)) if v == "2" => {}
            Some(other) => return Err(invalid("top level", format!("`spin_manifest_version` must be 2, not {other}"))),
            None => return Err(invalid("top level", "`spin_manifest_version = 2` is missing")),
        }

        let application = parse_application(table.get("application"))?;
        let variables = parse_variables(table.get("variables"))?;
        let http_triggers = parse_triggers(table.get("trigger"))?;
        let components = parse_components(table.get("component"), base, &variables)?;

        for (index, trigger) in http_triggers.iter().enumerate() {
            if !components.contains_key(&trigger.component) {
                return Err(invalid(
                    format!("[[trigger.http]] #{}", index + 1),
                    format!("component `{}` is not defined", trigger.component),
                ));
            }
        }

        Ok(Self { application, variables, http_triggers, components })
    }
}

fn invalid(place: impl Into<String>, message: impl Into<String>) -> ManifestError {
    ManifestError::Invalid { place: place.into(), message: message.into() }
}

/// Checks that every key of `table` is accepted. `unsupported` names the
/// known-but-refused fields (with a reason); the rest are unknown.
fn check_fields(
    table: &Table,
    place: &str,
    accepted: &[&str],
    unsupported: impl Fn(&str) -> Option<&'static str>,
) -> Result<(), ManifestError> {
    for key in table.keys() {
        if accepted.contains(&key.as_str()) {
            continue;
        }
        return Err(match unsupported(key) {
            Some(reason) => {
                ManifestError::Unsupported { place: place.to_owned(), field: key.clone(), reason: reason.to_owned() }
            }
            None => ManifestError::UnknownField { place: place.to_owned(), field: key.clone() },
        });
    }
    Ok(())
}

/// Deserializes one accepted value into its typed form.
fn typed<T: for<'de> Deserialize<'de>>(value: &Value, place: &str, field: &str) -> Result<T, ManifestError> {
    value.clone().try_into().map_err(|e: toml::de::Error| invalid(place, format!("field `{field}`: {}", e.message())))
}

fn as_table<'a>(value: &'a Value, place: &str) -> Result<&'a Table, ManifestError> {
    value.as_table().ok_or_else(|| invalid(place, "expected a table"))
}

fn parse_application(value: Option<&Value>) -> Result<Application, ManifestError> {
    let place = "[application]";
    let table = as_table(value.ok_or_else(|| invalid("top level", "`[application]` is missing"))?, place)?;
    check_fields(table, place, APPLICATION_FIELDS, |_| None)?;

    let name: String = typed(table.get("name").ok_or_else(|| invalid(place, "`name` is missing"))?, place, "name")?;
    let version = table.get("version").map(|v| typed::<String>(v, place, "version")).transpose()?;
    let description = table.get("description").map(|v| typed::<String>(v, place, "description")).transpose()?;
    if let Some(v) = table.get("authors") {
        typed::<Vec<String>>(v, place, "authors")?;
    }
    if let Some(v) = table.get("targets") {
        typed::<Vec<String>>(v, place, "targets")?;
    }
    if let Some(triggers) = table.get("trigger") {
        let place = "[application.trigger]";
        let triggers = as_table(triggers, place)?;
        for (kind, settings) in triggers {
            if kind != "http" {
                return Err(ManifestError::Unsupported {
                    place: place.into(),
                    field: kind.clone(),
                    reason: "only HTTP triggers run here".into(),
                });
            }
            let place = "[application.trigger.http]";
            let settings = as_table(settings, place)?;
            check_fields(settings, place, &["base"], |_| None)?;
            if let Some(base) = settings.get("base") {
                if typed::<String>(base, place, "base")? != "/" {
                    return Err(ManifestError::Unsupported {
                        place: place.into(),
                        field: "base".into(),
                        reason: "Spin 3 removed the application base path; only \"/\" is accepted".into(),
                    });
                }
            }
        }
    }
    Ok(Application { name, version, description })
}

fn parse_variables(value: Option<&Value>) -> Result<BTreeMap<String, VariableDecl>, ManifestError> {
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    let mut variables = BTreeMap::new();
    for (name, decl) in as_table(value, "[variables]")? {
        let place = format!("[variables.{name}]");
        validate_variable_name(name).map_err(|e| invalid(&place, e))?;
        let decl = as_table(decl, &place)?;
        check_fields(decl, &place, VARIABLE_FIELDS, |_| None)?;
        let default = decl.get("default").map(|v| typed::<String>(v, &place, "default")).transpose()?;
        let required = decl.get("required").map(|v| typed::<bool>(v, &place, "required")).transpose()?.unwrap_or(false);
        let secret = decl.get("secret").map(|v| typed::<bool>(v, &place, "secret")).transpose()?.unwrap_or(false);
        if let Some(v) = decl.get("description") {
            typed::<String>(v, &place, "description")?;
        }
        match (&default, required) {
            (Some(_), true) => return Err(invalid(&place, "a required variable cannot have a default")),
            (None, false) => return Err(invalid(&place, "a variable needs a `default` or `required = true`")),
            _ => {}
        }
        variables.insert(name.clone(), VariableDecl { default, required, secret });
    }
    Ok(variables)
}

fn parse_triggers(value: Option<&Value>) -> Result<Vec<HttpTrigger>, ManifestError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut triggers = Vec::new();
    for (kind, entries) in as_table(value, "[trigger]")? {
        if kind != "http" {
            return Err(ManifestError::Unsupported {
                place: "[trigger]".into(),
                field: kind.clone(),
                reason: "only HTTP triggers run here".into(),
            });
        }
        let entries = entries
            .as_array()
            .ok_or_else(|| invalid("[trigger]", "`trigger.http` must be an array of tables (`[[trigger.http]]`)"))?;
        for (index, entry) in entries.iter().enumerate() {
            let place = format!("[[trigger.http]] #{}", index + 1);
            let entry = as_table(entry, &place)?;
            check_fields(entry, &place, HTTP_TRIGGER_FIELDS, |field| match field {
                "static_response" => Some("route to a component instead"),
                "components" => Some("reserved by Spin"),
                _ => None,
            })?;
            let route = match entry.get("route") {
                Some(Value::String(route)) => Some(route.clone()),
                Some(Value::Table(private)) => {
                    check_fields(private, &place, &["private"], |_| None)?;
                    match private.get("private") {
                        Some(Value::Boolean(true)) => None,
                        _ => return Err(invalid(&place, "route must be a string pattern or '{ private = true }'")),
                    }
                }
                Some(_) => return Err(invalid(&place, "route must be a string pattern or '{ private = true }'")),
                None => return Err(invalid(&place, "`route` is missing")),
            };
            let component = match entry.get("component") {
                Some(Value::String(id)) => id.clone(),
                Some(Value::Table(_)) => {
                    return Err(ManifestError::Unsupported {
                        place,
                        field: "component".into(),
                        reason: "inline component tables; name a `[component.<id>]` instead".into(),
                    })
                }
                Some(_) => return Err(invalid(&place, "`component` must be a component id")),
                None => return Err(invalid(&place, "`component` is missing")),
            };
            if let Some(executor) = entry.get("executor") {
                let executor = as_table(executor, &place)?;
                let kind = executor.get("type").and_then(Value::as_str);
                let is_http = matches!(kind, Some("spin" | "http")) && executor.len() == 1;
                if !is_http {
                    return Err(ManifestError::Unsupported {
                        place,
                        field: "executor".into(),
                        reason: "only the default `{ type = \"spin\" }` (wasi:http) executor runs here".into(),
                    });
                }
            }
            if let Some(id) = entry.get("id") {
                typed::<String>(id, &place, "id")?;
            }
            triggers.push(HttpTrigger { route, component });
        }
    }
    Ok(triggers)
}

fn parse_components(
    value: Option<&Value>,
    base: &Path,
    variables: &BTreeMap<String, VariableDecl>,
) -> Result<BTreeMap<String, Component>, ManifestError> {
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    let mut components = BTreeMap::new();
    for (id, table) in as_table(value, "[component]")? {
        let place = format!("component `{id}`");
        if !is_kebab_id(id) {
            return Err(invalid(&place, "component ids must be kebab-case (lowercase letters, digits and single dashes, starting with a letter)"));
        }
        let table = as_table(table, &place)?;
        for (field, value) in table {
            if COMPONENT_FIELDS.contains(&field.as_str()) {
                continue;
            }
            match unsupported_component_field(field) {
                // An empty list of files or environment changes nothing.
                Some(_) if is_empty_value(value) => {}
                Some(reason) => {
                    return Err(ManifestError::Unsupported { place, field: field.clone(), reason: reason.into() })
                }
                None => return Err(ManifestError::UnknownField { place, field: field.clone() }),
            }
        }

        let source = match table.get("source") {
            Some(Value::String(path)) => base.join(path),
            Some(Value::Table(_)) => {
                return Err(ManifestError::Unsupported {
                    place,
                    field: "source".into(),
                    reason: "URL and registry sources are not fetched; build the component and give its local path"
                        .into(),
                })
            }
            Some(_) => return Err(invalid(&place, "`source` must be a path")),
            None => return Err(invalid(&place, "`source` is missing")),
        };
        let description = table.get("description").map(|v| typed::<String>(v, &place, "description")).transpose()?;
        let list = |field: &str| -> Result<Vec<String>, ManifestError> {
            table.get(field).map(|v| typed::<Vec<String>>(v, &place, field)).transpose().map(Option::unwrap_or_default)
        };
        let allowed_outbound_hosts = list("allowed_outbound_hosts")?;
        let key_value_stores = list("key_value_stores")?;
        let sqlite_databases = list("sqlite_databases")?;
        let component_variables: BTreeMap<String, String> =
            table.get("variables").map(|v| typed(v, &place, "variables")).transpose()?.unwrap_or_default();
        for (name, template) in &component_variables {
            validate_variable_name(name).map_err(|e| invalid(&place, format!("variable `{name}`: {e}")))?;
            crate::variables::Template::parse(template)
                .and_then(|t| t.check_references(variables))
                .map_err(|e| invalid(&place, format!("variable `{name}`: {e}")))?;
        }
        for host in &allowed_outbound_hosts {
            crate::variables::Template::parse(host)
                .and_then(|t| t.check_references(variables))
                .map_err(|e| invalid(&place, format!("allowed_outbound_hosts `{host}`: {e}")))?;
        }
        let dependencies_inherit_configuration = table
            .get("dependencies_inherit_configuration")
            .map(|v| typed::<bool>(v, &place, "dependencies_inherit_configuration"))
            .transpose()?
            .unwrap_or(false);
        let dependencies = match table.get("dependencies") {
            Some(deps) => parse_dependencies(as_table(deps, &place)?, &place, base)?,
            None => Vec::new(),
        };
        if let Some(build) = table.get("build") {
            // Only `spin build` reads it, but Spin still rejects a malformed one.
            as_table(build, &place)?;
        }

        components.insert(
            id.clone(),
            Component {
                id: id.clone(),
                description,
                source,
                allowed_outbound_hosts,
                key_value_stores,
                sqlite_databases,
                variables: component_variables,
                dependencies,
                dependencies_inherit_configuration,
            },
        );
    }
    Ok(components)
}

fn parse_dependencies(table: &Table, place: &str, base: &Path) -> Result<Vec<Dependency>, ManifestError> {
    let mut dependencies = Vec::new();
    for (key, value) in table {
        let name = DependencyName::parse(key).map_err(|e| invalid(place, e))?;
        let dep_place = format!("{place}: dependency `{key}`");
        let Value::Table(spec) = value else {
            return Err(ManifestError::Unsupported {
                place: dep_place,
                field: "version".into(),
                reason: "registry dependencies are not fetched; give a local `path`".into(),
            });
        };
        check_fields(spec, &dep_place, &["path", "export"], |field| match field {
            "version" | "registry" | "package" => Some("registry dependencies are not fetched; give a local `path`"),
            "url" | "digest" => Some("URL dependencies are not fetched; give a local `path`"),
            "inherit_configuration" => Some("use the component's `dependencies_inherit_configuration`"),
            _ => None,
        })?;
        let path: String =
            typed(spec.get("path").ok_or_else(|| invalid(&dep_place, "`path` is missing"))?, &dep_place, "path")?;
        let export = spec.get("export").map(|v| typed::<String>(v, &dep_place, "export")).transpose()?;
        if export.is_some() && name.interface.is_none() {
            return Err(invalid(
                &dep_place,
                "using an export to satisfy a package dependency is not permitted; name an interface in the key",
            ));
        }
        dependencies.push(Dependency { name, path: base.join(path), export });
    }
    Ok(dependencies)
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Array(a) => a.is_empty(),
        Value::Table(t) => t.is_empty(),
        _ => false,
    }
}

/// Spin's `KebabId`: lowercase words of letters and digits joined by single
/// dashes, starting with a letter.
pub(crate) fn is_kebab_id(s: &str) -> bool {
    !s.is_empty()
        && s.split('-')
            .all(|word| !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && s.starts_with(|c: char| c.is_ascii_lowercase())
}

fn is_semver(s: &str) -> bool {
    semver::Version::parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "app"
[[trigger.http]]
route = "/users/..."
component = "users"
[component.users]
source = "users.wasm"
"#;

    fn with_component_lines(lines: &str) -> String {
        format!("{MINIMAL}{lines}\n")
    }

    fn error_of(text: &str) -> String {
        match Manifest::parse(text, Path::new("/app")) {
            Ok(_) => panic!("manifest was accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn minimal_manifest_parses_with_absolute_source() {
        let manifest = Manifest::parse(MINIMAL, Path::new("/app")).expect("valid manifest");
        assert_eq!(manifest.components["users"].source, PathBuf::from("/app/users.wasm"));
        assert_eq!(
            manifest.http_triggers,
            vec![HttpTrigger { route: Some("/users/...".into()), component: "users".into() }]
        );
    }

    #[test]
    fn the_projects_spin_toml_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
        let manifest = Manifest::from_file(&path).expect("spin.toml is accepted");
        assert!(manifest.components.contains_key("health"));
        assert!(!manifest.http_triggers.is_empty());
    }

    #[test]
    fn files_field_is_refused_naming_field_and_component() {
        let message = error_of(&with_component_lines(r#"files = ["static/**"]"#));
        assert_eq!(
            message,
            "spin.toml: component `users`: field `files` is not supported by troupe-host (no files are mounted into components)"
        );
    }

    #[test]
    fn environment_field_is_refused() {
        let message = error_of(&with_component_lines(r#"environment = { RUST_LOG = "debug" }"#));
        assert!(message.contains("component `users`: field `environment` is not supported"), "{message}");
    }

    #[test]
    fn empty_files_list_changes_nothing_and_is_accepted() {
        Manifest::parse(&with_component_lines("files = []"), Path::new("/app")).expect("accepted");
    }

    #[test]
    fn unknown_component_field_is_refused() {
        let message = error_of(&with_component_lines("sauce = true"));
        assert_eq!(message, "spin.toml: component `users`: unknown field `sauce`");
    }

    #[test]
    fn unknown_top_level_field_is_refused() {
        let message = error_of(&format!("extra = 1\n{MINIMAL}"));
        assert_eq!(message, "spin.toml: top level: unknown field `extra`");
    }

    #[test]
    fn url_source_is_refused() {
        let text = MINIMAL.replace(
            r#"source = "users.wasm""#,
            r#"source = { url = "https://example.com/u.wasm", digest = "sha256:00" }"#,
        );
        assert!(error_of(&text).contains("field `source` is not supported"));
    }

    #[test]
    fn wagi_executor_is_refused() {
        let text = MINIMAL.replace(r#"component = "users""#, "component = \"users\"\nexecutor = { type = \"wagi\" }");
        assert!(error_of(&text).contains("field `executor` is not supported"));
    }

    #[test]
    fn inline_component_in_trigger_is_refused() {
        let text = r#"
spin_manifest_version = 2
[application]
name = "app"
[[trigger.http]]
route = "/"
component = { source = "x.wasm" }
"#;
        assert!(error_of(text).contains("field `component` is not supported"));
    }

    #[test]
    fn application_base_other_than_root_is_refused() {
        let text = MINIMAL.replace("name = \"app\"", "name = \"app\"\n[application.trigger.http]\nbase = \"/api\"");
        assert!(error_of(&text).contains("field `base` is not supported"));
    }

    #[test]
    fn private_false_route_is_invalid() {
        let text = MINIMAL.replace(r#"route = "/users/...""#, "route = { private = false }");
        assert!(error_of(&text).contains("route must be a string pattern or '{ private = true }'"));
    }

    #[test]
    fn private_route_parses_as_no_route() {
        let text = MINIMAL.replace(r#"route = "/users/...""#, "route = { private = true }");
        let manifest = Manifest::parse(&text, Path::new("/app")).expect("valid");
        assert_eq!(manifest.http_triggers[0].route, None);
    }

    #[test]
    fn component_variable_referring_to_undeclared_app_variable_is_refused() {
        let message = error_of(&with_component_lines("[component.users.variables]\nurl = \"{{ nowhere }}\""));
        assert!(message.contains("nowhere"), "{message}");
    }

    #[test]
    fn registry_dependency_is_refused_but_path_dependency_is_read() {
        let message =
            error_of(&with_component_lines("[component.users.dependencies]\n\"troupe:auth/verifier\" = \"^0.1\""));
        assert!(message.contains("not supported"), "{message}");

        let text = with_component_lines(
            "[component.users.dependencies]\n\"troupe:auth/verifier@0.1.0\" = { path = \"verifier.wasm\" }",
        );
        let manifest = Manifest::parse(&text, Path::new("/app")).expect("valid");
        let dependency = &manifest.components["users"].dependencies[0];
        assert_eq!(dependency.name.to_string(), "troupe:auth/verifier@0.1.0");
        assert_eq!(dependency.path, PathBuf::from("/app/verifier.wasm"));
    }

    #[test]
    fn trigger_naming_missing_component_is_refused() {
        let text = MINIMAL.replace(r#"component = "users""#, r#"component = "ghost""#);
        assert!(error_of(&text).contains("component `ghost` is not defined"));
    }
}
