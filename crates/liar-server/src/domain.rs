//! Domain newtypes that can only be built by parsing, so nothing past the HTTP edge ever holds an
//! unvalidated email, username or password (SPEC §1.1 validation rules).

use crate::error::FieldError;
use std::fmt;

/// A member's id.
pub type UserId = i64;

/// Password length bounds (SPEC §1.1, the seed's rule).
pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 100;
/// Username length bounds (SPEC §1.1).
pub const USERNAME_MIN_CHARS: usize = 2;
pub const USERNAME_MAX_CHARS: usize = 20;
/// RFC 5321 limits an address to 254 octets.
pub const EMAIL_MAX_BYTES: usize = 254;

/// A syntactically valid, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let s = raw.trim().to_lowercase();
        let bad = |m: &str| FieldError::new("email", "INVALID_EMAIL", m);
        if s.is_empty() {
            return Err(FieldError::new("email", "REQUIRED", "email is required"));
        }
        if s.len() > EMAIL_MAX_BYTES {
            return Err(bad("email is too long"));
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(|| bad("email needs an @"))?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(bad("not a valid email address"));
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 2–20 characters, no control characters, no leading/trailing space.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, FieldError> {
        let s = raw.trim();
        let n = s.chars().count();
        if n == 0 {
            return Err(FieldError::new(
                "username",
                "REQUIRED",
                "username is required",
            ));
        }
        if n < USERNAME_MIN_CHARS {
            return Err(FieldError::new(
                "username",
                "TOO_SHORT",
                format!("username needs at least {USERNAME_MIN_CHARS} characters"),
            ));
        }
        if n > USERNAME_MAX_CHARS {
            return Err(FieldError::new(
                "username",
                "TOO_LONG",
                format!("username allows at most {USERNAME_MAX_CHARS} characters"),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(FieldError::new(
                "username",
                "INVALID_CHARACTERS",
                "username may not contain control characters",
            ));
        }
        Ok(Username(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plaintext password on its way to the hasher. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Password, FieldError> {
        let n = raw.chars().count();
        if n == 0 {
            return Err(FieldError::new(
                "password",
                "REQUIRED",
                "password is required",
            ));
        }
        if n < PASSWORD_MIN_CHARS {
            return Err(FieldError::new(
                "password",
                "TOO_SHORT",
                format!("password needs at least {PASSWORD_MIN_CHARS} characters"),
            ));
        }
        if n > PASSWORD_MAX_CHARS {
            return Err(FieldError::new(
                "password",
                "TOO_LONG",
                format!("password allows at most {PASSWORD_MAX_CHARS} characters"),
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    /// For login: any non-empty string up to the maximum may be tried.
    pub fn for_login(raw: &str) -> Result<Password, FieldError> {
        if raw.is_empty() {
            return Err(FieldError::new(
                "password",
                "REQUIRED",
                "password is required",
            ));
        }
        if raw.chars().count() > PASSWORD_MAX_CHARS {
            return Err(FieldError::new(
                "password",
                "TOO_LONG",
                "password is too long",
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "", "a", "a@b", "@b.c", "a@.c", "a..b@c.d", "a@b..c", "a b@c.d", "a@-b.c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_count_characters_not_bytes() {
        assert!(Username::parse("라이").is_ok());
        assert!(Username::parse("가").is_err());
        assert!(Username::parse(&"가".repeat(20)).is_ok());
        assert!(Username::parse(&"가".repeat(21)).is_err());
        assert!(Username::parse("a\u{7}b").is_err());
    }

    #[test]
    fn passwords_have_seed_bounds_and_never_print() {
        assert!(Password::parse("123456789").is_err());
        assert!(Password::parse("1234567890").is_ok());
        assert!(Password::parse(&"x".repeat(101)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secretsecret").unwrap()),
            "Password(***)"
        );
    }
}
