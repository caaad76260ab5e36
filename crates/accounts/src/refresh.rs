//! Refresh tokens ([`RefreshToken`]), how a presented one is found
//! ([`Lookup`]), and what presenting it comes to ([`decide`]).
//!
//! A refresh token reads `<session id>.<family>.<nonce>`: the session it
//! renews, the session's *family* secret (the same in every token the
//! session is given), and 256 fresh random bits. The session's row keeps
//! the SHA-256 of its current token and of its family, never either in
//! clear. A presented token that carries the family yet is not the current
//! token was handed out by the session earlier, or made by someone holding
//! one that was: either way it is a replaced token, recognised without a
//! row per token replaced (a rotation is one `UPDATE` and nothing else). The
//! family adds nothing an old token's holder lacks: it can be presented,
//! never turned into the current token, whose nonce only its holder has.
//!
//! Tokens issued before families (43 characters of base64url) are *legacy*:
//! found by digest among sessions' current tokens and the replaced ones
//! recorded for them, until their session's next rotation gives it a family.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use troupe_ids::SessionId;

use crate::OpaqueToken;

/// A refresh token as handed to the client. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(OpaqueToken);

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

impl RefreshToken {
    /// A new token of `session`, in `family`.
    pub fn issue(session: &SessionId, family: &Family) -> Self {
        let nonce = B64.encode(crate::random_bytes::<32>());
        Self(OpaqueToken::presented(&format!("{session}.{}.{nonce}", family.0.expose())))
    }

    /// A token presented by a client, whatever its form ([`Lookup::of`]
    /// reads it).
    pub fn presented(text: &str) -> Self {
        Self(OpaqueToken::presented(text))
    }

    /// Where to look for its session.
    pub fn lookup(&self) -> Lookup {
        Lookup::of(self.expose())
    }

    /// The token's text.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The value its session stores: hex SHA-256.
    pub fn digest(&self) -> String {
        self.0.digest()
    }
}

/// A session's family secret: 256 random bits (base64url), carried by each
/// of its refresh tokens and stored only as its SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct Family(OpaqueToken);

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Family(<redacted>)")
    }
}

impl Family {
    /// A new family, for a new session or a legacy one's first rotation.
    pub fn generate() -> Self {
        Self(OpaqueToken::generate())
    }

    /// The value its session stores: hex SHA-256.
    pub fn digest(&self) -> String {
        self.0.digest()
    }
}

/// Where to look for a presented refresh token's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The session named, if its family is this one.
    Session { id: SessionId, family: Family },
    /// Any other text: by digest, among legacy tokens (unknown otherwise).
    Legacy,
}

impl Lookup {
    /// Read a presented token's form; nothing is trusted until the session's
    /// row confirms the family.
    pub fn of(presented: &str) -> Self {
        let mut parts = presented.split('.');
        let (Some(id), Some(family), Some(nonce), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Lookup::Legacy;
        };
        match SessionId::parse(id) {
            Ok(id) if is_secret(family) && is_secret(nonce) => {
                Lookup::Session { id, family: Family(OpaqueToken::presented(family)) }
            }
            _ => Lookup::Legacy,
        }
    }
}

/// 256 bits as [`OpaqueToken::generate`] writes them.
fn is_secret(text: &str) -> bool {
    text.len() == 43 && B64.decode(text).is_ok()
}

/// What the database says of a presented refresh token and its session,
/// read before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented {
    /// A later token of the session replaced this one.
    pub replaced: bool,
    /// The session was revoked (logout, reuse, password or role change).
    pub session_revoked: bool,
    /// The session's sliding expiry (Unix ms), which each rotation moves on:
    /// the current token expires with it.
    pub session_expires_ms: i64,
    /// The session's absolute end (Unix ms).
    pub session_ends_ms: i64,
    /// This token is the one the session's last rotation replaced, and that
    /// rotation is less than the grace interval old.
    pub in_grace: bool,
}

/// What presenting a refresh token comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The current token of a live session: replace it.
    Rotate,
    /// Replaced moments ago (a client retrying a refresh whose answer it
    /// lost, or two tabs refreshing at once): answer the pair that rotation
    /// minted again.
    Replay,
    /// Replaced earlier than that: someone holds a copy of an old token, so
    /// the session is revoked (OAuth 2.0 Security BCP, refresh token reuse).
    Reuse,
    /// Expired, or its session ended or was revoked.
    Refuse,
}

/// The refresh state machine, over values read from the database at `now_ms`.
/// An unknown token is refused before this is asked.
pub fn decide(token: &Presented, now_ms: i64) -> Decision {
    let session_live = !token.session_revoked && token.session_expires_ms > now_ms && token.session_ends_ms > now_ms;
    if !token.replaced {
        return if session_live { Decision::Rotate } else { Decision::Refuse };
    }
    if token.session_revoked {
        Decision::Refuse
    } else if token.in_grace {
        Decision::Replay
    } else {
        Decision::Reuse
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn current() -> Presented {
        Presented {
            replaced: false,
            session_revoked: false,
            session_expires_ms: NOW + 1,
            session_ends_ms: NOW + 1,
            in_grace: false,
        }
    }

    #[test]
    fn the_current_token_of_a_live_session_rotates() {
        assert_eq!(decide(&current(), NOW), Decision::Rotate);
    }

    #[test]
    fn the_token_of_an_expired_ended_or_revoked_session_is_refused() {
        for token in [
            Presented { session_expires_ms: NOW, ..current() },
            Presented { session_ends_ms: NOW, ..current() },
            Presented { session_revoked: true, ..current() },
        ] {
            assert_eq!(decide(&token, NOW), Decision::Refuse, "{token:?}");
        }
    }

    #[test]
    fn a_replaced_token_replays_in_grace_and_revokes_after() {
        let replaced = Presented { replaced: true, ..current() };
        assert_eq!(decide(&Presented { in_grace: true, ..replaced }, NOW), Decision::Replay);
        assert_eq!(decide(&replaced, NOW), Decision::Reuse);
        // Reuse is reuse even once the old token or the session expired:
        // a stolen copy surfacing late still ends the session.
        assert_eq!(decide(&Presented { session_expires_ms: 0, session_ends_ms: 0, ..replaced }, NOW), Decision::Reuse);
    }

    #[test]
    fn a_revoked_session_refuses_even_its_replayable_token() {
        let revoked = Presented { replaced: true, session_revoked: true, in_grace: true, ..current() };
        assert_eq!(decide(&revoked, NOW), Decision::Refuse);
    }

    #[test]
    fn a_token_names_its_session_and_family_and_is_stored_as_sha256() {
        let session = SessionId::generate();
        let family = Family::generate();
        let token = RefreshToken::issue(&session, &family);
        assert_eq!(token.expose().len(), 36 + 1 + 43 + 1 + 43);
        assert_ne!(token, RefreshToken::issue(&session, &family), "each token has its own nonce");
        let presented = RefreshToken::presented(token.expose());
        assert_eq!(presented.digest(), token.digest());
        assert_eq!(presented.lookup(), Lookup::Session { id: session, family });
        assert_eq!(format!("{token:?} {:?}", Family::generate()), "RefreshToken(<redacted>) Family(<redacted>)");
    }

    #[test]
    fn any_other_text_is_looked_up_as_a_legacy_token() {
        let session = SessionId::generate();
        let secret = OpaqueToken::generate();
        let secret = secret.expose();
        for text in [
            secret.to_owned(),
            String::new(),
            format!("{session}.{secret}"),
            format!("{session}.{secret}.{secret}.{secret}"),
            format!("not-a-uuid.{secret}.{secret}"),
            format!("{session}.short.{secret}"),
            format!("{session}.{secret}.{}", "*".repeat(43)),
        ] {
            assert_eq!(Lookup::of(&text), Lookup::Legacy, "{text}");
        }
    }
}
