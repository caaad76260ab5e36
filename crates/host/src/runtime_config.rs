//! Spin's runtime configuration file (`spin up --runtime-config-file`),
//! limited to what troupe-host runs: key-value stores of types `spin` and
//! `redis`, and SQLite databases of type `spin`.
//!
//! What Spin does, from its source (`crates/runtime-config`,
//! `crates/key-value-spin`, `crates/key-value-redis`, `crates/sqlite`):
//!
//! * `[key_value_store.<label>]` with `type = "spin"` and an optional
//!   `path`, relative to the runtime configuration file's directory (no
//!   `path`: in memory); or `type = "redis"` with a `url`.
//! * `[sqlite_database.<label>]` with `type = "spin"` and a `path`, relative
//!   to the current directory (not the file's: a quirk kept here).
//! * The `default` store and database exist whether or not the file names
//!   them; a table labelled `default` replaces the built-in one.
//! * The file is plain TOML: no templates, no environment variables.
//! * A top-level key Spin does not know is an error (`unused runtime config
//!   key(s): …`).
//!
//! Everything Spin knows but troupe-host does not implement (other store
//! types, libSQL, variables providers, `state_dir`, …) is refused by name
//! when the application loads, and so is any field of a table that the
//! type does not take (Spin ignores those in key-value tables; here a typo
//! fails loudly instead of silently using defaults).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{anyhow, bail, Context as _};
use toml::{Table, Value};

/// How one key-value store label is backed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValueStoreConfig {
    /// Spin's SQLite-file store; `None` keeps it in memory.
    Spin {
        /// The database file, already resolved against the file's directory.
        path: Option<PathBuf>,
    },
    /// A Redis server (keys stored as given, whatever the label).
    Redis {
        /// `redis://` or `rediss://` URL.
        url: String,
    },
}

/// A parsed runtime configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// `[key_value_store.<label>]` tables.
    pub key_value_stores: BTreeMap<String, KeyValueStoreConfig>,
    /// `[sqlite_database.<label>]` tables of type `spin`: the file of each.
    pub sqlite_databases: BTreeMap<String, PathBuf>,
}

/// Top-level keys Spin knows that troupe-host does not implement, and what
/// they do there.
const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    ("state_dir", "give --state-dir instead"),
    ("log_dir", "troupe-host writes component output to --log-file"),
    ("variables_provider", "give SPIN_VARIABLE_* or --variable instead"),
    ("config_provider", "give SPIN_VARIABLE_* or --variable instead"),
    ("llm_compute", "troupe-host provides no LLM interface"),
    ("client_tls", "outbound TLS uses the Mozilla roots only"),
    ("outbound_networking", "troupe-host has no outbound networking settings"),
    ("otel", "troupe-host exports no telemetry"),
];

impl RuntimeConfig {
    /// Reads and checks `path`.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read runtime config file '{}'", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).with_context(|| format!("runtime config file '{}'", path.display()))
    }

    /// Parses a runtime configuration whose file is in `base` (key-value
    /// paths are resolved against it).
    pub fn parse(text: &str, base: &Path) -> anyhow::Result<Self> {
        let table: Table = toml::from_str(text).context("not valid TOML")?;
        let mut config = Self::default();
        let mut unused = Vec::new();
        for (key, value) in &table {
            match key.as_str() {
                "key_value_store" => {
                    for (label, store) in labelled_tables(value, key)? {
                        let store = key_value_store(store, base)
                            .with_context(|| format!("could not configure key-value store with label '{label}'"))?;
                        config.key_value_stores.insert(label.clone(), store);
                    }
                }
                "sqlite_database" => {
                    for (label, database) in labelled_tables(value, key)? {
                        let path = sqlite_database(database)
                            .with_context(|| format!("could not configure SQLite database with label '{label}'"))?;
                        config.sqlite_databases.insert(label.clone(), path);
                    }
                }
                other => match UNSUPPORTED_KEYS.iter().find(|(name, _)| *name == other) {
                    Some((name, instead)) => bail!("`{name}` is not supported by troupe-host ({instead})"),
                    None => unused.push(other.to_owned()),
                },
            }
        }
        if !unused.is_empty() {
            bail!("unused runtime config key(s): {}", unused.join(", "));
        }
        Ok(config)
    }
}

/// The `<label> = { … }` tables under `key`.
fn labelled_tables<'a>(value: &'a Value, key: &str) -> anyhow::Result<impl Iterator<Item = (&'a String, &'a Table)>> {
    let tables = value.as_table().ok_or_else(|| anyhow!("`{key}` must be a table of labelled tables"))?;
    for (label, table) in tables {
        if !table.is_table() {
            bail!("`{key}.{label}` must be a table");
        }
    }
    Ok(tables.iter().filter_map(|(label, table)| Some((label, table.as_table()?))))
}

/// The table's `type`.
fn kind(table: &Table) -> anyhow::Result<&str> {
    table.get("type").and_then(Value::as_str).ok_or_else(|| anyhow!("`type` is missing"))
}

/// Refuses any field of a `kind` table but `type` and `fields`.
fn only_fields(table: &Table, kind: &str, fields: &[&str]) -> anyhow::Result<()> {
    match table.keys().find(|field| field.as_str() != "type" && !fields.contains(&field.as_str())) {
        Some(field) => bail!("type `{kind}` takes no field `{field}` (troupe-host reads {})", list(fields)),
        None => Ok(()),
    }
}

fn list(fields: &[&str]) -> String {
    match fields {
        [] => "no other field".to_owned(),
        fields => fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "),
    }
}

fn string_field<'a>(table: &'a Table, field: &str) -> anyhow::Result<Option<&'a str>> {
    table.get(field).map(|v| v.as_str().ok_or_else(|| anyhow!("`{field}` must be a string"))).transpose()
}

fn key_value_store(table: &Table, base: &Path) -> anyhow::Result<KeyValueStoreConfig> {
    match kind(table)? {
        kind @ "spin" => {
            only_fields(table, kind, &["path"])?;
            let path = string_field(table, "path")?.map(|path| base.join(path));
            Ok(KeyValueStoreConfig::Spin { path })
        }
        kind @ "redis" => {
            only_fields(table, kind, &["url"])?;
            let url = string_field(table, "url")?.ok_or_else(|| anyhow!("type `redis` needs a `url`"))?;
            if redis::parse_redis_url(url).is_none() {
                bail!("Invalid Redis URL");
            }
            Ok(KeyValueStoreConfig::Redis { url: url.to_owned() })
        }
        unsupported @ ("azure_cosmos" | "aws_dynamo") => {
            bail!("the store type '{unsupported}' is not supported by troupe-host")
        }
        other => bail!("the store type '{other}' was not registered with the config resolver"),
    }
}

fn sqlite_database(table: &Table) -> anyhow::Result<PathBuf> {
    match kind(table)? {
        kind @ "spin" => {
            only_fields(table, kind, &["path"])?;
            // As Spin: relative to the directory the host was started in.
            let path = string_field(table, "path")?.ok_or_else(|| {
                anyhow!("troupe-host needs a `path` (without one, Spin gives every connection its own empty database)")
            })?;
            let cwd = std::env::current_dir().context("the current directory")?;
            Ok(cwd.join(path))
        }
        "libsql" => bail!("type `libsql` is not supported by troupe-host"),
        other => bail!("Unknown database kind: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<RuntimeConfig> {
        RuntimeConfig::parse(text, Path::new("/etc/troupe"))
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).expect_err("refused"))
    }

    #[test]
    fn redis_and_spin_stores_and_spin_databases_are_read() {
        let config = parse(
            r#"
            [key_value_store.default]
            type = "redis"
            url = "redis://127.0.0.1:6379/2"

            [key_value_store.local]
            type = "spin"
            path = "data/local.db"

            [key_value_store.scratch]
            type = "spin"

            [sqlite_database.default]
            type = "spin"
            path = "/var/lib/troupe/db.sqlite"
            "#,
        )
        .expect("valid");
        assert_eq!(
            config.key_value_stores["default"],
            KeyValueStoreConfig::Redis { url: "redis://127.0.0.1:6379/2".into() }
        );
        assert_eq!(
            config.key_value_stores["local"],
            KeyValueStoreConfig::Spin { path: Some(PathBuf::from("/etc/troupe/data/local.db")) }
        );
        assert_eq!(config.key_value_stores["scratch"], KeyValueStoreConfig::Spin { path: None });
        assert_eq!(config.sqlite_databases["default"], PathBuf::from("/var/lib/troupe/db.sqlite"));
    }

    #[test]
    fn sqlite_paths_are_relative_to_the_current_directory_as_in_spin() {
        let config = parse("[sqlite_database.reports]\ntype = \"spin\"\npath = \"reports.db\"").expect("valid");
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(config.sqlite_databases["reports"], cwd.join("reports.db"));
    }

    #[test]
    fn unknown_top_level_keys_are_refused_as_spin_does() {
        assert_eq!(error("baz = 1"), "unused runtime config key(s): baz");
    }

    #[test]
    fn known_but_unimplemented_keys_are_refused_by_name() {
        let message = error("[[variables_provider]]\ntype = \"env\"");
        assert!(message.contains("`variables_provider` is not supported by troupe-host"), "{message}");
        assert!(error("state_dir = \"x\"").contains("`state_dir` is not supported"));
    }

    #[test]
    fn unimplemented_and_unknown_types_are_refused_naming_the_label() {
        let message = error("[key_value_store.cache]\ntype = \"azure_cosmos\"");
        assert!(message.contains("label 'cache'") && message.contains("'azure_cosmos' is not supported"), "{message}");
        let message = error("[key_value_store.cache]\ntype = \"memcached\"");
        assert!(message.contains("'memcached' was not registered"), "{message}");
        let message = error("[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://x\"\ntoken = \"t\"");
        assert!(message.contains("`libsql` is not supported"), "{message}");
        assert!(error("[sqlite_database.default]\ntype = \"mysql\"").contains("Unknown database kind: mysql"));
    }

    #[test]
    fn fields_a_type_does_not_take_and_missing_ones_are_refused() {
        let message = error("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://h\"\npassword = \"p\"");
        assert!(message.contains("no field `password`"), "{message}");
        assert!(error("[key_value_store.default]\ntype = \"redis\"").contains("needs a `url`"));
        assert!(error("[key_value_store.default]\ntype = \"redis\"\nurl = \"http://h\"").contains("Invalid Redis URL"));
        assert!(error("[key_value_store.default]\npath = \"x\"").contains("`type` is missing"));
        assert!(error("[sqlite_database.default]\ntype = \"spin\"").contains("needs a `path`"));
        assert!(error("key_value_store = 1").contains("table of labelled tables"));
        assert!(error("[key_value_store]\ndefault = 1").contains("must be a table"));
    }
}
