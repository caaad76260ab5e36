//! Refresh tokens ([`crate::OpaqueToken`]s) and what presenting one comes
//! to ([`decide`]).

/// A refresh token as handed to the client.
pub type RefreshToken = crate::OpaqueToken;

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
    fn tokens_are_random_base64url_and_stored_as_sha256() {
        let token = RefreshToken::generate();
        assert_eq!(token.expose().len(), 43);
        assert_ne!(token, RefreshToken::generate());
        assert_eq!(RefreshToken::presented(token.expose()).digest(), token.digest());
        assert_eq!(
            RefreshToken::presented("abc").digest(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(format!("{token:?}"), "OpaqueToken(<redacted>)");
    }
}
