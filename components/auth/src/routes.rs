//! The component's routes, and which module answers each.

use troupe_edge::Router;

use crate::error::AuthError;
use crate::{account, audit, email, internal, keys, mfa, sessions, Auth};

/// Every route of the component.
pub(crate) fn router() -> Router<Auth, AuthError> {
    Router::new()
        .post("/api/v1/auth/register", account::register)
        .post("/api/v1/auth/login", account::login)
        .post("/api/v1/auth/refresh", sessions::refresh)
        .post("/api/v1/auth/logout", sessions::logout)
        .get("/api/v1/auth/me", account::me)
        .post("/api/v1/auth/password", account::change_password)
        .get("/api/v1/auth/sessions", sessions::list_sessions)
        .delete("/api/v1/auth/sessions/:id", sessions::delete_session)
        .get("/api/v1/auth/events", audit::list_events)
        .post("/api/v1/auth/verify-email", email::verify_email)
        .post("/api/v1/auth/verify-email/resend", email::resend_verification)
        .post("/api/v1/auth/password-reset", email::request_password_reset)
        .post("/api/v1/auth/password-reset/confirm", email::confirm_password_reset)
        .post("/api/v1/auth/email", email::change_email)
        .post("/api/v1/auth/email/confirm", email::confirm_email_change)
        .post("/api/v1/auth/login/mfa", mfa::complete_sign_in)
        .get("/api/v1/auth/mfa", mfa::status)
        .post("/api/v1/auth/mfa/totp", mfa::enroll)
        .post("/api/v1/auth/mfa/totp/confirm", mfa::confirm)
        .post("/api/v1/auth/mfa/totp/disable", mfa::disable)
        .delete("/api/v1/auth/users/:id/mfa", mfa::reset)
        .get("/api/v1/auth/.well-known/jwks.json", keys::jwks)
        .get("/.well-known/jwks.json", keys::jwks)
        .post("/internal/users", internal::create_user)
        .patch("/internal/users/:id", internal::update_user)
        .delete("/internal/users/:id", internal::delete_user)
        .post("/internal/outbox/deliver", internal::deliver_mail)
}
