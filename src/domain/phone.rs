//! Phone numbers for sign-in by SMS code: E.164, mobile only, from allowed regions.
//!
//! Design: parsing and classification use libphonenumber's metadata through the `phonenumber`
//! crate, never our own rules. Only numbers that can receive an SMS for one member are accepted:
//! mobile lines (and "fixed line or mobile", which North American numbers always are).
//! Premium-rate, toll-free, shared-cost, VoIP, pager and fixed lines are refused before anything
//! is sent, and so are regions outside `OTP_ALLOWED_REGIONS`: the usual SMS-pumping fraud sends
//! codes to premium numbers and expensive destinations.

use phonenumber::{Mode, Type, country};

/// The longest input read as a phone number; longer input is refused unread.
const MAX_INPUT_CHARS: usize = 40;

/// An ISO 3166-1 alpha-2 region that libphonenumber knows, e.g. `GB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region {
    id: country::Id,
    /// The upper-case ASCII code, for `as_str`.
    code: [u8; 2],
}

impl Region {
    /// Case-insensitive; `None` for anything but a known two-letter region.
    pub fn parse(raw: &str) -> Option<Self> {
        let upper = raw.trim().to_ascii_uppercase();
        let code: [u8; 2] = upper.as_bytes().try_into().ok()?;
        let id = upper.parse().ok()?;
        Some(Self { id, code })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.code).unwrap_or("ZZ")
    }
}

/// Where numbers may be and how national input is read (`OTP_DEFAULT_REGION`,
/// `OTP_ALLOWED_REGIONS`).
#[derive(Debug, Clone, Default)]
pub struct PhonePolicy {
    /// The region of a number typed without `+` and no `region` given.
    pub default_region: Option<Region>,
    /// Empty: every region.
    pub allowed_regions: Vec<Region>,
}

/// Why a phone number was refused; `as_str` is the contract's `extensions.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneRefusal {
    /// Not a number (or not one we can read without a region).
    #[error(
        "the phone number is not valid: give it in international form (+447400123456) or with its region"
    )]
    Invalid,
    /// A real number that cannot take an SMS for a member: fixed, premium-rate, toll-free, VoIP.
    #[error("the phone number is not a mobile number")]
    NotMobile,
    #[error("phone numbers of this region are not accepted")]
    RegionNotAllowed,
    /// The `region` argument is not an ISO 3166-1 alpha-2 code.
    #[error("the region is not a two-letter ISO 3166 code")]
    InvalidRegion,
}

impl PhoneRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid | Self::InvalidRegion => "INVALID",
            Self::NotMobile => "NOT_MOBILE",
            Self::RegionNotAllowed => "REGION_NOT_ALLOWED",
        }
    }

    /// The input field the refusal is about.
    pub fn field(self) -> &'static str {
        match self {
            Self::InvalidRegion => "region",
            _ => "phone",
        }
    }
}

/// A mobile number in E.164 (`+447400123456`), from an allowed region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: String,
    region: Region,
    /// The international format, for the masked hint.
    international: String,
}

impl PhoneNumber {
    /// Reads `raw` (E.164, international or national; spaces, dashes and brackets allowed),
    /// national input in `region` or else the policy's default region.
    pub fn parse(
        raw: &str,
        region: Option<&str>,
        policy: &PhonePolicy,
    ) -> Result<Self, PhoneRefusal> {
        let region = match region.map(str::trim).filter(|r| !r.is_empty()) {
            Some(raw) => Some(Region::parse(raw).ok_or(PhoneRefusal::InvalidRegion)?),
            None => policy.default_region,
        };
        let raw = raw.trim();
        if raw.is_empty()
            || raw.chars().count() > MAX_INPUT_CHARS
            || raw.chars().any(char::is_control)
        {
            return Err(PhoneRefusal::Invalid);
        }
        let number =
            phonenumber::parse(region.map(|r| r.id), raw).map_err(|_| PhoneRefusal::Invalid)?;
        if number.extension().is_some() || !number.is_valid() {
            return Err(PhoneRefusal::Invalid);
        }
        let number_region = number
            .country()
            .id()
            .and_then(|id| Region::parse(id.as_ref()))
            .ok_or(PhoneRefusal::Invalid)?;
        match number.number_type(&phonenumber::metadata::DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile => {}
            _ => return Err(PhoneRefusal::NotMobile),
        }
        if !policy.allowed_regions.is_empty() && !policy.allowed_regions.contains(&number_region) {
            return Err(PhoneRefusal::RegionNotAllowed);
        }
        Ok(Self {
            e164: number.format().mode(Mode::E164).to_string(),
            region: number_region,
            international: number.format().mode(Mode::International).to_string(),
        })
    }

    /// A number we stored (already parsed once); `None` if it no longer parses.
    pub fn from_stored(e164: &str) -> Option<Self> {
        Self::parse(e164, None, &PhonePolicy::default()).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.e164
    }

    pub fn region(&self) -> Region {
        self.region
    }

    /// The number with all but the country code and the last four digits masked, in its
    /// international grouping: `+44 •••• ••3456`. Safe to show to whoever typed the number.
    pub fn hint(&self) -> String {
        let digits = self
            .international
            .chars()
            .filter(char::is_ascii_digit)
            .count();
        let (code, rest) = self
            .international
            .split_once(' ')
            .unwrap_or((&self.international, ""));
        let code_digits = code.chars().filter(char::is_ascii_digit).count();
        let mut seen = code_digits;
        let masked: String = rest
            .chars()
            .map(|c| {
                if !c.is_ascii_digit() {
                    return c;
                }
                seen += 1;
                if seen > digits.saturating_sub(4) {
                    c
                } else {
                    '•'
                }
            })
            .collect();
        format!("{code} {masked}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PhonePolicy {
        PhonePolicy::default()
    }

    #[test]
    fn mobile_numbers_parse_to_e164_from_international_or_national_input() {
        let uk = PhoneNumber::parse("+44 7400 123456", None, &policy()).unwrap();
        assert_eq!(uk.as_str(), "+447400123456");
        assert_eq!(uk.region().as_str(), "GB");
        let national = PhoneNumber::parse("07400 123456", Some("gb"), &policy()).unwrap();
        assert_eq!(national, uk);
        let us = PhoneNumber::parse("(201) 555-0123", Some("US"), &policy()).unwrap();
        assert_eq!(us.as_str(), "+12015550123");
    }

    #[test]
    fn national_input_without_a_region_is_invalid_unless_a_default_is_set() {
        assert_eq!(
            PhoneNumber::parse("07400 123456", None, &policy()),
            Err(PhoneRefusal::Invalid)
        );
        let with_default = PhonePolicy {
            default_region: Region::parse("GB"),
            ..policy()
        };
        assert!(PhoneNumber::parse("07400 123456", None, &with_default).is_ok());
    }

    #[test]
    fn premium_rate_toll_free_and_fixed_lines_are_not_mobile() {
        for number in ["+44 909 879 0000", "+44 800 123 4567", "+44 20 7946 0018"] {
            assert_eq!(
                PhoneNumber::parse(number, None, &policy()),
                Err(PhoneRefusal::NotMobile),
                "{number}"
            );
        }
    }

    #[test]
    fn regions_outside_the_allowed_list_are_refused() {
        let only_gb = PhonePolicy {
            allowed_regions: vec![Region::parse("GB").unwrap()],
            ..policy()
        };
        assert!(PhoneNumber::parse("+447400123456", None, &only_gb).is_ok());
        assert_eq!(
            PhoneNumber::parse("+4915112345678", None, &only_gb),
            Err(PhoneRefusal::RegionNotAllowed)
        );
    }

    #[test]
    fn garbage_oversized_and_bad_regions_are_refused() {
        for raw in [
            "",
            "hello",
            "+",
            "12",
            "+44 7400 123456 ext. 12",
            "\u{0}+447400123456",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw, None, &policy()),
                Err(PhoneRefusal::Invalid),
                "{raw:?}"
            );
        }
        assert_eq!(
            PhoneNumber::parse(&"7".repeat(41), None, &policy()),
            Err(PhoneRefusal::Invalid)
        );
        assert_eq!(
            PhoneNumber::parse("07400 123456", Some("Britain"), &policy()),
            Err(PhoneRefusal::InvalidRegion)
        );
    }

    #[test]
    fn the_hint_shows_the_country_code_and_the_last_four_digits_only() {
        let uk = PhoneNumber::parse("+447400123456", None, &policy()).unwrap();
        assert_eq!(uk.hint(), "+44 •••• ••3456");
        assert!(!uk.hint().contains("7400"));
    }
}
