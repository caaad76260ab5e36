//! One handler per operation.

use http::{header, StatusCode};
use serde::{Deserialize, Serialize};
use troupe_auth::refresh::{self, Decision};
use troupe_auth::throttle::{password_counters, registration_counter};
use troupe_auth::{DisplayName, Email, Password, PasswordHasher, RefreshToken, Role, Sealer, User, Verification};
use troupe_spin::edge::client::address_bucket;
use troupe_spin::edge::{json_body, json_response, Exchange, Fields, Problem, Response, Router};
use troupe_spin::store::{transaction, Database, DbError};
use troupe_tokens::{AccessClaims, Expectations};

use crate::protect::{self, publish_revocations};
use crate::store::{self, Client, NewAccount, SessionTimes};
use crate::Auth;
use troupe_auth_contract::tokens::LEEWAY_SECS;

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
    PasswordHasher::new(auth.settings().hash()).map_err(|e| Problem::internal(format!("argon2 settings: {e}")))
}

/// Read a required text field and validate it with `parse`.
pub(crate) fn field<T>(
    fields: &mut Fields,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, troupe_auth::FieldError>,
) -> Option<T> {
    let raw: Option<String> = fields.required(name);
    fields.check(name, raw, |raw| parse(&raw).map_err(|e| e.0))
}

/// `Some` for every field once `finish` succeeded; `None` is a bug.
pub(crate) fn validated<T>(value: Option<T>) -> Result<T, Problem> {
    value.ok_or_else(|| Problem::internal("a validated field is missing"))
}

/// Who is calling, from where (the edge's one source of the address).
fn client(ex: &Ex<'_>) -> Client {
    Client {
        user_agent: ex.header(header::USER_AGENT).map(|ua| ua.chars().take(256).collect()),
        address: ex.client_addr().map(|ip| ip.to_string()),
    }
}

/// The unit per-address limits count the caller in (IPv6: its /64).
fn bucket(ex: &Ex<'_>) -> String {
    ex.client_addr().map_or_else(|| "unknown".to_owned(), address_bucket)
}

/// Mint an access token for a session; it never outlives the session.
fn access_token(auth: &Auth, session: &SessionToken<'_>, now_ms: i64) -> Result<(String, i64), Problem> {
    let settings = auth.settings();
    let now = now_ms / 1000;
    let exp = (now + settings.access_ttl_secs()).min(session.ends_ms / 1000).max(now);
    let claims = AccessClaims {
        iss: settings.issuer().to_owned(),
        aud: settings.audience().to_owned(),
        sub: session.user_id.to_owned(),
        iat: now,
        nbf: now,
        exp,
        jti: troupe_spin::new_id(),
        sid: session.session_id.to_owned(),
        role: session.role.to_owned(),
    };
    Ok((auth.signing_keys()?.signing.sign(&claims).map_err(Problem::internal)?, exp - now))
}

/// What an access token is minted for.
struct SessionToken<'a> {
    user_id: &'a str,
    role: &'a str,
    session_id: &'a str,
    ends_ms: i64,
}

fn pair(access: (String, i64), refresh: &RefreshToken) -> TokenPair {
    TokenPair {
        access_token: access.0,
        refresh_token: refresh.expose().to_owned(),
        token_type: "Bearer".into(),
        expires_in: access.1,
    }
}

/// Ready the keys for a sign-in before its transaction, so that the
/// key-value round trips of publishing them (and the development-key
/// reminder) happen outside the database's write lock.
fn ready_to_sign(auth: &Auth, now_ms: i64) -> Result<(), Problem> {
    let keys = auth.signing_keys()?;
    crate::keys::remind_development_key(keys, auth.kv()?, now_ms);
    Ok(())
}

/// Open a session for `user` (inside the caller's transaction, after
/// [`ready_to_sign`]). It ends `session_max_age_seconds` from now, however
/// often it is refreshed.
fn open_session(
    auth: &Auth,
    db: &dyn Database,
    user: &User,
    client: &Client,
    now_ms: i64,
) -> Result<TokenPair, Problem> {
    let settings = auth.settings();
    let session_id = troupe_spin::new_id();
    let refresh = RefreshToken::generate();
    let ends_ms = now_ms + settings.session_max_age_secs() * 1000;
    let times =
        SessionTimes { now_ms, expires_ms: (now_ms + settings.refresh_ttl_secs() * 1000).min(ends_ms), ends_ms };
    store::insert_session(db, &session_id, &user.id, client, &refresh.digest(), &times)?;
    let session = SessionToken { user_id: &user.id, role: user.role.as_str(), session_id: &session_id, ends_ms };
    Ok(pair(access_token(auth, &session, now_ms)?, &refresh))
}

/// The caller's access token, verified (signature, issuer, audience, times).
fn verified_claims(ex: &Ex<'_>) -> Result<AccessClaims, Problem> {
    let auth = ex.state;
    let settings = auth.settings();
    let expect = Expectations {
        issuer: settings.issuer().to_owned(),
        audience: settings.audience().to_owned(),
        now: now_ms() / 1000,
        leeway: LEEWAY_SECS,
    };
    troupe_tokens::verify(ex.header(header::AUTHORIZATION), &auth.keys()?.set, &expect)
        .map_err(|e| Problem::unauthorized(e.to_string()))
}

/// Admit `claims` if `session` (read for them) is theirs and still live.
fn admit_session(ex: &Ex<'_>, claims: &AccessClaims, session: Option<&store::SessionState>) -> Result<(), Problem> {
    match session {
        Some(s) if s.live(now_ms()) && s.user_id == claims.sub => ex.authenticated(&claims.sub),
        _ => Err(Problem::unauthorized("the session has ended")),
    }
}

/// The caller's verified access token, from an unrevoked, unexpired session.
fn authenticate(ex: &Ex<'_>) -> Result<AccessClaims, Problem> {
    let claims = verified_claims(ex)?;
    let session = store::session(ex.state.db()?, &claims.sid)?;
    admit_session(ex, &claims, session.as_ref())?;
    Ok(claims)
}

fn map_conflict(error: DbError) -> Problem {
    match error {
        DbError::Conflict(_) => Problem::conflict("an account with this email already exists"),
        other => Problem::from(other),
    }
}

/// `POST /register {email, password, name}` → 201 with the user and a token pair.
///
/// Limited per client address (each attempt costs an argon2id hash, and a
/// duplicate email's 409 tells that an account exists). The account named
/// by `bootstrap_admin_email` becomes an administrator only while no
/// administrator exists, decided in the insert's transaction.
fn register(ex: &Ex<'_>) -> Result<Response, Problem> {
    let mut fields = json_body(ex.request, &[])?;
    let email = field(&mut fields, "email", Email::parse);
    let password = field(&mut fields, "password", Password::parse);
    let name = field(&mut fields, "name", DisplayName::parse);
    fields.finish()?;
    let (email, password, name) = (validated(email)?, validated(password)?, validated(name)?);

    let auth = ex.state;
    let db = auth.db()?;
    let now = now_ms();
    let counter = registration_counter(&bucket(ex), auth.settings().registration());
    protect::admit(db, counter.as_slice(), now, "too many registrations from this address; try again later")?;
    let bootstrap = auth.settings().bootstrap_admin() == Some(email.key().as_str());
    // Hash before the transaction: it takes tens of milliseconds.
    let hash = hasher(auth)?.hash(password.expose());
    let client = client(ex);
    let id = troupe_spin::new_id();
    ready_to_sign(auth, now)?;
    let (user, tokens) = transaction(db, |tx| {
        let role = if bootstrap && !store::admin_exists(tx)? { Role::Admin } else { Role::User };
        let account = NewAccount { id: &id, email: &email, name: &name, role, password_hash: &hash, now_ms: now };
        let user = store::insert_account(tx, &account).map_err(map_conflict)?.user;
        let tokens = open_session(auth, tx, &user, &client, now)?;
        Ok::<_, Problem>((user, tokens))
    })?;
    ex.set_user(&user.id);
    protect::sweep(auth, now);
    json_response(StatusCode::CREATED, &SignedIn { user: &user, tokens: &tokens })
}

/// `POST /login {email, password}` → 200 with the user and a token pair.
///
/// The attempt is counted before the password is checked (see
/// [`protect::admit`]): per account and address, per account, per address.
fn login(ex: &Ex<'_>) -> Result<Response, Problem> {
    let mut fields = json_body(ex.request, &[])?;
    let email: Option<String> = fields.required("email");
    let password: Option<String> = fields.required("password");
    fields.finish()?;
    let (email, password) = (validated(email)?, validated(password)?);

    let auth = ex.state;
    let db = auth.db()?;
    let now = now_ms();
    let email_key = email.trim().to_lowercase();
    let counters = password_counters(&email_key, &bucket(ex), auth.settings().password());
    protect::admit(db, &counters, now, "too many failed sign-in attempts; try again later")?;
    let outcome = sign_in(ex, db, &email_key, &password, &counters, now);
    protect::sweep(auth, now);
    outcome
}

fn sign_in(
    ex: &Ex<'_>,
    db: &dyn Database,
    email_key: &str,
    password: &str,
    counters: &[troupe_auth::Counter],
    now: i64,
) -> Result<Response, Problem> {
    let auth = ex.state;
    let hasher = hasher(auth)?;
    // No stored email holds NUL (they are validated), and Postgres text
    // cannot: such an address names no account.
    let account = if email_key.contains('\0') { None } else { store::account_by_email(db, email_key)? };
    let refused = || Problem::unauthorized("invalid email or password");
    let Some((record, stored_hash)) = account else {
        hasher.waste_time(password);
        return Err(refused());
    };
    let Verification::Match { upgrade } = hasher.verify(password, &stored_hash) else {
        return Err(refused());
    };
    let client = client(ex);
    let user = record.user;
    // Everything slow happens before the transaction: a rehash takes tens of
    // milliseconds, and the keys may need key-value round trips.
    let rehashed = upgrade.then(|| hasher.hash(password));
    ready_to_sign(auth, now)?;
    let tokens = transaction(db, |tx| {
        protect::settle_success(tx, counters, now)?;
        if let Some(hash) = &rehashed {
            store::set_password_hash(tx, &user.id, hash, now)?;
        }
        open_session(auth, tx, &user, &client, now)
    })?;
    ex.set_user(&user.id);
    json_response(StatusCode::OK, &SignedIn { user: &user, tokens: &tokens })
}

/// `POST /refresh {refresh_token}` → 200 with a new pair.
///
/// The token and its session are read first, without a lock, and
/// [`refresh::decide`] says what presenting it comes to. A rotation signs and
/// seals the new pair before it writes, so the write itself is one
/// conditional `UPDATE` of the session's row (see
/// [`store::rotate_refresh_token`]); if a concurrent request changed the
/// token or its session in between, the write does nothing and the token is
/// read and decided once more (it is then replayed, reused or refused, never
/// rotated twice).
fn refresh(ex: &Ex<'_>) -> Result<Response, Problem> {
    let mut fields = json_body(ex.request, &[])?;
    let presented: Option<String> = fields.required("refresh_token");
    fields.finish()?;
    let digest = RefreshToken::presented(&validated(presented)?).digest();

    let auth = ex.state;
    let db = auth.db()?;
    let now = now_ms();
    let refused = || Problem::unauthorized("invalid refresh token");
    for attempt in 0..2 {
        let Some(token) = store::presented_token(db, &digest)? else {
            return Err(refused());
        };
        let state = refresh::Presented {
            replaced: token.replaced,
            session_revoked: token.session.revoked,
            session_expires_ms: token.session.expires_ms,
            session_ends_ms: token.session.ends_ms,
            in_grace: token.grace_token.as_deref() == Some(digest.as_str())
                && token.grace_until_ms.is_some_and(|until| until > now),
        };
        let session = &token.session;
        match refresh::decide(&state, now) {
            Decision::Rotate if attempt == 0 => {
                if let Some(tokens) = rotate(auth, session, &digest, now)? {
                    ex.set_user(&session.user_id);
                    return json_response(StatusCode::OK, &tokens);
                }
                // Changed under us: decide again on what the database says now.
            }
            // Rotated by someone else yet current again cannot happen; refuse
            // rather than loop.
            Decision::Rotate | Decision::Refuse => return Err(refused()),
            Decision::Replay => {
                let sealer = Sealer::new(auth.keys()?.signing.seed());
                let replay = token
                    .grace_pair
                    .and_then(|sealed| sealer.open(&session.id, &sealed))
                    .and_then(|json| serde_json::from_slice::<TokenPair>(&json).ok());
                if let Some(tokens) = replay {
                    ex.set_user(&session.user_id);
                    return json_response(StatusCode::OK, &tokens);
                }
                // A pair that cannot be opened (the signing key changed) is
                // no proof of a lost answer: treat the token as reused.
                return revoke_reused(auth, &session.id, now);
            }
            Decision::Reuse => return revoke_reused(auth, &session.id, now),
        }
    }
    Err(refused())
}

/// Mint, sign and seal the next pair of `session`, then swap it in for the
/// token `replaced`; `None` if that token is no longer current.
fn rotate(auth: &Auth, session: &store::SessionState, replaced: &str, now: i64) -> Result<Option<TokenPair>, Problem> {
    let settings = auth.settings();
    let next = RefreshToken::generate();
    // Never past the session's absolute end.
    let expires_ms = (now + settings.refresh_ttl_secs() * 1000).min(session.ends_ms);
    let minted = SessionToken {
        user_id: &session.user_id,
        role: &session.role,
        session_id: &session.id,
        ends_ms: session.ends_ms,
    };
    let tokens = pair(access_token(auth, &minted, now)?, &next);
    let sealer = Sealer::new(auth.keys()?.signing.seed());
    let sealed_pair = sealer.seal(&session.id, &serde_json::to_vec(&tokens).map_err(Problem::internal)?);
    let rotation = store::Rotation {
        session_id: &session.id,
        replaced,
        next: &next.digest(),
        now_ms: now,
        expires_ms,
        sealed_pair,
        grace_until_ms: now + settings.refresh_grace_secs() * 1000,
    };
    Ok(store::rotate_refresh_token(auth.db()?, &rotation)?.then_some(tokens))
}

/// A replaced refresh token came back after its grace interval: revoke its
/// session. The client gets the same 401 as for any invalid token.
fn revoke_reused(auth: &Auth, session_id: &str, now: i64) -> Result<Response, Problem> {
    transaction(auth.db()?, |tx| {
        store::revoke_session(tx, session_id, None, "refresh token reuse", now)?;
        // Reuse ends the session even when the key-value store fails: the
        // session row says revoked (refresh and auth's routes refuse it), and
        // `users` reads that row whenever it cannot read the store.
        let ids = [session_id.to_owned()];
        if let Err(problem) = publish_revocations(auth, tx, &ids, now) {
            troupe_spin::warn(
                "revocation",
                &format!("reuse revoked session {session_id} in the database only: {:?}", problem.cause()),
            );
        }
        Ok::<_, Problem>(())
    })?;
    troupe_spin::warn("refresh-reuse", &format!("a replaced refresh token came back; session {session_id} revoked"));
    Err(Problem::unauthorized("invalid refresh token"))
}

/// `POST /logout` with a Bearer access token or `{refresh_token}` → 204.
fn logout(ex: &Ex<'_>) -> Result<Response, Problem> {
    let auth = ex.state;
    let now = now_ms();
    let session_id = if ex.header(header::AUTHORIZATION).is_some() {
        // A body, if any, must still be the documented one.
        if !ex.request.body().is_empty() {
            let mut fields = json_body(ex.request, &[])?;
            let _ignored: Option<String> = fields.optional("refresh_token");
            fields.finish()?;
        }
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
    transaction(auth.db()?, |tx| {
        store::revoke_session(tx, &session_id, None, "logout", now)?;
        publish_revocations(auth, tx, std::slice::from_ref(&session_id), now)
    })?;
    protect::sweep(auth, now);
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(crate) fn empty(status: StatusCode) -> Response {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = status;
    response
}

/// `GET /me` → the caller.
///
/// One query reads the session and its user (a deleted user's sessions go
/// with it, so a live session always has one).
fn me(ex: &Ex<'_>) -> Result<Response, Problem> {
    let claims = verified_claims(ex)?;
    let found = store::session_with_user(ex.state.db()?, &claims.sid)?;
    admit_session(ex, &claims, found.as_ref().map(|(session, _)| session))?;
    let (_, record) = found.ok_or_else(|| Problem::internal("an admitted session has no user"))?;
    json_response(StatusCode::OK, &record.user)
}

/// `POST /password {current_password, new_password}` → 204; every other
/// session of the user is revoked. The current password is checked under
/// the sign-in throttles: a wrong one counts as a failed sign-in for the
/// account and the address.
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
    let (record, stored) =
        store::account_by_id(db, &claims.sub)?.ok_or_else(|| Problem::unauthorized("the account no longer exists"))?;
    let now = now_ms();
    let counters = password_counters(&record.user.email.to_lowercase(), &bucket(ex), auth.settings().password());
    protect::admit(db, &counters, now, "too many failed password checks; try again later")?;
    if hasher.verify(&current, &stored) == Verification::Mismatch {
        protect::sweep(auth, now);
        return Err(Problem::forbidden("the current password is wrong"));
    }
    let hash = hasher.hash(next.expose());
    transaction(db, |tx| {
        protect::settle_success(tx, &counters, now)?;
        store::set_password_hash(tx, &claims.sub, &hash, now)?;
        let revoked = store::revoke_user_sessions(tx, &claims.sub, Some(&claims.sid), "password changed", now)?;
        publish_revocations(auth, tx, &revoked, now)
    })?;
    protect::sweep(auth, now);
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
    json_response(StatusCode::OK, &SessionList { data })
}

/// `DELETE /sessions/:id` → 204, for the caller's own sessions only (404
/// otherwise, so that other users' session ids cannot be probed).
fn delete_session(ex: &Ex<'_>) -> Result<Response, Problem> {
    let claims = authenticate(ex)?;
    let id = ex.param("id")?;
    let auth = ex.state;
    let now = now_ms();
    transaction(auth.db()?, |tx| {
        if !store::revoke_session(tx, id, Some(&claims.sub), "signed out by the user", now)? {
            return Err(Problem::not_found("no such active session"));
        }
        publish_revocations(auth, tx, &[id.to_owned()], now)
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `GET /.well-known/jwks.json` → the public keys (RFC 7517).
fn jwks(ex: &Ex<'_>) -> Result<Response, Problem> {
    let mut response = json_response(StatusCode::OK, &ex.state.keys()?.set.to_jwks())?;
    response.headers_mut().insert(header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}
