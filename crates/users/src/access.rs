//! Who may do what to a user.

use troupe_ids::{Role, UserId};

/// The verified caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Their user id.
    pub user_id: UserId,
    /// Their role, from the access token.
    pub role: Role,
}

/// The outcome of an authorization decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Go ahead.
    Granted,
    /// 403.
    Denied(&'static str),
}

impl Caller {
    /// Whether the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Listing and creating users: administrators only.
    pub fn may_manage_users(&self) -> Access {
        if self.is_admin() {
            Access::Granted
        } else {
            Access::Denied("only administrators may list or create users")
        }
    }

    /// Reading, replacing, updating or deleting user `id`: the user
    /// themself, or an administrator.
    pub fn may_access(&self, id: &UserId) -> Access {
        if self.is_admin() || &self.user_id == id {
            Access::Granted
        } else {
            Access::Denied("you may only access your own user")
        }
    }

    /// Setting `target`'s role to `requested` when it is `current`: only an
    /// administrator may change a role (setting it to what it already is is
    /// not a change).
    pub fn may_set_role(&self, current: Role, requested: Role) -> Access {
        if requested == current || self.is_admin() {
            Access::Granted
        } else {
            Access::Denied("only administrators may change a role")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(last: char) -> UserId {
        UserId::parse(&format!("0190a0e5-7b1c-7cc3-9f4e-3f1d2c3b4a5{last}")).expect("id")
    }

    fn caller(role: Role) -> Caller {
        Caller { user_id: id('1'), role }
    }

    #[test]
    fn users_reach_only_themselves_and_admins_reach_everyone() {
        assert_eq!(caller(Role::User).may_access(&id('1')), Access::Granted);
        assert!(matches!(caller(Role::User).may_access(&id('2')), Access::Denied(_)));
        assert_eq!(caller(Role::Admin).may_access(&id('2')), Access::Granted);
        assert!(matches!(caller(Role::User).may_manage_users(), Access::Denied(_)));
        assert_eq!(caller(Role::Admin).may_manage_users(), Access::Granted);
    }

    #[test]
    fn only_admins_change_roles() {
        assert_eq!(caller(Role::User).may_set_role(Role::User, Role::User), Access::Granted);
        assert!(matches!(caller(Role::User).may_set_role(Role::User, Role::Admin), Access::Denied(_)));
        assert_eq!(caller(Role::Admin).may_set_role(Role::User, Role::Admin), Access::Granted);
    }
}
