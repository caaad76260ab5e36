//! The TOTP second factor (RFC 6238): `GET /mfa`, `POST /mfa/totp`
//! (enroll), `POST /mfa/totp/confirm`, `POST /mfa/totp/disable`,
//! `POST /login/mfa` (the second step of a sign-in), and
//! `DELETE /users/:id/mfa` (an administrator resets a user's factors).
//!
//! The secret is stored sealed (ChaCha20-Poly1305, bound to the account)
//! under `mfa_encryption_key`; recovery codes only as digests. A code is
//! accepted once: the account keeps the time step of the last code it
//! accepted, and a code is taken only for a later step, by one conditional
//! `UPDATE` (two requests with the same code: one wins). Codes and recovery
//! codes count against the sign-in throttles, as passwords do.

use http::StatusCode;
use serde::Serialize;
use serde_json::json;
use troupe_accounts::audit::EventType;
use troupe_accounts::throttle::password_counters;
use troupe_accounts::totp::{recovery_code_digest, recovery_codes, TotpSecret};
use troupe_accounts::{Counter, OpaqueToken, Sealer, User};
use troupe_edge::{json_body, json_response, Response};
use troupe_ids::{Role, UserId};
use troupe_store::{transaction, Database};

use crate::audit::{self, Event};
use crate::error::AuthError;
use crate::protect::{self, publish_revocations};
use crate::request::{
    authenticate, authenticate_session, bucket, check_password, client, empty, now_ms, sole_field, validated, Ex,
};
use crate::store;
use crate::tokens::{open_session, ready_to_sign, Amr};
use crate::Auth;

/// How long the second step of a sign-in may wait for its code.
const CHALLENGE_TTL_SECS: i64 = 300;

/// The secret's sealing key: `mfa_encryption_key`, or in development a key
/// `auth` generated once (see [`crate::keys::mfa_key`]).
fn sealer(auth: &Auth) -> Result<Sealer, AuthError> {
    let key = crate::keys::mfa_key(auth, now_ms())?;
    Ok(Sealer::for_purpose("troupe/totp-secret/v1", &key))
}

fn seal(auth: &Auth, user: &UserId, secret: &TotpSecret) -> Result<Vec<u8>, AuthError> {
    Ok(sealer(auth)?.seal(user.as_str(), secret.bytes()))
}

/// The account's secret, confirmed or not.
fn secret_of(auth: &Auth, factor: &store::TotpFactor) -> Result<TotpSecret, AuthError> {
    sealer(auth)?
        .open(factor.user_id.as_str(), &factor.sealed_secret)
        .and_then(|bytes| TotpSecret::from_bytes(&bytes))
        .ok_or_else(|| AuthError::internal("a TOTP secret cannot be opened: was mfa_encryption_key changed?"))
}

/// Take `code` for the account's factor if it is its code for a time step
/// later than the last one taken (inside a transaction).
fn take_code(auth: &Auth, tx: &dyn Database, factor: &store::TotpFactor, code: &str) -> Result<bool, AuthError> {
    let secret = secret_of(auth, factor)?;
    let Some(step) = secret.matching_step(code, now_ms() / 1000) else { return Ok(false) };
    Ok(store::take_totp_step(tx, &factor.user_id, step)?)
}

/// The throttle counters of `user`'s second-factor checks: the sign-in ones.
fn counters(ex: &Ex<'_>, user: &User) -> Vec<Counter> {
    password_counters(&user.email.to_lowercase(), &bucket(ex), ex.state.settings().password())
}

#[derive(Serialize)]
struct Status {
    totp: bool,
    recovery_codes_left: usize,
}

/// `GET /mfa` → whether TOTP is on, and how many recovery codes are left.
pub(crate) fn status(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let claims = authenticate(ex)?;
    let db = ex.state.db()?;
    let totp = store::totp_factor(db, &claims.sub)?.is_some_and(|factor| factor.confirmed);
    let recovery_codes_left = if totp { store::recovery_codes_left(db, &claims.sub)? } else { 0 };
    Ok(json_response(StatusCode::OK, &Status { totp, recovery_codes_left })?)
}

#[derive(Serialize)]
struct Enrollment {
    secret: String,
    otpauth_uri: String,
}

/// `POST /mfa/totp {password}` → 201 `{secret, otpauth_uri}`: a new secret,
/// not yet in force until `POST /mfa/totp/confirm` proves the app has it
/// (an earlier unconfirmed one is replaced); 409 when TOTP is on already.
pub(crate) fn enroll(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let claims = authenticate(ex)?;
    let password = sole_field(ex, "password")?;
    let auth = ex.state;
    let db = auth.db()?;
    let (record, stored) = store::account_by_id(db, &claims.sub)?.ok_or(AuthError::AccountGone)?;
    check_password(ex, &record.user, &password, &stored)?;
    let secret = TotpSecret::generate();
    let sealed = seal(auth, &claims.sub, &secret)?;
    // The write decides, so that a confirmation racing this request never
    // leaves it answering a secret that was not stored.
    if !store::start_totp(db, &claims.sub, &sealed, now_ms())? {
        return Err(AuthError::MfaAlreadyOn);
    }
    let enrollment = Enrollment {
        secret: secret.base32(),
        otpauth_uri: secret.otpauth_uri(auth.settings().issuer(), &record.user.email),
    };
    Ok(json_response(StatusCode::CREATED, &enrollment)?)
}

#[derive(Serialize)]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// `POST /mfa/totp/confirm {code}` → 200 `{recovery_codes}`: the first code
/// from the app turns TOTP on; ten single-use recovery codes are shown, this
/// once.
pub(crate) fn confirm(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let claims = authenticate(ex)?;
    let code = sole_field(ex, "code")?;
    let auth = ex.state;
    let db = auth.db()?;
    let user = store::user(db, &claims.sub)?.ok_or(AuthError::AccountGone)?.user;
    let factor = store::totp_factor(db, &claims.sub)?.ok_or(AuthError::NoMfaEnrollment)?;
    if factor.confirmed {
        return Err(AuthError::MfaAlreadyOn);
    }
    let now = now_ms();
    let counters = counters(ex, &user);
    protect::admit(db, &counters, now, "too many failed code checks; try again later")?;
    let codes = recovery_codes();
    let digests: Vec<String> = codes.iter().map(|code| recovery_code_digest(code)).collect();
    transaction(db, |tx| {
        if !take_code(auth, tx, &factor, &code)? {
            return Err(AuthError::WrongCode);
        }
        // Two confirmations at once: one turns it on and hands out codes.
        if !store::confirm_totp(tx, &claims.sub, now)? {
            return Err(AuthError::MfaAlreadyOn);
        }
        store::replace_recovery_codes(tx, &claims.sub, &digests)?;
        protect::settle_success(tx, &counters, now)?;
        audit::record(ex, tx, Event::own(EventType::MfaEnabled, &claims.sub))?;
        Ok(())
    })
    .inspect_err(|_| protect::sweep(auth, now))?;
    Ok(json_response(StatusCode::OK, &RecoveryCodes { recovery_codes: codes })?)
}

/// `POST /mfa/totp/disable {code}` or `{password}` → 204: TOTP off, the
/// recovery codes gone.
pub(crate) fn disable(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let claims = authenticate(ex)?;
    let mut fields = json_body(ex.request, &[])?;
    let code: Option<String> = fields.optional("code");
    let password: Option<String> = fields.optional("password");
    fields.finish()?;
    let auth = ex.state;
    let db = auth.db()?;
    let (record, stored) = store::account_by_id(db, &claims.sub)?.ok_or(AuthError::AccountGone)?;
    let factor = store::totp_factor(db, &claims.sub)?.filter(|f| f.confirmed).ok_or(AuthError::NoMfaEnrollment)?;
    let now = now_ms();
    match (code, password) {
        (Some(code), None) => {
            let counters = counters(ex, &record.user);
            protect::admit(db, &counters, now, "too many failed code checks; try again later")?;
            transaction(db, |tx| {
                if !take_code(auth, tx, &factor, &code)? {
                    return Err(AuthError::WrongCode);
                }
                protect::settle_success(tx, &counters, now)?;
                turn_off(ex, tx, &claims.sub)
            })
            .inspect_err(|_| protect::sweep(auth, now))?;
        }
        (None, Some(password)) => {
            check_password(ex, &record.user, &password, &stored)?;
            transaction(db, |tx| turn_off(ex, tx, &claims.sub))?;
        }
        _ => return Err(AuthError::CodeOrPassword),
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

fn turn_off(ex: &Ex<'_>, tx: &dyn Database, user: &UserId) -> Result<(), AuthError> {
    store::delete_factors(tx, user)?;
    audit::record(ex, tx, Event::own(EventType::MfaDisabled, user))?;
    Ok(())
}

/// `DELETE /users/:id/mfa` → 204, administrators only: the user's factors
/// and recovery codes are removed (a lost phone and lost codes), and every
/// session of theirs is revoked; 404 when the user has none.
pub(crate) fn reset(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let (claims, session) = authenticate_session(ex)?;
    if session.role != Role::Admin {
        return Err(AuthError::Forbidden("only administrators may reset a user's factors"));
    }
    let id = UserId::parse(ex.param("id")?).map_err(|_| AuthError::NoSuchUser)?;
    let auth = ex.state;
    let now = now_ms();
    transaction(auth.db()?, |tx| {
        if !store::delete_factors(tx, &id)? {
            return Err(AuthError::NoSuchUser);
        }
        let revoked = store::revoke_user_sessions(tx, &id, None, "second factor reset", now)?;
        let reset = Event::new(EventType::MfaReset, Some(&claims.sub), Some(&id))
            .detail(json!({ "sessions_revoked": revoked.len() }));
        audit::record(ex, tx, reset)?;
        publish_revocations(auth, tx, &revoked, now)
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The answer to a right password for an account with TOTP on: no tokens
/// yet, but a challenge to complete on `POST /login/mfa`.
#[derive(Serialize)]
pub(crate) struct Challenge {
    mfa_required: bool,
    mfa_token: String,
    expires_in: i64,
}

/// Open the second step of `user`'s sign-in (after the right password).
pub(crate) fn challenge(tx: &dyn Database, user: &UserId, now: i64) -> Result<Challenge, AuthError> {
    let token = OpaqueToken::generate();
    store::insert_challenge(tx, &token.digest(), user, now, now + CHALLENGE_TTL_SECS * 1000)?;
    Ok(Challenge { mfa_required: true, mfa_token: token.expose().to_owned(), expires_in: CHALLENGE_TTL_SECS })
}

/// `POST /login/mfa {mfa_token, code}` or `{mfa_token, recovery_code}` →
/// 200 with the user and a token pair whose access token says
/// `amr: ["pwd", "otp"]`. A wrong code counts as a failed sign-in; the
/// challenge stays usable until it expires or succeeds.
pub(crate) fn complete_sign_in(ex: &Ex<'_>) -> Result<Response, AuthError> {
    let mut fields = json_body(ex.request, &[])?;
    let token: Option<String> = fields.required("mfa_token");
    let code: Option<String> = fields.optional("code");
    let recovery: Option<String> = fields.optional("recovery_code");
    fields.finish()?;
    let token = validated(token)?;
    let proof = match (code, recovery) {
        (Some(code), None) => Proof::Code(code),
        (None, Some(recovery)) => Proof::Recovery(recovery),
        _ => return Err(AuthError::CodeOrRecoveryCode),
    };
    let auth = ex.state;
    let db = auth.db()?;
    let now = now_ms();
    let digest = OpaqueToken::presented(&token).digest();
    let user_id = store::challenge_user(db, &digest, now)?.ok_or(AuthError::InvalidChallenge)?;
    let user = store::user(db, &user_id)?.ok_or(AuthError::InvalidChallenge)?.user;
    let factor = store::totp_factor(db, &user_id)?.filter(|f| f.confirmed).ok_or(AuthError::InvalidChallenge)?;
    let counters = counters(ex, &user);
    protect::admit(db, &counters, now, "too many failed sign-in attempts; try again later")?;
    ready_to_sign(auth, now)?;
    let client = client(ex);
    let outcome = transaction(db, |tx| {
        let accepted = match &proof {
            Proof::Code(code) => take_code(auth, tx, &factor, code)?,
            Proof::Recovery(code) => store::use_recovery_code(tx, &user_id, &recovery_code_digest(code))?,
        };
        if !accepted {
            return Ok(None);
        }
        if !store::take_challenge(tx, &digest)? {
            return Err(AuthError::InvalidChallenge);
        }
        protect::settle_success(tx, &counters, now)?;
        let method = if matches!(proof, Proof::Code(_)) { "totp" } else { "recovery_code" };
        audit::record(ex, tx, Event::own(EventType::SignIn, &user_id).detail(json!({ "second_factor": method })))?;
        open_session(auth, tx, &user, &client, Amr::PasswordAndOtp, now).map(Some)
    })?;
    protect::sweep(auth, now);
    let Some(tokens) = outcome else {
        let failed =
            Event::new(EventType::SignInFailed, None, Some(&user_id)).detail(json!({ "second_factor": "wrong code" }));
        audit::record(ex, db, failed)?;
        return Err(AuthError::InvalidCode);
    };
    ex.set_user(user_id.as_str());
    Ok(json_response(StatusCode::OK, &crate::account::SignedIn { user: &user, tokens: &tokens })?)
}

enum Proof {
    Code(String),
    Recovery(String),
}
