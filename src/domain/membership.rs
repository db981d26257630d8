//! Club membership and the rule that decides whether it is current.
//!
//! Design: a membership is active when `start ≤ today ≤ end`, both days inclusive, where "today"
//! is the calendar day in the club's timezone (`MEMBERSHIP_TIMEZONE`), not in UTC: a member in
//! Sydney whose membership ends on the 31st may still log in at 23:59 local time on the 31st.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub number: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub chapter: Option<String>,
}

/// Why a membership does not allow a login; the `extensions.reason` of `MEMBERSHIP_INACTIVE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactiveReason {
    Missing,
    NotStarted,
    Expired,
    /// The shop account itself is closed (OCC `deactivationDate` is set).
    Closed,
}

impl InactiveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "MISSING",
            Self::NotStarted => "NOT_STARTED",
            Self::Expired => "EXPIRED",
            Self::Closed => "CLOSED",
        }
    }
}

impl Membership {
    /// The rule: the membership, if it is current on `today`. `Option` because a customer
    /// without membership data has no `Membership`.
    pub fn check(
        membership: Option<&Membership>,
        today: NaiveDate,
    ) -> Result<&Membership, InactiveReason> {
        let membership = membership.ok_or(InactiveReason::Missing)?;
        if today < membership.start_date {
            Err(InactiveReason::NotStarted)
        } else if today > membership.end_date {
            Err(InactiveReason::Expired)
        } else {
            Ok(membership)
        }
    }

    pub fn is_active(&self, today: NaiveDate) -> bool {
        Self::check(Some(self), today).is_ok()
    }

    /// The first instant after the membership's last day, in the club's timezone: nothing we
    /// issue may be valid at or after it.
    pub fn ends_at(&self, timezone: Tz) -> DateTime<Utc> {
        start_of_day(
            self.end_date
                .checked_add_days(Days::new(1))
                .unwrap_or(NaiveDate::MAX),
            timezone,
        )
    }
}

/// The calendar day `now` falls on in `timezone`.
pub fn today_in(timezone: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&timezone).date_naive()
}

fn start_of_day(day: NaiveDate, timezone: Tz) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    // A DST gap can skip midnight; the earliest valid local time of that day is then the start.
    (0..=180)
        .find_map(|minutes| {
            timezone
                .from_local_datetime(&(midnight + chrono::Duration::minutes(minutes)))
                .earliest()
        })
        .map(|local| local.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// Parses a date as Hybris OCC writes it: `2026-03-31T00:00:00+0000` (the calendar date as
/// written, whatever the offset) or a plain `2026-03-31`.
pub fn parse_occ_date(raw: &str) -> Result<NaiveDate, String> {
    let raw = raw.trim();
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(date);
    }
    for format in ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%.f%z"] {
        if let Ok(date_time) = DateTime::parse_from_str(raw, format) {
            return Ok(date_time.date_naive());
        }
    }
    if let Ok(date_time) = DateTime::parse_from_rfc3339(raw) {
        return Ok(date_time.date_naive());
    }
    Err(format!("unrecognised date format: {raw:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn membership(start: &str, end: &str) -> Membership {
        Membership {
            number: "M-1".into(),
            start_date: date(start),
            end_date: date(end),
            chapter: None,
        }
    }

    #[test]
    fn both_boundary_days_are_inclusive() {
        let m = membership("2026-01-01", "2026-12-31");
        assert!(Membership::check(Some(&m), date("2026-01-01")).is_ok());
        assert!(Membership::check(Some(&m), date("2026-12-31")).is_ok());
        assert_eq!(
            Membership::check(Some(&m), date("2025-12-31")),
            Err(InactiveReason::NotStarted)
        );
        assert_eq!(
            Membership::check(Some(&m), date("2027-01-01")),
            Err(InactiveReason::Expired)
        );
        assert_eq!(
            Membership::check(None, date("2026-06-01")),
            Err(InactiveReason::Missing)
        );
    }

    #[test]
    fn today_is_the_calendar_day_in_the_club_timezone() {
        let sydney: Tz = "Australia/Sydney".parse().unwrap();
        let m = membership("2026-01-01", "2026-03-31");
        // 2026-03-31T12:59:59Z is 23:59:59 on the 31st in Sydney (AEDT, +11): still active.
        let last_second = "2026-03-31T12:59:59Z".parse::<DateTime<Utc>>().unwrap();
        assert!(m.is_active(today_in(sydney, last_second)));
        // One second later it is the 1st of April in Sydney, though still the 31st in UTC.
        let next_day = "2026-03-31T13:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            Membership::check(Some(&m), today_in(sydney, next_day)),
            Err(InactiveReason::Expired)
        );
        assert!(m.is_active(today_in(chrono_tz::UTC, next_day)));
        assert_eq!(m.ends_at(sydney), next_day);
    }

    #[test]
    fn the_first_day_starts_at_local_midnight_west_of_utc() {
        let new_york: Tz = "America/New_York".parse().unwrap();
        let m = membership("2026-07-01", "2026-12-31");
        let before = "2026-07-01T03:59:59Z".parse::<DateTime<Utc>>().unwrap();
        let after = "2026-07-01T04:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            Membership::check(Some(&m), today_in(new_york, before)),
            Err(InactiveReason::NotStarted)
        );
        assert!(m.is_active(today_in(new_york, after)));
    }

    #[test]
    fn occ_dates_parse_as_written() {
        assert_eq!(
            parse_occ_date("2026-03-31T00:00:00+0000"),
            Ok(date("2026-03-31"))
        );
        assert_eq!(
            parse_occ_date("2026-03-31T23:00:00-0500"),
            Ok(date("2026-03-31"))
        );
        assert_eq!(
            parse_occ_date("2026-03-31T00:00:00+02:00"),
            Ok(date("2026-03-31"))
        );
        assert_eq!(
            parse_occ_date("2026-03-31T00:00:00.000Z"),
            Ok(date("2026-03-31"))
        );
        assert_eq!(parse_occ_date("2026-03-31"), Ok(date("2026-03-31")));
        for bad in [
            "31/03/2026",
            "2026-02-30",
            "",
            "tomorrow",
            "2026-03-31T25:00:00+0000",
        ] {
            assert!(parse_occ_date(bad).is_err(), "{bad:?}");
        }
    }
}
