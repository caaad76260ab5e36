//! One handler per operation.

use http::{header, HeaderName, StatusCode};
use serde::{Deserialize, Serialize};
use troupe_auth::{
    client_address, Decision, DisplayName, Email, Password, PasswordHasher, Policy, RefreshToken, Role, Sealer,
    User, Verification, Window,
};
use troupe_spin::edge::{json_body, json_response, Exchange, Fields, Problem, Response, Router};
use troupe_spin::store::{transaction, Database, DbError, KeyValue};
use troupe_tokens::{AccessClaims, Expectations};

use crate::store::{self, Client, NewAccount};
use crate::Auth;

type Ex<'a> = Exchange<'a, Auth>;

/// Every route of the component.
pub fn router() -> Router<Auth> {
    Router::new()
        .post("/api/v1/auth/register", register)
        .post("/api/v1/auth/login", login)
        .post("/api/v1/auth/refresh", refresh)
        .post("/api/v1/auth/logout", logout)
        .get("/api/v1/auth/me", me)
        .post("/api/v1/auth/password", change_password)
        .get("/api/v1/auth/sessions", list_sessions)
        .delete("/api/v1/auth/sessions/:id", delete_session)
        .get("/api/v1/auth/.well-known/jwks.json", jwks)
        .get("/.well-known/jwks.json", jwks)
        .post("/internal/users", crate::internal::create_user)
        .patch("/internal/users/:id", crate::internal::update_user)
        .delete("/internal/users/:id", crate::internal::delete_user)
}

/// Key-value prefix (owned by `auth`) of revoked sessions, which `users`
/// consults on every request: `auth:revoked-session:<session id>`.
pub const REVOKED_SESSION: &str = "auth:revoked-session:";

/// An access token and a refresh token, as answered to clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenPair {
    access_token: String,
    refresh_token: String,
    token_type: String,
    expires_in: i64,
}

#[derive(Serialize)]
struct SignedIn<'a> {
    user: &'a User,
    #[serde(flatten)]
    tokens: &'a TokenPair,
}

fn now_ms() -> i64 {
    troupe_spin::now_ms()
}

pub(crate) fn hasher(auth: &Auth) -> Result<PasswordHasher, Problem> {
    PasswordHasher::new(auth.settings().hash).map_err(|e| Problem::internal(format!("argon2 settings: {e}")))
}

/// Read a required text field and validate it with `parse`.
pub(crate) fn field<T>(fields: &mut Fields, name: &str, parse: impl FnOnce(&str) -> Result<T, troupe_auth::FieldError>) -> Option<T> {
    let raw: Option<String> = fields.required(name);
    fields.check(name, raw, |raw| parse(&raw).map_err(|e| e.0))
}

/// `Some` for every field once `finish` succeeded; `None` is a bug.
pub(crate) fn validated<T>(value: Option<T>) -> Result<T, Problem> {
    value.ok_or_else(|| Problem::internal("a validated field is missing"))
}

fn client(ex: &Ex<'_>) -> Client {
    let settings = ex.state.settings();
    let address = client_address(ex.header("spin-client-addr"), ex.header("x-forwarded-for"), &settings.trusted_proxies);
    Client {
        user_agent: ex.header(header::USER_AGENT).map(|ua| ua.chars().take(256).collect()),
        address: address.map(|ip| ip.to_string()),
    }
}

/// Mint an access token for a session.
fn access_token(auth: &Auth, user_id: &str, role: &str, session_id: &str, now_ms: i64) -> Result<String, Problem> {
    let settings = auth.settings();
    let now = now_ms / 1000;
    let claims = AccessClaims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: user_id.to_owned(),
        iat: now,
        nbf: now,
        exp: now + settings.access_ttl_secs,
        jti: troupe_spin::new_id(),
        sid: session_id.to_owned(),
        role: role.to_owned(),
    };
    auth.keys()?.signing.sign(&claims).map_err(Problem::internal)
}

fn pair(auth: &Auth, access_token: String, refresh: &RefreshToken) -> TokenPair {
    TokenPair {
        access_token,
        refresh_token: refresh.expose().to_owned(),
        token_type: "Bearer".into(),
        expires_in: auth.settings().access_ttl_secs,
    }
}

/// Open a session for `user` (inside the caller's transaction).
fn open_session(auth: &Auth, db: &dyn Database, user: &User, client: &Client, now_ms: i64) -> Result<TokenPair, Problem> {
    let session_id = troupe_spin::new_id();
    let refresh = RefreshToken::generate();
    let expires = now_ms + auth.settings().refresh_ttl_secs * 1000;
    store::insert_session(db, &session_id, &user.id, client, &refresh.digest(), now_ms, expires)?;
    let access = access_token(auth, &user.id, user.role.as_str(), &session_id, now_ms)?;
    Ok(pair(auth, access, &refresh))
}

/// Record revocations where `users` looks for them. Revocation is committed
/// in the database first; if this fails the caller answers 503, and a retry
/// (logout is idempotent) records it again.
pub(crate) fn publish_revocations(auth: &Auth, session_ids: &[String]) -> Result<(), Problem> {
    let kv = auth.kv()?;
    let revoked_at = now_ms().to_string();
    for id in session_ids {
        kv.set(&format!("{REVOKED_SESSION}{id}"), revoked_at.as_bytes())?;
    }
    Ok(())
}

/// The caller's verified access token, from an unrevoked, unexpired session.
fn authenticate(ex: &Ex<'_>) -> Result<AccessClaims, Problem> {
    let auth = ex.state;
    let settings = auth.settings();
    let expect = Expectations {
        issuer: settings.issuer.clone(),
        audience: settings.audience.clone(),
        now: now_ms() / 1000,
        leeway: 30,
    };
    let claims = troupe_tokens::verify(ex.header(header::AUTHORIZATION), &auth.keys()?.set, &expect)
        .map_err(|e| Problem::unauthorized(e.to_string()))?;
    let session = store::session(auth.db()?, &claims.sid)?;
    match session {
        Some(s) if !s.revoked && s.expires_ms > now_ms() && s.user_id == claims.sub => {
            ex.set_user(&claims.sub);
            Ok(claims)
        }
        _ => Err(Problem::unauthorized("the session has ended")),
    }
}

fn map_conflict(error: DbError) -> Problem {
    match error {
        DbError::Conflict(_) => Problem::conflict("an account with this email already exists"),
        other => Problem::from(other),
    }
}

/// `POST /register {email, password, name}` → 201 with the user and a token pair.
fn register(ex: &Ex<'_>) -> Result<Response, Problem> {
    let mut fields = json_body(ex.request, &[])?;
    let email = field(&mut fields, "email", Email::parse);
    let password = field(&mut fields, "password", Password::parse);
    let name = field(&mut fields, "name", DisplayName::parse);
    fields.finish()?;
    let (email, password, name) = (validated(email)?, validated(password)?, validated(name)?);

    let auth = ex.state;
    let role = match &auth.settings().bootstrap_admin {
        Some(admin) if *admin == email.key() => Role::Admin,
        _ => Role::User,
    };
    // Hash before the transaction: it takes tens of milliseconds.
    let hash = hasher(auth)?.hash(password.expose());
    let client = client(ex);
    let now = now_ms();
    let id = troupe_spin::new_id();
    let db = auth.db()?;
    let (user, tokens) = transaction(db, |tx| {
        let account = NewAccount { id: &id, email: &email, name: &name, role, password_hash: &hash, now_ms: now };
        let user = store::insert_account(tx, &account).map_err(map_conflict)?.user;
        let tokens = open_session(auth, tx, &user, &client, now)?;
        Ok::<_, Problem>((user, tokens))
    })?;
    ex.set_user(&user.id);
    let mut response = json_response(StatusCode::CREATED, &SignedIn { user: &user, tokens: &tokens })?;
    no_store(&mut response);
    Ok(response)
}

fn no_store(response: &mut Response) {
    response.headers_mut().insert(header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
}

/// Throttle state for one login attempt.
struct Throttle<'a> {
    kv: &'a dyn KeyValue,
    checks: [(String, Policy); 2],
}

const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

impl Throttle<'_> {
    fn window(&self, key: &str, policy: &Policy, now: i64) -> Window {
        let stored = match self.kv.get(key) {
            Ok(bytes) => bytes.and_then(|b| serde_json::from_slice(&b).ok()),
            Err(e) => {
                // Throttling fails open: a key-value outage must not lock
                // every user out. It is logged, and the source of truth
                // (the password) still decides.
                eprintln!("login throttle unavailable: {e}");
                None
            }
        };
        policy.current(stored, now)
    }

    /// 429 if any window is full.
    fn check(&self, now: i64) -> Result<(), Problem> {
        for (key, policy) in &self.checks {
            let window = self.window(key, policy, now);
            if let Decision::Blocked { retry_after_secs } = policy.check(&window, now) {
                return Err(Problem::new(StatusCode::TOO_MANY_REQUESTS)
                    .detail("too many failed sign-in attempts; try again later")
                    .header(header::RETRY_AFTER, retry_after_secs.to_string())
                    .header(RATE_LIMIT, policy.ratelimit_header(&window, now))
                    .header(RATE_LIMIT_POLICY, policy.policy_header()));
            }
        }
        Ok(())
    }

    fn record_failure(&self, now: i64) {
        for (key, policy) in &self.checks {
            let window = policy.record_failure(self.window(key, policy, now));
            let stored = serde_json::to_vec(&window).unwrap_or_default();
            if let Err(e) = self.kv.set(key, &stored) {
                eprintln!("could not record a failed login: {e}");
            }
        }
    }

    fn clear_account(&self) {
        if let Err(e) = self.kv.delete(&self.checks[0].0) {
            eprintln!("could not clear the login failures: {e}");
        }
    }
}

/// `POST /login {email, password}` → 200 with the user and a token pair.
fn login(ex: &Ex<'_>) -> Result<Response, Problem> {
    let mut fields = json_body(ex.request, &[])?;
    let email: Option<String> = fields.required("email");
    let password: Option<String> = fields.required("password");
    fields.finish()?;
    let (email, password) = (validated(email)?, validated(password)?);

    let auth = ex.state;
    let client = client(ex);
    let address = client.address.clone().unwrap_or_else(|| "unknown".into());
    let email_key = email.trim().to_lowercase();
    let account_key = RefreshToken::presented(&format!("{email_key}|{address}")).digest();
    let settings = auth.settings();
    let throttle = Throttle {
        kv: auth.kv()?,
        checks: [
            (format!("auth:login-failures:account:{account_key}"), settings.per_account),
            (format!("auth:login-failures:address:{address}"), settings.per_address),
        ],
    };
    let now = now_ms();
    throttle.check(now)?;

    let hasher = hasher(auth)?;
    let db = auth.db()?;
    // No stored email holds NUL (they are validated), and Postgres text
    // cannot: such an address names no account.
    let account = if email_key.contains('\0') { None } else { store::account_by_email(db, &email_key)? };
    let refused = || Problem::unauthorized("invalid email or password");
    let Some((record, stored_hash)) = account else {
        hasher.waste_time(&password);
        throttle.record_failure(now);
        return Err(refused());
    };
    match hasher.verify(&password, &stored_hash) {
        Verification::Mismatch => {
            throttle.record_failure(now);
            Err(refused())
        }
        Verification::Match { upgrade } => {
            throttle.clear_account();
            let user = record.user;
            let tokens = transaction(db, |tx| {
                if upgrade {
                    store::set_password_hash(tx, &user.id, &hasher.hash(&password), now)?;
                }
                open_session(auth, tx, &user, &client, now)
            })?;
            ex.set_user(&user.id);
            let mut response = json_response(StatusCode::OK, &SignedIn { user: &user, tokens: &tokens })?;
            no_store(&mut response);
            Ok(response)
        }
    }
}

/// What a refresh came to.
enum Refreshed {
    /// A new pair was minted.
    Rotated(TokenPair),
    /// The token was rotated moments ago: the pair that rotation minted.
    Replayed(TokenPair),
    /// A replaced token came back: the session is revoked.
    Reused(String),
    /// Unknown, expired, or its session ended.
    Refused,
}

/// `POST /refresh {refresh_token}` → 200 with a new pair.
fn refresh(ex: &Ex<'_>) -> Result<Response, Problem> {
    let mut fields = json_body(ex.request, &[])?;
    let presented: Option<String> = fields.required("refresh_token");
    fields.finish()?;
    let presented = RefreshToken::presented(&validated(presented)?);
    let digest = presented.digest();

    let auth = ex.state;
    let settings = auth.settings();
    let sealer = Sealer::new(auth.keys()?.signing.seed());
    let now = now_ms();
    let outcome = transaction(auth.db()?, |tx| {
        if let Some(session_id) = store::retire_refresh_token(tx, &digest, now)? {
            let session = store::session(tx, &session_id)?;
            let Some(session) = session.filter(|s| !s.revoked && s.expires_ms > now) else {
                return Ok(Refreshed::Refused);
            };
            let next = RefreshToken::generate();
            let expires = now + settings.refresh_ttl_secs * 1000;
            store::insert_refresh_token(tx, &next.digest(), &session.id, now, expires)?;
            let access = access_token(auth, &session.user_id, &session.role, &session.id, now)?;
            let tokens = pair(auth, access, &next);
            let sealed = sealer.seal(&session.id, &serde_json::to_vec(&tokens).map_err(Problem::internal)?);
            let grace_until = now + settings.refresh_grace_secs * 1000;
            store::record_rotation(tx, &session.id, &digest, sealed, now, grace_until, expires)?;
            ex.set_user(&session.user_id);
            return Ok(Refreshed::Rotated(tokens));
        }
        let Some(token) = store::presented_token(tx, &digest)? else {
            return Ok(Refreshed::Refused);
        };
        if token.session.revoked || !token.replaced {
            // Revoked session, or a current token that is past its expiry.
            return Ok(Refreshed::Refused);
        }
        let in_grace = token.grace_token.as_deref() == Some(digest.as_str())
            && token.grace_until_ms.is_some_and(|until| until > now);
        if in_grace {
            let replay = token
                .grace_pair
                .and_then(|sealed| sealer.open(&token.session.id, &sealed))
                .and_then(|json| serde_json::from_slice::<TokenPair>(&json).ok());
            if let Some(tokens) = replay {
                ex.set_user(&token.session.user_id);
                return Ok(Refreshed::Replayed(tokens));
            }
        }
        store::revoke_session(tx, &token.session.id, None, "refresh token reuse", now)?;
        Ok::<_, Problem>(Refreshed::Reused(token.session.id))
    })?;
    match outcome {
        Refreshed::Rotated(tokens) | Refreshed::Replayed(tokens) => {
            let mut response = json_response(StatusCode::OK, &tokens)?;
            no_store(&mut response);
            Ok(response)
        }
        Refreshed::Reused(session_id) => {
            eprintln!("refresh token reuse detected; session {session_id} revoked");
            publish_revocations(auth, &[session_id])?;
            Err(Problem::unauthorized("invalid refresh token"))
        }
        Refreshed::Refused => Err(Problem::unauthorized("invalid refresh token")),
    }
}

/// `POST /logout` with a Bearer access token or `{refresh_token}` → 204.
fn logout(ex: &Ex<'_>) -> Result<Response, Problem> {
    let auth = ex.state;
    let now = now_ms();
    let session_id = if ex.header(header::AUTHORIZATION).is_some() {
        authenticate(ex)?.sid
    } else {
        let mut fields = json_body(ex.request, &[])?;
        let presented: Option<String> = fields.required("refresh_token");
        fields.finish()?;
        let digest = RefreshToken::presented(&validated(presented)?).digest();
        match store::presented_token(auth.db()?, &digest)? {
            Some(token) if !token.session.revoked => token.session.id,
            _ => return Err(Problem::unauthorized("invalid refresh token")),
        }
    };
    store::revoke_session(auth.db()?, &session_id, None, "logout", now)?;
    publish_revocations(auth, &[session_id])?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(crate) fn empty(status: StatusCode) -> Response {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = status;
    response
}

/// `GET /me` → the caller.
fn me(ex: &Ex<'_>) -> Result<Response, Problem> {
    let claims = authenticate(ex)?;
    let account = store::account_by_id(ex.state.db()?, &claims.sub)?;
    let (record, _) = account.ok_or_else(|| Problem::unauthorized("the account no longer exists"))?;
    let mut response = json_response(StatusCode::OK, &record.user)?;
    no_store(&mut response);
    Ok(response)
}

/// `POST /password {current_password, new_password}` → 204; every other
/// session of the user is revoked.
fn change_password(ex: &Ex<'_>) -> Result<Response, Problem> {
    let claims = authenticate(ex)?;
    let mut fields = json_body(ex.request, &[])?;
    let current: Option<String> = fields.required("current_password");
    let next = field(&mut fields, "new_password", Password::parse);
    fields.finish()?;
    let (current, next) = (validated(current)?, validated(next)?);

    let auth = ex.state;
    let hasher = hasher(auth)?;
    let db = auth.db()?;
    let (_, stored) = store::account_by_id(db, &claims.sub)
        ?
        .ok_or_else(|| Problem::unauthorized("the account no longer exists"))?;
    if hasher.verify(&current, &stored) == Verification::Mismatch {
        return Err(Problem::forbidden("the current password is wrong"));
    }
    let hash = hasher.hash(next.expose());
    let now = now_ms();
    let revoked = transaction(db, |tx| {
        store::set_password_hash(tx, &claims.sub, &hash, now)?;
        store::revoke_user_sessions(tx, &claims.sub, Some(&claims.sid), "password changed", now)
    })
    ?;
    publish_revocations(auth, &revoked)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Serialize)]
struct SessionList {
    data: Vec<store::SessionView>,
}

/// `GET /sessions` → the caller's active sessions.
fn list_sessions(ex: &Ex<'_>) -> Result<Response, Problem> {
    let claims = authenticate(ex)?;
    let data = store::active_sessions(ex.state.db()?, &claims.sub, &claims.sid, now_ms())?;
    let mut response = json_response(StatusCode::OK, &SessionList { data })?;
    no_store(&mut response);
    Ok(response)
}

/// `DELETE /sessions/:id` → 204, for the caller's own sessions only (404
/// otherwise, so that other users' session ids cannot be probed).
fn delete_session(ex: &Ex<'_>) -> Result<Response, Problem> {
    let claims = authenticate(ex)?;
    let id = ex.param("id")?;
    let auth = ex.state;
    let revoked = store::revoke_session(auth.db()?, id, Some(&claims.sub), "signed out by the user", now_ms())
        ?;
    if !revoked {
        return Err(Problem::not_found("no such active session"));
    }
    publish_revocations(auth, &[id.to_owned()])?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `GET /.well-known/jwks.json` → the public keys (RFC 7517).
fn jwks(ex: &Ex<'_>) -> Result<Response, Problem> {
    let mut response = json_response(StatusCode::OK, &ex.state.keys()?.set.to_jwks())?;
    response.headers_mut().insert(header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}
