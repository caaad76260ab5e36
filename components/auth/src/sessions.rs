//! Sessions: `POST /refresh`, `POST /logout`, `GET /sessions`,
//! `DELETE /sessions/:id`.

use http::{header, StatusCode};
use serde::Serialize;
use serde_json::json;
use troupe_accounts::audit::EventType;
use troupe_accounts::refresh::{self, Decision, Family, Lookup};
use troupe_accounts::{RefreshToken, Sealer};
use troupe_edge::{json_body, json_response, Response};
use troupe_ids::{SessionId, UserId};
use troupe_store::transaction;

use crate::audit::{self, Event};
use crate::error::AuthError;
use crate::protect::{self, publish_revocations};
use crate::request::{authenticate, empty, now_ms, validated, Ex};
use crate::store;
use crate::tokens::{access_token, pair, Amr, SessionToken, TokenPair};
use crate::Auth;

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
pub(crate) fn refresh(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let mut fields = json_body(ex.request, &[])?;
    let presented: Option<String> = fields.required("refresh_token");
    fields.finish()?;
    let (lookup, digest) = refresh_token_of(presented)?;

    let auth = ex.state;
    let db = auth.db()?;
    let now = now_ms();
    for attempt in 0..2 {
        let Some(token) = store::presented_token(db, &lookup, &digest)? else {
            return Err(AuthError::InvalidRefreshToken);
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
                if let Some(tokens) = rotate(auth, session, &lookup, &digest, now)? {
                    ex.set_user(session.user_id.as_str());
                    return Ok(json_response(StatusCode::OK, &tokens)?);
                }
                // Changed under us: decide again on what the database says now.
            }
            // Rotated by someone else yet current again cannot happen; refuse
            // rather than loop.
            Decision::Rotate | Decision::Refuse => return Err(AuthError::InvalidRefreshToken),
            Decision::Replay => {
                let sealer = Sealer::new(auth.keys()?.signing.seed());
                let replay = token
                    .grace_pair
                    .and_then(|sealed| sealer.open(session.id.as_str(), &sealed))
                    .and_then(|json| serde_json::from_slice::<TokenPair>(&json).ok());
                if let Some(tokens) = replay {
                    ex.set_user(session.user_id.as_str());
                    return Ok(json_response(StatusCode::OK, &tokens)?);
                }
                // A pair that cannot be opened (the signing key changed) is
                // no proof of a lost answer: treat the token as reused.
                return revoke_reused(ex, session, now);
            }
            Decision::Reuse => return revoke_reused(ex, session, now),
        }
    }
    Err(AuthError::InvalidRefreshToken)
}

/// A validated body's `refresh_token`: where to find it, and its digest.
fn refresh_token_of(presented: Option<String>) -> Result<(Lookup, String), AuthError> {
    let token = RefreshToken::presented(&validated(presented)?);
    Ok((token.lookup(), token.digest()))
}

/// Mint, sign and seal the next pair of `session`, then swap it in for the
/// token `replaced` (found by `lookup`); `None` if that token is no longer
/// current. The next token is of the presented token's family, or of a new
/// one if that was a legacy token.
fn rotate(
    auth: &Auth,
    session: &store::SessionState,
    lookup: &Lookup,
    replaced: &str,
    now: i64,
) -> Result<Option<TokenPair>, AuthError> {
    let settings = auth.settings();
    let (family, legacy) = match lookup {
        Lookup::Session { family, .. } => (family.clone(), false),
        Lookup::Legacy => (Family::generate(), true),
    };
    let next = RefreshToken::issue(&session.id, &family);
    // Never past the session's absolute end.
    let expires_ms = (now + settings.refresh_ttl_secs() * 1000).min(session.ends_ms);
    let minted = SessionToken {
        user_id: &session.user_id,
        role: session.role,
        email_verified: session.email_verified,
        amr: Amr::parse(&session.amr),
        session_id: &session.id,
        ends_ms: session.ends_ms,
    };
    let tokens = pair(access_token(auth, &minted, now)?, &next);
    let sealer = Sealer::new(auth.keys()?.signing.seed());
    let sealed_pair = sealer.seal(session.id.as_str(), &serde_json::to_vec(&tokens).map_err(AuthError::internal)?);
    let rotation = store::Rotation {
        session_id: &session.id,
        replaced,
        next: &next.digest(),
        family_digest: &family.digest(),
        legacy,
        now_ms: now,
        expires_ms,
        sealed_pair,
        grace_until_ms: now + settings.refresh_grace_secs() * 1000,
    };
    Ok(store::rotate_refresh_token(auth.db()?, &rotation)?.then_some(tokens))
}

/// A replaced refresh token came back after its grace interval: revoke its
/// session. The client gets the same 401 as for any invalid token.
fn revoke_reused(ex: &Ex<'_>, session: &store::SessionState, now: i64) -> Result<Response, AuthError> {
    let (auth, session_id) = (ex.state, &session.id);
    transaction(auth.db()?, |tx| {
        store::revoke_session(tx, session_id, None, "refresh token reuse", now)?;
        let reused = Event::new(EventType::RefreshReused, None, Some(&session.user_id))
            .detail(json!({ "session_id": session_id }));
        audit::record(ex, tx, reused)?;
        // Reuse ends the session even when the key-value store fails: the
        // session row says revoked (refresh and auth's routes refuse it), and
        // `users` reads that row whenever it cannot read the store.
        if let Err(e) = publish_revocations(auth, tx, std::slice::from_ref(session_id), now) {
            troupe_spin_adapter::warn(
                "revocation",
                &format!("reuse revoked session {session_id} in the database only: {e}"),
            );
        }
        Ok::<_, AuthError>(())
    })?;
    troupe_spin_adapter::warn(
        "refresh-reuse",
        &format!("a replaced refresh token came back; session {session_id} revoked"),
    );
    Err(AuthError::InvalidRefreshToken)
}

/// `POST /logout` with a Bearer access token or `{refresh_token}` → 204.
pub(crate) fn logout(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let auth = ex.state;
    let now = now_ms();
    let (session_id, user_id): (SessionId, UserId) = if ex.header(header::AUTHORIZATION).is_some() {
        // A body, if any, must still be the documented one.
        if !ex.request.body().is_empty() {
            let mut fields = json_body(ex.request, &[])?;
            let _ignored: Option<String> = fields.optional("refresh_token");
            fields.finish()?;
        }
        let claims = authenticate(ex)?;
        (claims.sid, claims.sub)
    } else {
        let mut fields = json_body(ex.request, &[])?;
        let presented: Option<String> = fields.required("refresh_token");
        fields.finish()?;
        let (lookup, digest) = refresh_token_of(presented)?;
        match store::presented_token(auth.db()?, &lookup, &digest)? {
            Some(token) if !token.session.revoked => (token.session.id, token.session.user_id),
            _ => return Err(AuthError::InvalidRefreshToken),
        }
    };
    transaction(auth.db()?, |tx| {
        store::revoke_session(tx, &session_id, None, "logout", now)?;
        let signed_out = Event::own(EventType::SignOut, &user_id).detail(json!({ "session_id": session_id }));
        audit::record(ex, tx, signed_out)?;
        publish_revocations(auth, tx, std::slice::from_ref(&session_id), now)
    })?;
    protect::sweep(auth, now);
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Serialize)]
struct SessionList {
    data: Vec<store::SessionView>,
}

/// `GET /sessions` → the caller's active sessions.
pub(crate) fn list_sessions(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let claims = authenticate(ex)?;
    let data = store::active_sessions(ex.state.db()?, &claims.sub, &claims.sid, now_ms())?;
    Ok(json_response(StatusCode::OK, &SessionList { data })?)
}

/// `DELETE /sessions/:id` → 204, for the caller's own sessions only (404
/// otherwise, so that other users' session ids cannot be probed).
pub(crate) fn delete_session(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let claims = authenticate(ex)?;
    // Not an id: no such session either (the same 404, as for others' ids).
    let id = SessionId::parse(ex.param("id")?).map_err(|_| AuthError::NoSuchSession)?;
    let auth = ex.state;
    let now = now_ms();
    transaction(auth.db()?, |tx| {
        if !store::revoke_session(tx, &id, Some(&claims.sub), "signed out by the user", now)? {
            return Err(AuthError::NoSuchSession);
        }
        let revoked = Event::own(EventType::SessionRevoked, &claims.sub).detail(json!({ "session_id": id }));
        audit::record(ex, tx, revoked)?;
        publish_revocations(auth, tx, std::slice::from_ref(&id), now)
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}
