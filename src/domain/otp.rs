//! One-time codes sent by SMS: generated from the OS CSPRNG, stored only as an HMAC.
//!
//! Design: a code is short (6 digits by default), so its stored form must not be brute-forced
//! offline from a database copy: it is `HMAC-SHA256(OTP_HMAC_KEY, challenge id ‖ code)`, hex.
//! Binding the challenge id makes equal codes of two challenges differ. During a key rotation
//! `OTP_HMAC_KEY_PREVIOUS` still verifies codes issued before it; comparison is constant time
//! (`aws_lc_rs::constant_time`).

use aws_lc_rs::{constant_time, hmac, rand::SecureRandom};
use secrecy::{ExposeSecret, SecretString};

use super::InvalidInput;

uuid_id!(
    /// A code challenge's id: random to the caller, shown as `CodeChallenge.id`.
    ChallengeId
);

/// What a challenge proves when its code comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// Sign in with an enrolled number (`sendLoginCode` → `loginWithCode`).
    Login,
    /// Enrol a number to the signed-in member (`sendPhoneVerificationCode` → `verifyPhone`).
    Enrol,
}

impl ChallengePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Enrol => "enrol",
        }
    }
}

/// A code as sent or typed: `length` ASCII digits. A secret: never logged.
pub struct OtpCode(SecretString);

impl OtpCode {
    /// `length` uniformly random digits (rejection sampling: no modulo bias).
    pub fn generate(length: usize) -> Self {
        let random = aws_lc_rs::rand::SystemRandom::new();
        let mut digits = String::with_capacity(length);
        while digits.len() < length {
            let mut byte = [0u8; 1];
            random
                .fill(&mut byte)
                .expect("the OS random number generator is available");
            if byte[0] < 250 {
                digits.push(char::from(b'0' + byte[0] % 10));
            }
        }
        Self(SecretString::from(digits))
    }

    /// The typed code: spaces and dashes (as apps group digits) are ignored.
    pub fn parse(raw: &str, length: usize) -> Result<Self, InvalidInput> {
        if raw.len() > 64 {
            return Err(InvalidInput::new("code", "must be the digits of the code"));
        }
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() != length || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidInput::new(
                "code",
                format!("must be the {length} digits of the code"),
            ));
        }
        Ok(Self(SecretString::from(digits)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// The keys codes are stored under: the current one, and the previous one during a rotation.
#[derive(Clone)]
pub struct OtpKeys {
    current: hmac::Key,
    previous: Option<hmac::Key>,
}

impl OtpKeys {
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Self {
        Self {
            current: hmac::Key::new(hmac::HMAC_SHA256, current),
            previous: previous.map(|key| hmac::Key::new(hmac::HMAC_SHA256, key)),
        }
    }

    /// A random key, for development without `OTP_HMAC_KEY`: codes die with the process.
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut key)
            .expect("the OS random number generator is available");
        Self::new(&key, None)
    }

    /// The stored form of `code` for `challenge`, under the current key: 64 hex digits.
    pub fn seal(&self, challenge: ChallengeId, code: &OtpCode) -> String {
        seal(&self.current, challenge, code)
    }

    /// Whether `code` is the one sealed in `stored`, under the current or the previous key.
    pub fn verify(&self, challenge: ChallengeId, code: &OtpCode, stored: &str) -> bool {
        let matches = |key: &hmac::Key| {
            constant_time::verify_slices_are_equal(
                seal(key, challenge, code).as_bytes(),
                stored.as_bytes(),
            )
            .is_ok()
        };
        // Both keys are tried whatever the first says: the time does not tell which matched.
        let current = matches(&self.current);
        let previous = self.previous.as_ref().is_some_and(matches);
        current | previous
    }
}

fn seal(key: &hmac::Key, challenge: ChallengeId, code: &OtpCode) -> String {
    let mut context = hmac::Context::with_key(key);
    context.update(challenge.0.as_bytes());
    context.update(code.expose().as_bytes());
    super::to_hex(context.sign().as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_have_the_length_and_only_digits() {
        for length in [4, 6, 8] {
            let code = OtpCode::generate(length);
            assert_eq!(code.expose().len(), length);
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        }
        let distinct: std::collections::HashSet<String> = (0..50)
            .map(|_| OtpCode::generate(6).expose().to_owned())
            .collect();
        assert!(distinct.len() > 45, "codes repeat too often");
    }

    #[test]
    fn typed_codes_may_be_grouped_but_must_be_the_digits() {
        assert_eq!(OtpCode::parse("123 456", 6).unwrap().expose(), "123456");
        assert_eq!(OtpCode::parse("123-456", 6).unwrap().expose(), "123456");
        for bad in ["12345", "1234567", "12a456", "", "١٢٣٤٥٦", &"1".repeat(100)] {
            assert!(OtpCode::parse(bad, 6).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_sealed_code_verifies_under_the_current_or_previous_key_only() {
        let challenge = ChallengeId::new();
        let code = OtpCode::parse("123456", 6).unwrap();
        let old = OtpKeys::new(b"old key", None);
        let sealed = old.seal(challenge, &code);
        assert_eq!(sealed.len(), 64);
        assert!(!sealed.contains("123456"));
        assert!(old.verify(challenge, &code, &sealed));
        let rotated = OtpKeys::new(b"new key", Some(b"old key"));
        assert!(rotated.verify(challenge, &code, &sealed));
        let after = OtpKeys::new(b"new key", None);
        assert!(!after.verify(challenge, &code, &sealed));
        let wrong = OtpCode::parse("123457", 6).unwrap();
        assert!(!rotated.verify(challenge, &wrong, &sealed));
        assert!(!old.verify(ChallengeId::new(), &code, &sealed));
    }
}
