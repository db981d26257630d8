//! The member's password on its way to Hybris, and the legacy "illegal character" rule.
//!
//! Design: the password is only ever held as a `SecretString`, so it cannot reach a log line
//! through `Debug`. The original app stripped some characters before sending the password; members
//! registered through it have the stripped form stored at Hybris, everyone else the raw one.
//! Login therefore tries the stripped form first and, only when Hybris says "invalid credentials"
//! and stripping changed something, the raw form once more.

use secrecy::{ExposeSecret, SecretString};

use super::InvalidInput;

/// Characters the legacy client removed before sending a password: the ones its hand-built
/// `x-www-form-urlencoded` body could not carry (`&`, `+`, `%`, `=`, `#`, `?`), the quotes and
/// angle brackets its HTML form filtered, the backslash, and every control character.
pub const ILLEGAL_PASSWORD_CHARACTERS: &[char] =
    &['&', '+', '%', '=', '#', '?', '"', '\'', '<', '>', '\\'];

const MAX_CHARS: usize = 256;

pub struct Password(SecretString);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.is_empty() {
            return Err(InvalidInput::new("password", "must not be empty"));
        }
        if raw.chars().count() > MAX_CHARS {
            return Err(InvalidInput::new(
                "password",
                "must be at most 256 characters",
            ));
        }
        Ok(Self(SecretString::from(raw.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The form the legacy client sent, or `None` when it equals the raw password.
    pub fn legacy_stripped(&self) -> Option<Password> {
        let raw = self.expose();
        let stripped: String = raw.chars().filter(|c| !is_illegal(*c)).collect();
        (stripped != raw).then(|| Password(SecretString::from(stripped)))
    }
}

fn is_illegal(c: char) -> bool {
    c.is_control() || ILLEGAL_PASSWORD_CHARACTERS.contains(&c)
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripping_removes_only_the_documented_characters() {
        let password = Password::parse("Pä ss&+%=#?\"'<>\\\u{7}wörd").unwrap();
        let stripped = password.legacy_stripped().unwrap();
        assert_eq!(stripped.expose(), "Pä sswörd");
    }

    #[test]
    fn a_password_without_illegal_characters_has_no_stripped_form() {
        let password = Password::parse("plain Pässword 123!").unwrap();
        assert!(password.legacy_stripped().is_none());
    }

    #[test]
    fn empty_and_oversized_passwords_are_refused() {
        assert_eq!(Password::parse("").unwrap_err().field, "password");
        assert!(Password::parse(&"x".repeat(256)).is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(257)).unwrap_err().field,
            "password"
        );
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let password = Password::parse("hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
