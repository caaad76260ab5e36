//! The storage port against real databases: SQLite files through rusqlite
//! and the Postgres server on 127.0.0.1 (`TROUPE_TEST_POSTGRES_URL` overrides
//! where it is).

use std::sync::{Arc, Barrier};

use troupe_store::{latest_version, migrate, schema_version, transaction, Database, DbError, Dialect, Value};
use troupe_store_native::{Postgres, Sqlite};

fn postgres_url() -> String {
    std::env::var("TROUPE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".to_owned())
}

/// A Postgres schema of its own for one test, dropped afterwards.
struct PgSchema {
    admin: Postgres,
    name: String,
}

impl PgSchema {
    fn new() -> Self {
        let admin = Postgres::connect(&postgres_url()).expect("postgres on 127.0.0.1 (see README)");
        let name = format!("store_test_{}", std::process::id()) + &format!("_{}", rand_suffix());
        admin.execute(&format!("CREATE SCHEMA {name}"), &[]).expect("create schema");
        Self { admin, name }
    }

    fn url(&self) -> String {
        format!("{}&options=-csearch_path%3D{}", postgres_url(), self.name)
    }

    fn connect(&self) -> Postgres {
        Postgres::connect(&self.url()).expect("connect to the test schema")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Err(e) = self.admin.execute(&format!("DROP SCHEMA {} CASCADE", self.name), &[]) {
            eprintln!("could not drop schema {}: {e}", self.name);
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) % 1_000_000_000
}

fn exercise_basics(db: &dyn Database) {
    migrate(db, 1).expect("migrate");
    db.execute(
        "INSERT INTO users (id, email, email_key, name, name_key, role, created_at, updated_at) \
         VALUES ($1, $2, lower($2), $3, lower($3), 'user', $4, $4)",
        &["u1".into(), "Ann@Example.com".into(), "Ann; DROP TABLE users; --".into(), 5i64.into()],
    )
    .expect("insert");
    // Placeholders bind by number, whatever their order in the statement.
    let rows = db
        .query(
            "SELECT name, email FROM users WHERE email_key = $2 AND id = $1",
            &["u1".into(), "ann@example.com".into()],
        )
        .expect("select");
    let row = rows.first().expect("one row");
    assert_eq!(row.get::<String>("name").expect("name"), "Ann; DROP TABLE users; --");
    assert_eq!(row.get::<String>("email").expect("email"), "Ann@Example.com");

    // A duplicate email, in any case, is a conflict.
    let duplicate = db.execute(
        "INSERT INTO users (id, email, email_key, name, name_key, role, created_at, updated_at) \
         VALUES ('u2', 'ANN@example.com', 'ann@example.com', 'x', 'x', 'user', 1, 1)",
        &[],
    );
    assert!(matches!(duplicate, Err(DbError::Conflict(_))), "{duplicate:?}");

    // A failed transaction leaves nothing behind.
    let failed: Result<(), DbError> = transaction(db, |tx| {
        tx.execute("UPDATE users SET name = 'changed' WHERE id = 'u1'", &[])?;
        tx.execute("INSERT INTO nowhere VALUES (1)", &[])
    });
    assert!(matches!(failed, Err(DbError::Schema(_))), "{failed:?}");
    let name = db.query("SELECT name FROM users WHERE id = 'u1'", &[]).expect("select");
    assert_eq!(name.first().expect("row").get::<String>("name").expect("name"), "Ann; DROP TABLE users; --");

    // RETURNING tells what a write touched.
    let touched = db
        .query("UPDATE users SET revision = revision + 1 WHERE id = $1 RETURNING revision", &["u1".into()])
        .expect("update");
    assert_eq!(touched.first().expect("row").get::<i64>("revision").expect("revision"), 2);
    let none = db.query("UPDATE users SET revision = 9 WHERE id = 'nobody' RETURNING id", &[]).expect("update");
    assert!(none.is_empty());

    // NULLs and bytes round-trip.
    db.execute(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, grace_pair) \
         VALUES ('s1', 'u1', 1, 1, 2, $1, $2)",
        &[Value::Null, Value::Blob(vec![0, 255, 7])],
    )
    .expect("insert session");
    let rows = db.query("SELECT user_agent, grace_pair FROM sessions", &[]).expect("select");
    let row = rows.first().expect("row");
    assert_eq!(row.get::<Option<String>>("user_agent").expect("ua"), None);
    assert_eq!(row.get::<Vec<u8>>("grace_pair").expect("blob"), vec![0, 255, 7]);
}

#[test]
fn sqlite_binds_parameters_classifies_errors_and_rolls_back() {
    let db = Sqlite::memory().expect("memory db");
    assert_eq!(db.dialect(), Dialect::Sqlite);
    exercise_basics(&db);
}

#[test]
fn postgres_binds_parameters_classifies_errors_and_rolls_back() {
    let schema = PgSchema::new();
    let db = schema.connect();
    assert_eq!(db.dialect(), Dialect::Postgres);
    exercise_basics(&db);
}

#[test]
fn migrating_twice_applies_each_migration_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Sqlite::open(&dir.path().join("db.sqlite")).expect("open");
    assert_eq!(schema_version(&db).expect("version"), None);
    let first = migrate(&db, 1).expect("first");
    assert_eq!(first.from, None);
    assert_eq!(first.to, latest_version());
    assert!(!first.applied.is_empty());
    let second = migrate(&db, 2).expect("second");
    assert!(second.applied.is_empty());
    assert_eq!(schema_version(&db).expect("version"), Some(latest_version()));
    let mode = db.query("PRAGMA journal_mode", &[]).expect("pragma");
    assert_eq!(mode.first().expect("row").get::<String>("journal_mode").expect("mode"), "wal");
}

/// Run `migrate` from `n` threads at once, each with its own connection, and
/// check that exactly one of them applied the migrations.
fn race<D: Database>(n: usize, connect: impl Fn() -> D + Send + Sync + 'static) {
    let connect = Arc::new(connect);
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (connect, barrier) = (Arc::clone(&connect), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let db = connect();
                barrier.wait();
                migrate(&db, 1).expect("migrate")
            })
        })
        .collect();
    let reports: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    let appliers = reports.iter().filter(|r| !r.applied.is_empty()).count();
    assert_eq!(appliers, 1, "{reports:?}");
    assert!(reports.iter().all(|r| r.to == latest_version()));
    let db = connect();
    let rows = db.query("SELECT COUNT(*) AS n FROM troupe_schema_migrations", &[]).expect("count");
    assert_eq!(
        rows.first().expect("row").get::<i64>("n").expect("n"),
        troupe_store::migrations::MIGRATIONS.len() as i64
    );
}

#[test]
fn concurrent_migrators_on_one_sqlite_file_apply_each_migration_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("race.sqlite");
    race(6, move || Sqlite::open(&path).expect("open"));
}

#[test]
fn concurrent_migrators_on_one_postgres_schema_apply_each_migration_once() {
    let schema = PgSchema::new();
    let url = schema.url();
    race(6, move || Postgres::connect(&url).expect("connect to the test schema"));
}

#[test]
fn open_picks_the_adapter_from_the_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = troupe_store_native::open(&format!("sqlite:{}", dir.path().join("x.db").display())).expect("sqlite");
    assert_eq!(sqlite.dialect(), Dialect::Sqlite);
    let pg = troupe_store_native::open(&postgres_url()).expect("postgres");
    assert_eq!(pg.dialect(), Dialect::Postgres);
    assert!(matches!(troupe_store_native::open("mysql://x"), Err(DbError::Unavailable(_))));
}

/// Migration 0008 only adds the family: a session's current legacy token
/// stays findable by its digest, through the index components older than it
/// use too.
fn upgrade_keeps_legacy_tokens_findable(db: &dyn Database) {
    use troupe_store::migrations::{apply, MIGRATIONS};
    let before = MIGRATIONS.iter().position(|m| m.version == 8).expect("migration 0008");
    apply(db, &MIGRATIONS[..before], 1).expect("migrate to 0007");
    db.execute(
        "INSERT INTO users (id, email, email_key, name, name_key, role, created_at, updated_at) \
         VALUES ('u1', 'a@example.com', 'a@example.com', 'A', 'a', 'user', 1, 1)",
        &[],
    )
    .expect("user");
    db.execute(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, ends_at, refresh_token_hash) \
         VALUES ('s1', 'u1', 1, 1, 2, 2, 'legacy-digest')",
        &[],
    )
    .expect("session");
    migrate(db, 2).expect("migrate to the latest");
    let legacy = "SELECT id, refresh_family_hash FROM sessions WHERE refresh_token_hash = $1";
    let rows = db.query(legacy, &["legacy-digest".into()]).expect("legacy lookup");
    let row = rows.first().expect("found");
    assert_eq!(row.get::<String>("id").expect("id"), "s1");
    assert_eq!(row.get::<Option<String>>("refresh_family_hash").expect("family"), None);
    if db.dialect() == Dialect::Sqlite {
        let plan = db.query(&format!("EXPLAIN QUERY PLAN {legacy}"), &["x".into()]).expect("plan");
        let detail: String = plan.first().expect("a step").get("detail").expect("detail");
        assert!(detail.contains("sessions_refresh_token"), "{detail}");
    }
}

#[test]
fn sqlite_upgrade_keeps_legacy_tokens_findable() {
    upgrade_keeps_legacy_tokens_findable(&Sqlite::memory().expect("memory db"));
}

#[test]
fn postgres_upgrade_keeps_legacy_tokens_findable() {
    let schema = PgSchema::new();
    upgrade_keeps_legacy_tokens_findable(&schema.connect());
}
