//! An email address as the login key: trimmed, lower-cased, and plausibly deliverable.
//!
//! Design: Hybris treats customer ids (emails) case-insensitively, so we normalise once here and
//! the `users.email` unique index holds the normalised form: Unicode NFC, then lower case.

use unicode_normalization::UnicodeNormalization;

use super::InvalidInput;

/// RFC 5321 limits: 64 octets local part, 254 for the whole path.
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let invalid = |reason: &str| InvalidInput::new("email", reason);
        // NFC first: the same address typed on two keyboards is one login key. ASCII text is
        // already in NFC (UAX #15), and most addresses are ASCII: only the rest is normalised.
        let trimmed = raw.trim();
        let email = if trimmed.is_ascii() {
            trimmed.to_ascii_lowercase()
        } else {
            trimmed.nfc().collect::<String>().to_lowercase()
        };
        if email.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if email.len() > MAX_LEN {
            return Err(invalid("must be at most 254 characters"));
        }
        let (local, domain) = email
            .split_once('@')
            .ok_or_else(|| invalid("must be an email address"))?;
        let local_ok = !local.is_empty()
            && local.len() <= MAX_LOCAL_LEN
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(invalid("must be an email address"));
        }
        Ok(Self(email))
    }

    /// A value that was parsed before it was stored.
    pub fn from_stored(email: String) -> Self {
        Self(email)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_typed_composed_or_decomposed_is_one_address() {
        for (decomposed, composed) in [
            ("Jose\u{301}@example.org", "josé@example.org"),
            ("zoe\u{308}.a\u{30a}@example.org", "zoë.å@example.org"),
            ("n\u{303}@examplé.org", "ñ@examplé.org"),
        ] {
            assert_eq!(
                Email::parse(decomposed).unwrap(),
                Email::parse(composed).unwrap()
            );
            assert_eq!(Email::parse(decomposed).unwrap().as_str(), composed);
        }
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Anna.Rider@Example.ORG ").unwrap();
        assert_eq!(email.as_str(), "anna.rider@example.org");
    }

    #[test]
    fn malformed_or_oversized_emails_are_refused_naming_the_field() {
        let long_local = format!("{}@example.org", "a".repeat(65));
        let long_total = format!("a@{}.org", "b".repeat(260));
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "@example.org",
            "a@",
            "a@localhost",
            "a b@example.org",
            "a@exa mple.org",
            "a@@example.org",
            ".a@example.org",
            "a..b@example.org",
            "a@-example.org",
            "a\u{0}@example.org",
            "<script>@example.org",
            long_local.as_str(),
            long_total.as_str(),
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad:?}");
        }
    }

    #[test]
    fn international_addresses_are_accepted() {
        assert!(Email::parse("jörg@müller.de").is_ok());
        assert!(Email::parse("o'brien+club@example.co.uk").is_ok());
    }
}
