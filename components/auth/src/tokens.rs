//! The token pair a sign-in or a refresh answers: a signed access token and a
//! refresh token, and the session a sign-in opens.

use serde::{Deserialize, Serialize};
use troupe_accounts::refresh::Family;
use troupe_accounts::{RefreshToken, User};
use troupe_ids::{Role, SessionId, UserId};
use troupe_store::Database;
use troupe_tokens::AccessClaims;

use crate::error::AuthError;
use crate::store::{self, Client, FirstToken, SessionTimes};
use crate::Auth;

/// An access token and a refresh token, as answered to clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TokenPair {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) token_type: String,
    pub(crate) expires_in: i64,
}

/// How a session was signed in: its access tokens' `amr` claim (RFC 8176).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Amr {
    /// A password.
    Password,
    /// A password, then a TOTP code or a recovery code.
    PasswordAndOtp,
}

impl Amr {
    /// As stored in `sessions.amr`.
    pub(crate) fn stored(self) -> &'static str {
        match self {
            Amr::Password => "pwd",
            Amr::PasswordAndOtp => "pwd otp",
        }
    }

    /// What `sessions.amr` holds (anything unknown: a password only).
    pub(crate) fn parse(stored: &str) -> Self {
        if stored == Amr::PasswordAndOtp.stored() {
            Amr::PasswordAndOtp
        } else {
            Amr::Password
        }
    }

    fn claim(self) -> Vec<String> {
        self.stored().split(' ').map(str::to_owned).collect()
    }
}

/// What an access token is minted for.
pub(crate) struct SessionToken<'a> {
    pub(crate) user_id: &'a UserId,
    pub(crate) role: Role,
    pub(crate) email_verified: bool,
    pub(crate) amr: Amr,
    pub(crate) session_id: &'a SessionId,
    pub(crate) ends_ms: i64,
}

/// Mint an access token for a session; it never outlives the session.
pub(crate) fn access_token(auth: &Auth, session: &SessionToken<'_>, now_ms: i64) -> Result<(String, i64), AuthError> {
    let settings = auth.settings();
    let now = now_ms / 1000;
    let exp = (now + settings.access_ttl_secs()).min(session.ends_ms / 1000).max(now);
    let claims = AccessClaims {
        iss: settings.issuer().to_owned(),
        aud: settings.audience().to_owned(),
        sub: session.user_id.clone(),
        iat: now,
        nbf: now,
        exp,
        jti: troupe_spin_adapter::new_id(),
        sid: session.session_id.clone(),
        role: session.role,
        email_verified: session.email_verified,
        amr: session.amr.claim(),
    };
    Ok((auth.keys()?.signing.sign(&claims).map_err(AuthError::internal)?, exp - now))
}

pub(crate) fn pair(access: (String, i64), refresh: &RefreshToken) -> TokenPair {
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
pub(crate) fn ready_to_sign(auth: &Auth, now_ms: i64) -> Result<(), AuthError> {
    let keys = auth.published_keys()?;
    crate::keys::remind_development_key(keys, auth.kv()?, now_ms);
    Ok(())
}

/// Open a session for `user`, signed in by `amr` (inside the caller's
/// transaction, after [`ready_to_sign`]). It ends `session_max_age_seconds`
/// from now, however often it is refreshed.
pub(crate) fn open_session(
    auth: &Auth,
    db: &dyn Database,
    user: &User,
    client: &Client,
    amr: Amr,
    now_ms: i64,
) -> Result<TokenPair, AuthError> {
    let settings = auth.settings();
    let session_id = SessionId::generate();
    let family = Family::generate();
    let refresh = RefreshToken::issue(&session_id, &family);
    let first = FirstToken { digest: refresh.digest(), family_digest: family.digest() };
    let ends_ms = now_ms + settings.session_max_age_secs() * 1000;
    let times =
        SessionTimes { now_ms, expires_ms: (now_ms + settings.refresh_ttl_secs() * 1000).min(ends_ms), ends_ms };
    store::insert_session(db, &session_id, &user.id, client, &first, &times, amr.stored())?;
    let session = SessionToken {
        user_id: &user.id,
        role: user.role,
        email_verified: user.email_verified,
        amr,
        session_id: &session_id,
        ends_ms,
    };
    Ok(pair(access_token(auth, &session, now_ms)?, &refresh))
}
