//! Domain newtypes that can only be built by parsing, so nothing past the HTTP edge ever holds an
//! unvalidated email, username or password (SPEC §1.1 validation rules).

use crate::error::FieldError;
use caseless::Caseless;
use std::fmt;
use unicode_normalization::UnicodeNormalization;

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

/// A display name (SPEC §1.1): NFC-normalised, 2–20 characters after normalisation, no
/// control or format characters (Unicode Cc/Cf: zero-width spaces and joiners, bidi overrides),
/// no leading or trailing space. Two names are the same name when their [`Username::key`]s are
/// equal, so "Zoë" in NFC or NFD and "ZOË" cannot belong to two members.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username {
    display: String,
    key: String,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Username, FieldError> {
        let s: String = raw.trim().nfc().collect();
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
        if s.chars().any(|c| c.is_control() || is_format(c)) {
            return Err(FieldError::new(
                "username",
                "INVALID_CHARACTERS",
                "username may not contain control or invisible formatting characters",
            ));
        }
        Ok(Username {
            key: username_key(&s),
            display: s,
        })
    }

    /// The name as shown (NFC).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The name as compared: stored in a uniquely indexed column.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The comparison key of a username: Unicode canonical caseless form (NFD, full case folding,
/// then NFC for storage), so canonically equivalent spellings and case variants share one key.
pub fn username_key(name: &str) -> String {
    name.nfd().default_case_fold().nfc().collect()
}

/// Unicode general category Cf (format characters, Unicode 16.0): invisible characters such
/// as zero-width spaces and joiners and bidi overrides, which make names that look alike.
/// `char::is_control` covers Cc.
fn is_format(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
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
    fn look_alike_usernames_share_one_key_and_invisible_characters_are_refused() {
        let nfc = Username::parse("Zo\u{eb}").unwrap();
        let nfd = Username::parse("Zoe\u{308}").unwrap();
        let upper = Username::parse("ZO\u{cb}").unwrap();
        assert_eq!(nfd.as_str(), "Zo\u{eb}", "stored in NFC");
        assert_eq!(nfc.key(), nfd.key());
        assert_eq!(nfc.key(), upper.key());
        assert_eq!(Username::parse("Stra\u{df}e").unwrap().key(), "strasse");
        // Two characters after NFC: "e" + combining diaeresis is one.
        assert!(Username::parse("e\u{308}").is_err());
        for bad in [
            "\u{202e}admin",
            "ad\u{200b}min",
            "ad\u{200d}min",
            "ad\u{2066}min",
            "\u{feff}ann",
        ] {
            let e = Username::parse(bad).unwrap_err();
            assert_eq!(e.code, "INVALID_CHARACTERS", "{bad:?}");
        }
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
