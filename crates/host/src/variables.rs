//! Application and component variables, resolved the way Spin resolves them.
//!
//! An application variable takes the first value found in: the overrides
//! given to the host (`--variable name=value`, [`crate::HostConfig::variables`]),
//! the environment variable `SPIN_VARIABLE_<NAME>`, a `.env` file in the
//! working directory (Spin's env provider reads it too), and finally the
//! `default` in `[variables]`. A component sees only the names it declares in
//! `[component.<id>.variables]`, each a template over application variables.
//!
//! Every provider here is fixed for the life of the process, so values are
//! resolved once at load: a `required` variable without a value is a load
//! error, as with Spin's start-up check.

use std::collections::{BTreeMap, HashMap};

use crate::bindings::spin::variables::{self, Error as VariablesError};
use crate::instance::InstanceState;
use crate::manifest::VariableDecl;

/// Checks a variable name against Spin's rules: lower-case letters, digits
/// and single underscores, starting with a letter, ending with a letter or
/// digit.
pub fn validate_variable_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("variable names must not be empty".into());
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
        return Err(format!(
            "invalid character {c:?}: variable names may contain only lower-case letters, numbers and underscores"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("variable names must start with a letter".into());
    }
    if name.ends_with('_') {
        return Err("variable names must end with a letter or number".into());
    }
    if name.contains("__") {
        return Err("variable names must not contain multiple consecutive underscores".into());
    }
    Ok(())
}

/// A string with `{{ variable }}` references, e.g. `postgres://{{ host }}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Parses a template; every reference must be a valid variable name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| format!("unterminated `{{{{` in template {text:?}"))?;
            let name = after[..end].trim();
            validate_variable_name(name).map_err(|e| format!("template {text:?}: {e}"))?;
            parts.push(Part::Variable(name.to_owned()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// Fails when the template refers to a variable `[variables]` lacks.
    pub fn check_references(self, declared: &BTreeMap<String, VariableDecl>) -> Result<Self, String> {
        for part in &self.parts {
            if let Part::Variable(name) = part {
                if !declared.contains_key(name) {
                    return Err(format!("unknown variable {name:?} (not declared in [variables])"));
                }
            }
        }
        Ok(self)
    }

    /// Fills in every reference with `lookup`.
    pub fn render(&self, mut lookup: impl FnMut(&str) -> Result<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(&lookup(name)?),
            }
        }
        Ok(out)
    }
}

/// Resolves application variables from the providers, in Spin's order.
#[derive(Debug)]
pub struct Resolver {
    declared: BTreeMap<String, VariableDecl>,
    overrides: HashMap<String, String>,
    dotenv: HashMap<String, String>,
}

impl Resolver {
    /// Builds a resolver over the manifest's `[variables]` and the host's
    /// overrides. Reads `.env` from the working directory, if there is one.
    pub fn new(declared: BTreeMap<String, VariableDecl>, overrides: HashMap<String, String>) -> anyhow::Result<Self> {
        for name in overrides.keys() {
            validate_variable_name(name).map_err(|e| anyhow::anyhow!("variable override `{name}`: {e}"))?;
        }
        // Same as Spin: an unreadable or absent `.env` simply provides nothing.
        let dotenv = dotenvy::from_path_iter(".env").into_iter().flatten().filter_map(Result::ok).collect();
        Ok(Self { declared, overrides, dotenv })
    }

    /// The value of the application variable `name`.
    pub fn resolve(&self, name: &str) -> Result<String, String> {
        if let Some(value) = self.overrides.get(name) {
            return Ok(value.clone());
        }
        let env_key = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
        match std::env::var(&env_key) {
            Ok(value) => return Ok(value),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(format!("failed to resolve env var {env_key}: not valid unicode"))
            }
            Err(std::env::VarError::NotPresent) => {}
        }
        if let Some(value) = self.dotenv.get(&env_key) {
            return Ok(value.clone());
        }
        match self.declared.get(name).and_then(|d| d.default.clone()) {
            Some(default) => Ok(default),
            None => Err(format!("no provider resolved required variable {name:?}")),
        }
    }

    /// Fails, naming the variable, when a `required` one has no value.
    pub fn check_required(&self) -> anyhow::Result<()> {
        for (name, decl) in &self.declared {
            if decl.required {
                self.resolve(name).map_err(|_| {
                    anyhow::anyhow!(
                        "variable `{name}` is required but has no value: pass --variable {name}=... or set SPIN_VARIABLE_{}",
                        name.to_ascii_uppercase()
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Renders a template over application variables.
    pub fn render(&self, template: &str) -> Result<String, String> {
        Template::parse(template)?.render(|name| self.resolve(name))
    }
}

/// The variables one component may read, already resolved.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables {
    component_id: String,
    values: BTreeMap<String, String>,
}

impl ComponentVariables {
    /// Resolves the component's `[component.<id>.variables]` templates.
    pub fn resolve(
        component_id: &str,
        templates: &BTreeMap<String, String>,
        resolver: &Resolver,
    ) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        for (name, template) in templates {
            let value = resolver
                .render(template)
                .map_err(|e| anyhow::anyhow!("component `{component_id}`: variable `{name}`: {e}"))?;
            values.insert(name.clone(), value);
        }
        Ok(Self { component_id: component_id.to_owned(), values })
    }

    /// `fermyon:spin/variables.get`, with Spin's errors.
    pub fn get(&self, name: &str) -> Result<String, VariablesError> {
        validate_variable_name(name).map_err(|e| VariablesError::InvalidName(format!("{name:?}: {e}")))?;
        self.values
            .get(name)
            .cloned()
            .ok_or_else(|| VariablesError::Undefined(format!("no variable for {:?}.{name:?}", self.component_id)))
    }
}

impl variables::Host for InstanceState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, VariablesError>> {
        Ok(self.variables.get(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(entries: &[(&str, Option<&str>)]) -> BTreeMap<String, VariableDecl> {
        entries
            .iter()
            .map(|(name, default)| {
                (
                    name.to_string(),
                    VariableDecl { default: default.map(str::to_owned), required: default.is_none(), secret: false },
                )
            })
            .collect()
    }

    #[test]
    fn variable_names_follow_spins_rules() {
        for good in ["a", "a1b2c3", "a_1_b_3", "database_url"] {
            assert!(validate_variable_name(good).is_ok(), "{good} should be valid");
        }
        for bad in ["", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y"] {
            assert!(validate_variable_name(bad).is_err(), "{bad} should be invalid");
        }
    }

    #[test]
    fn template_mixes_literal_text_and_references() {
        let resolver = Resolver::new(declared(&[("host", Some("db:5432"))]), HashMap::new()).expect("resolver");
        assert_eq!(resolver.render("postgres://{{ host }}/x").as_deref(), Ok("postgres://db:5432/x"));
        assert_eq!(resolver.render("{{host}}").as_deref(), Ok("db:5432"));
        assert!(Template::parse("{{ host").is_err());
    }

    #[test]
    fn override_beats_default() {
        let overrides = HashMap::from([("host".to_owned(), "override".to_owned())]);
        let resolver = Resolver::new(declared(&[("host", Some("default"))]), overrides).expect("resolver");
        assert_eq!(resolver.resolve("host").as_deref(), Ok("override"));
    }

    #[test]
    fn environment_variable_beats_default() {
        // A name no other test uses, so setting it cannot disturb them.
        std::env::set_var("SPIN_VARIABLE_TROUPE_ENV_PROBE", "from-env");
        let resolver =
            Resolver::new(declared(&[("troupe_env_probe", Some("default"))]), HashMap::new()).expect("resolver");
        assert_eq!(resolver.resolve("troupe_env_probe").as_deref(), Ok("from-env"));
    }

    #[test]
    fn required_variable_without_value_fails_the_check() {
        let resolver = Resolver::new(declared(&[("troupe_secret_probe", None)]), HashMap::new()).expect("resolver");
        let error = resolver.check_required().expect_err("must fail").to_string();
        assert!(error.contains("troupe_secret_probe"), "{error}");
    }

    #[test]
    fn component_sees_only_declared_names_with_spins_errors() {
        let resolver = Resolver::new(declared(&[("url", Some("u"))]), HashMap::new()).expect("resolver");
        let templates = BTreeMap::from([("database_url".to_owned(), "{{ url }}".to_owned())]);
        let vars = ComponentVariables::resolve("health", &templates, &resolver).expect("resolves");
        assert_eq!(vars.get("database_url").ok().as_deref(), Some("u"));
        assert!(
            matches!(vars.get("url"), Err(VariablesError::Undefined(m)) if m == "no variable for \"health\".\"url\"")
        );
        assert!(matches!(vars.get("Bad"), Err(VariablesError::InvalidName(_))));
    }
}
