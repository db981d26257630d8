//! The member's password on its way to Hybris, and the legacy "illegal character" rule.
//!
//! Design: the password is only ever held as a `SecretString`, so it cannot reach a log line
//! through `Debug`. The original app stripped some characters before sending the password; members
//! registered through it have the stripped form stored at Hybris, everyone else the raw one.
//! Login therefore tries the stripped form first and, only when Hybris says "invalid credentials"
//! and stripping changed something, the raw form once more.
//!
//! Unicode: the same password typed on two keyboards can arrive in two normalisation forms (`é`
//! as one code point, or `e` + a combining accent). Hybris compares bytes, and a member's
//! password was stored in whatever form the shop's page sent, usually the composed one (NFC).
//! The rule: the password as typed first, its NFC form last when that differs; never a form the
//! member did not type. Each form tried is a failed login at Hybris when wrong, so every try
//! counts against the account limit that keeps us under Hybris's lockout (`candidates().len()`).

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

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

    /// The forms to try at Hybris, in order, each once: the legacy-stripped form when it differs
    /// (and is not empty), the password as typed, its NFC form when that differs.
    pub fn candidates(&self) -> Vec<Password> {
        let typed = self.expose();
        let composed: String = typed.nfc().collect();
        let mut forms: Vec<String> = Vec::with_capacity(3);
        if let Some(stripped) = self.legacy_stripped().filter(|s| !s.expose().is_empty()) {
            forms.push(stripped.expose().to_owned());
        }
        forms.push(typed.to_owned());
        if composed != typed {
            forms.push(composed);
        }
        forms
            .into_iter()
            .map(|form| Password(SecretString::from(form)))
            .collect()
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
    fn candidates_are_stripped_then_typed_then_composed_each_once() {
        let forms = |raw: &str| -> Vec<String> {
            Password::parse(raw)
                .unwrap()
                .candidates()
                .iter()
                .map(|p| p.expose().to_owned())
                .collect()
        };
        assert_eq!(forms("plain-123"), ["plain-123"]);
        assert_eq!(forms("a&b"), ["ab", "a&b"]);
        assert_eq!(
            forms("&&&"),
            ["&&&"],
            "an empty stripped form is never sent"
        );
        // Decomposed input of several scripts and marks: the composed form comes last.
        for (typed, composed) in [
            ("Pe\u{301}dale-26", "Pédale-26"),
            ("An\u{303}o&2026", "Año&2026"),
            ("A\u{30a}ngstro\u{308}m", "Ångström"),
            ("\u{1100}\u{1161}\u{11a8}", "\u{ac01}"),
        ] {
            let got = forms(typed);
            assert_eq!(got.last().unwrap(), composed, "{typed:?}");
            assert!(got.contains(&typed.to_owned()), "{typed:?}");
        }
        // Already composed: nothing more to try.
        assert_eq!(forms("Pédale-26"), ["Pédale-26"]);
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
