//! Support for Troupe's black-box API tests.
//!
//! [`spawn_app`] starts the application from the repository's own
//! `spin.toml` with `troupe-host up`, a process of its own as `spin up` would
//! be, with a fresh state directory (its SQLite database and key-value store)
//! or a fresh Postgres schema, on a free port, and returns typed helpers to
//! drive it over HTTP as a client would. The components and the host must
//! have been built first (`scripts/build-wasm` and
//! `cargo build --profile host -p troupe-host`, which the test command runs;
//! see [`host_binary`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub mod mail;
mod services;
pub use mail::MailReceiver;
pub use services::{RedisServer, TcpProxy};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Which database the app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Spin's built-in SQLite (no configuration).
    Sqlite,
    /// The Postgres server on 127.0.0.1, in a schema of the test's own.
    Postgres,
}

impl Backend {
    /// Both backends, for tests that must hold on each.
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    /// Run `test` on both backends at once, each in a thread of its own: for
    /// the tests that must hold on each and spend their time waiting for a
    /// clock. A failure on either fails the test.
    pub fn each_at_once(test: impl Fn(Backend) + Sync) {
        std::thread::scope(|scope| {
            for backend in Backend::ALL {
                let test = &test;
                scope.spawn(move || test(backend));
            }
        });
    }
}

/// How to start the app.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database.
    pub backend: Backend,
    /// Spin variable overrides (like `--variable name=value`).
    pub variables: HashMap<String, String>,
    /// The manifest, if not the default one (see [`default_manifest`]).
    pub manifest: Option<PathBuf>,
    /// Spin's runtime configuration file (`--runtime-config-file`).
    pub runtime_config: Option<PathBuf>,
    /// The state directory (SQLite database, key-value store) of another
    /// running app, to run a second instance on the same stores.
    pub share_state_of: Option<PathBuf>,
}

impl Backend {
    /// The backend of tests that do not choose one: SQLite, or Postgres when
    /// `TROUPE_TEST_BACKEND=postgres` (the test command runs the suite both
    /// ways).
    pub fn from_env() -> Self {
        match std::env::var("TROUPE_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            backend: Backend::from_env(),
            variables: fast_hashing(),
            manifest: None,
            runtime_config: None,
            share_state_of: None,
        }
    }
}

impl Options {
    /// The defaults on `backend`.
    pub fn on(backend: Backend) -> Self {
        Self { backend, ..Self::default() }
    }

    /// Without the cheap argon2 settings: the production defaults.
    pub fn production_hashing(mut self) -> Self {
        self.variables.retain(|name, _| !name.starts_with("argon2_"));
        self
    }

    /// Serve the same stores as `app` (a second instance of the application).
    pub fn sharing(mut self, app: &TestApp) -> Self {
        self.share_state_of = Some(app.state_dir.clone());
        if let Some(url) = &app.database_url {
            self.variables.insert("database_url".into(), url.clone());
        }
        self
    }

    /// Serve with Spin's runtime configuration file `path`.
    pub fn runtime_config(mut self, path: &Path) -> Self {
        self.runtime_config = Some(path.to_owned());
        self
    }

    /// Send mail to `receiver`: its URL, origin and signing secret.
    pub fn mail_to(self, receiver: &MailReceiver) -> Self {
        self.var("email_hook_url", &receiver.url())
            .var("email_hook_origin", &receiver.origin())
            .var("email_hook_secret", mail::SECRET)
    }

    /// Set a variable.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.variables.insert(name.to_owned(), value.to_owned());
        self
    }
}

/// Cheap argon2 settings: the tests exercise behaviour, not cost (one test
/// checks the production defaults on their own). Registrations are not
/// limited per address, since every test client comes from 127.0.0.1 (the
/// tests of that limit turn it on).
fn fast_hashing() -> HashMap<String, String> {
    [("argon2_memory_kib", "256"), ("argon2_iterations", "1"), ("registration_max_per_address", "0")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The Postgres server the tests use (`TROUPE_TEST_POSTGRES_URL` overrides).
pub fn postgres_url() -> String {
    std::env::var("TROUPE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".to_owned())
}

/// The `host:port` of [`postgres_url`].
pub fn postgres_address() -> String {
    let url = postgres_url();
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
    authority.rsplit_once('@').map_or(authority, |(_, host)| host).to_owned()
}

/// A Postgres schema owned by one test, dropped with it.
pub struct Schema {
    name: String,
}

impl Schema {
    /// Create a fresh schema.
    pub fn create() -> Self {
        let name = format!("api_{}", uuid_like());
        let mut admin = postgres::Client::connect(&postgres_url(), postgres::NoTls).expect("postgres on 127.0.0.1");
        admin.batch_execute(&format!("CREATE SCHEMA {name}")).expect("create schema");
        Self { name }
    }

    /// The database URL whose `search_path` is this schema.
    pub fn url(&self) -> String {
        format!("{}&options=-csearch_path%3D{}", postgres_url(), self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        match postgres::Client::connect(&postgres_url(), postgres::NoTls) {
            Ok(mut admin) => {
                if let Err(e) = admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name)) {
                    eprintln!("could not drop schema {}: {e}", self.name);
                }
            }
            Err(e) => eprintln!("could not drop schema {}: {e}", self.name),
        }
    }
}

fn uuid_like() -> String {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(std::time::SystemTime::now());
    format!("{a:016x}")
}

/// A running app and an HTTP client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The app's state directory (`.spin` equivalent).
    pub state_dir: PathBuf,
    /// Where the components' output (stdout and stderr) is collected.
    pub log_file: PathBuf,
    /// The database URL when on Postgres.
    pub database_url: Option<String>,
    client: Client,
    // Dropped in this order: the server first, then its state.
    _host: Host,
    _state: tempfile::TempDir,
    _schema: Option<Schema>,
}

/// Start the app with the default options (SQLite, fast hashing).
pub fn spawn_app() -> TestApp {
    spawn_app_with(Options::default())
}

/// Start the app with `options`.
pub fn spawn_app_with(options: Options) -> TestApp {
    try_spawn_app(options).expect("the app starts")
}

/// Start the app, or say why it would not.
pub fn try_spawn_app(options: Options) -> anyhow::Result<TestApp> {
    let state = tempfile::tempdir()?;
    let shared = options.share_state_of.is_some();
    let mut variables = options.variables;
    // A second instance uses the first one's database, schema included, and
    // a test that names its own database keeps it.
    let schema = (options.backend == Backend::Postgres && !shared && !variables.contains_key("database_url"))
        .then(Schema::create);
    if let Some(schema) = &schema {
        variables.insert("database_url".into(), schema.url());
    }
    if options.backend == Backend::Postgres {
        // Where the database is, for `allowed_outbound_hosts` (a manifest
        // for a host without SQLite has no default for it).
        variables.entry("database_host".into()).or_insert_with(postgres_address);
    }
    let database_url = variables.get("database_url").filter(|url| url.starts_with("postgres")).cloned();
    let log_file = state.path().join("components.log");
    let state_dir = options.share_state_of.unwrap_or_else(|| state.path().join(".spin"));
    let manifest = options.manifest.unwrap_or_else(default_manifest);
    let host = Host::start(&manifest, options.runtime_config.as_deref(), &state_dir, &variables, &log_file)?;
    Ok(TestApp {
        base_url: host.base_url.clone(),
        state_dir,
        log_file,
        database_url,
        client: Client::builder().timeout(Duration::from_secs(60)).build()?,
        _host: host,
        _state: state,
        _schema: schema,
    })
}

/// The manifest of tests that do not name one: the repository's `spin.toml`,
/// or `$TROUPE_TEST_MANIFEST` (relative to the repository), so that the
/// suite runs against a deployment variant (deploy/fermyon-cloud,
/// deploy/akamai) too.
pub fn default_manifest() -> PathBuf {
    let manifest = std::env::var("TROUPE_TEST_MANIFEST").unwrap_or_else(|_| "spin.toml".to_owned());
    repo_root().join(manifest)
}

/// The troupe-host binary the tests run: `$TROUPE_HOST_BIN`, or the `host`
/// profile's build in the target directory (`$CARGO_TARGET_DIR` or
/// `target/`).
pub fn host_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TROUPE_HOST_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from);
    target.join("host").join("troupe-host")
}

/// A `troupe-host up` process. Dropping it stops the host with SIGTERM, as
/// a service manager would, so that it exits normally (and an instrumented
/// build writes its coverage), and kills it if it has not exited in 10 s.
#[derive(Debug)]
struct Host {
    base_url: String,
    child: Child,
}

impl Host {
    fn start(
        manifest: &Path,
        runtime_config: Option<&Path>,
        state_dir: &Path,
        variables: &HashMap<String, String>,
        log_file: &Path,
    ) -> anyhow::Result<Self> {
        let binary = host_binary();
        if !binary.exists() {
            bail!("{} is missing: build it with `cargo build --profile host -p troupe-host`", binary.display());
        }
        let stderr_file = log_file.with_extension("stderr");
        let mut command = Command::new(&binary);
        command
            .arg("up")
            .arg("--from")
            .arg(manifest)
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state_dir)
            .arg("--log-file")
            .arg(log_file)
            .args(runtime_config.map(|path| ["--runtime-config-file".as_ref(), path.as_os_str()]).into_iter().flatten())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Everything it logs is in `log_file` too; its own errors
            // (a manifest it refuses, say) are reported below.
            .stderr(std::fs::File::create(&stderr_file)?);
        // Only the variables given here apply, as with `spin up` in a clean
        // environment.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SPIN_VARIABLE_") {
                command.env_remove(name);
            }
        }
        for (name, value) in variables {
            command.arg("--variable").arg(format!("{name}={value}"));
        }
        let mut child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("the host's stdout")?;
        let (lines, received) = std::sync::mpsc::channel();
        // Read the address from the banner, then keep draining the pipe so
        // that the host never blocks writing to it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Serving ") {
                    let _receiver_gone = lines.send(url.trim().to_owned());
                }
            }
        });
        let mut host = Host { base_url: String::new(), child };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(url) = received.recv_timeout(Duration::from_millis(50)) {
                host.base_url = url;
                return Ok(host);
            }
            if let Some(status) = host.child.try_wait()? {
                let errors = std::fs::read_to_string(&stderr_file).unwrap_or_default();
                bail!("troupe-host exited with {status} before serving:\n{errors}");
            }
            if Instant::now() > deadline {
                bail!("troupe-host did not start serving within 120 s");
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let terminated = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        if terminated.is_ok_and(|status| status.success()) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _already_gone = self.child.kill();
        let _reaped = self.child.wait();
    }
}

/// A response, read eagerly so that tests can assert on it freely.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub text: String,
}

impl Reply {
    fn read(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().expect("a readable body");
        Self { status, headers, text }
    }

    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        self
    }

    /// Assert a problem answer (RFC 9457) with `status`; returns its JSON.
    #[track_caller]
    pub fn problem(self, status: u16) -> Value {
        let reply = self.expect(status);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{}", reply.text);
        let json = reply.json();
        assert_eq!(json["status"], status);
        json
    }
}

/// A signed-in user: their id, tokens and password.
#[derive(Debug, Clone)]
pub struct Account {
    /// User id.
    pub id: String,
    /// Email as registered.
    pub email: String,
    /// Password.
    pub password: String,
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
}

impl TestApp {
    /// The same app, its client giving up on an answer after `timeout`
    /// (60 s otherwise): for the tests that an answer comes, in time.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.client = Client::builder().timeout(timeout).build().expect("an HTTP client");
        self
    }

    /// A request to `path` (relative to the base URL).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base_url))
    }

    /// Send a request and read the reply.
    pub fn send(&self, request: RequestBuilder) -> Reply {
        Reply::read(request.send().expect("the app answers"))
    }

    /// `GET path`, optionally with a Bearer token.
    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.request(Method::GET, path);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request)
    }

    /// A JSON request with an optional Bearer token.
    pub fn json(&self, method: Method, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut request = self.request(method, path).header(CONTENT_TYPE, "application/json").body(body.to_string());
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.json(Method::POST, path, None, body)
    }

    /// Register an account and return it signed in.
    pub fn register(&self, email: &str) -> Account {
        let password = "correct horse battery staple";
        let reply = self
            .post("/api/v1/auth/register", &json!({"email": email, "password": password, "name": "Test User"}))
            .expect(201);
        let json = reply.json();
        Account {
            id: json["user"]["id"].as_str().expect("id").to_owned(),
            email: email.to_owned(),
            password: password.to_owned(),
            access: json["access_token"].as_str().expect("access").to_owned(),
            refresh: json["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    /// Everything the components wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// A JSON request with extra header lines (each appended, so a name may
    /// repeat) and an optional Bearer token.
    pub fn json_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.request(method, path).header(CONTENT_TYPE, "application/json").body(body.to_string());
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request)
    }

    /// Open the app's key-value store directly (Spin's SQLite layout: one
    /// `spin_key_value` table), to check or tamper with what is stored.
    pub fn key_value(&self) -> Box<dyn troupe_store::Database> {
        let url = format!("sqlite:{}", self.state_dir.join("sqlite_key_value.db").display());
        troupe_store_native::open(&url).expect("the app's key-value store opens")
    }

    /// The keys of the `default` key-value store that start with `prefix`.
    pub fn kv_keys(&self, prefix: &str) -> Vec<String> {
        let rows = self
            .key_value()
            .query(
                "SELECT key FROM spin_key_value WHERE store = 'default' AND substr(key, 1, length($1)) = $1",
                &[prefix.into()],
            )
            .expect("key-value keys");
        rows.iter().map(|row| row.get::<String>("key").expect("key")).collect()
    }

    /// How many rows `table` holds in the app's database.
    pub fn count(&self, table: &str) -> i64 {
        let rows = self.database().query(&format!("SELECT COUNT(*) AS n FROM {table}"), &[]).expect("count");
        rows.first().expect("a row").get::<i64>("n").expect("n")
    }

    /// Open the app's database directly, to check what is stored.
    pub fn database(&self) -> Box<dyn troupe_store::Database> {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", self.state_dir.join("sqlite_db.db").display()),
        };
        troupe_store_native::open(&url).expect("the app's database opens")
    }
}
