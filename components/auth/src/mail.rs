//! Mail: an outbox, and its delivery to the email hook.
//!
//! A message is written to the outbox ([`queue`]) in the transaction of the
//! change that causes it, so that a change is never committed without its
//! message nor a message sent for a change rolled back. After commit the
//! request delivers what is due ([`deliver_due`]): each message is POSTed to
//! `email_hook_url`, signed with `email_hook_secret` as the Standard
//! Webhooks specification says, and leaves the outbox once the hook answers
//! 2xx. A failed attempt stays, and is retried with backoff
//! ([`retry_delay_ms`]) by a later request or by a readiness check (which
//! asks `auth` over service chaining: no cron exists on every host). Every
//! attempt carries the message's `webhook-id`, so the receiver can drop the
//! duplicate of an attempt that succeeded but whose answer was lost.
//!
//! With no hook configured, development mode ([`crate::settings::Settings::development`])
//! writes each message, link included, to the log instead; in production the
//! messages wait in the outbox until a hook is configured, and are never logged.

use std::time::Duration;

use troupe_accounts::email::{retry_delay_ms, signature, Message};
use troupe_store::{Database, DbError};

use crate::store::{self, DueMessage};
use crate::Auth;

/// Messages one request delivers at most, after its own work.
const BATCH: i64 = 10;

/// How long the hook may take to accept a connection, and then to answer.
const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Put `message` in the outbox (inside the caller's transaction). Its id,
/// `msg_<UUIDv7>`, is the `webhook-id` of every attempt to deliver it.
pub(crate) fn queue(db: &dyn Database, message: &Message, now_ms: i64) -> Result<(), DbError> {
    let id = format!("msg_{}", troupe_spin_adapter::new_id());
    store::insert_message(db, &id, &message.payload(), now_ms)
}

/// What a delivery pass did.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct Delivery {
    /// Messages the hook accepted (or, in development without a hook, logged).
    pub(crate) delivered: usize,
    /// Attempts that failed, to be retried.
    pub(crate) failed: usize,
}

/// Deliver the messages due now, a batch at most, after the request's own
/// work is committed. Never fails: a failure is logged and retried later.
pub(crate) fn deliver_due(auth: &Auth) -> Delivery {
    let mut delivery = Delivery::default();
    if let Err(e) = try_deliver_due(auth, &mut delivery) {
        troupe_spin_adapter::warn("email", &format!("the outbox cannot be read; will retry later: {e}"));
    }
    delivery
}

fn try_deliver_due(auth: &Auth, delivery: &mut Delivery) -> Result<(), String> {
    let db = auth.db().map_err(|p| p.to_string())?;
    let now = troupe_spin_adapter::now_ms();
    for message in store::due_messages(db, now, BATCH).map_err(|e| e.to_string())? {
        // Held for as long as a failure would wait: if this request dies
        // mid-attempt, a later one retries then.
        let retry_at = now + retry_delay_ms(message.attempts + 1);
        if !store::claim_message(db, &message, retry_at).map_err(|e| e.to_string())? {
            continue; // Another request is delivering it.
        }
        match attempt(auth, &message, now) {
            Ok(()) => {
                store::delivered(db, &message.id).map_err(|e| e.to_string())?;
                delivery.delivered += 1;
            }
            Err(why) => {
                troupe_spin_adapter::warn(
                    "email",
                    &format!(
                        "message {} not delivered (attempt {}), retrying in {} s: {why}",
                        message.id,
                        message.attempts + 1,
                        (retry_at - now) / 1000
                    ),
                );
                store::delivery_failed(db, &message.id, retry_at, &why).map_err(|e| e.to_string())?;
                delivery.failed += 1;
            }
        }
    }
    Ok(())
}

/// One attempt to deliver `message`.
fn attempt(auth: &Auth, message: &DueMessage, now_ms: i64) -> Result<(), String> {
    let settings = auth.settings();
    let Some(hook) = settings.email_hook() else {
        if settings.development() {
            // The one place a link is ever logged: development only.
            troupe_spin_adapter::warn(
                "email",
                &format!("development mode, no email_hook_url: message {} not sent: {}", message.id, message.payload),
            );
            return Ok(());
        }
        return Err("no email_hook_url is configured".into());
    };
    let secret = hook.secret.as_deref().ok_or("email_hook_secret is not set; nothing is sent unsigned")?;
    let timestamp = now_ms / 1000;
    let signed = signature(secret, &message.id, timestamp, &message.payload).map_err(|e| e.to_string())?;
    let headers = [
        ("content-type", "application/json"),
        ("webhook-id", message.id.as_str()),
        ("webhook-timestamp", &timestamp.to_string()),
        ("webhook-signature", signed.as_str()),
    ];
    match troupe_spin_adapter::post(&hook.url, &headers, message.payload.as_bytes(), HOOK_TIMEOUT)? {
        status if (200..300).contains(&status) => Ok(()),
        status => Err(format!("the hook answered {status}")),
    }
}
