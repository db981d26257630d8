//! Reading variables: one place for "unset or blank means default", number ranges, switches,
//! lists and choices, each failing with the variable's name and never with a secret's value.

use std::ops::RangeInclusive;

/// A variable that could not be used, and why. Never carries a secret's value.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

pub fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

pub type ConfigResult<T> = Result<T, ConfigError>;

/// The variables, through a lookup function (the process environment, or a test's map).
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The value, or `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The value, or an error saying it is required `when`.
    pub fn required(&self, name: &'static str, when: &str) -> ConfigResult<String> {
        self.get(name)
            .ok_or_else(|| invalid(name, format!("is required {when}")))
    }

    /// A whole number in `range`, or `default` when unset.
    pub fn number(
        &self,
        name: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> ConfigResult<u64> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if range.contains(&n) => Ok(n),
                _ => Err(invalid(
                    name,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )),
            },
        }
    }

    /// Seconds in `range`, as a `chrono::Duration`.
    pub fn seconds(
        &self,
        name: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> ConfigResult<chrono::Duration> {
        Ok(chrono::Duration::seconds(
            self.number(name, default, range)? as i64,
        ))
    }

    /// Milliseconds in `range`, as a `std::time::Duration`.
    pub fn millis(
        &self,
        name: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> ConfigResult<std::time::Duration> {
        Ok(std::time::Duration::from_millis(
            self.number(name, default, range)?,
        ))
    }

    /// `true`/`1` or `false`/`0`; `default` when unset.
    pub fn switch(&self, name: &'static str, default: bool) -> ConfigResult<bool> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(_) => Err(invalid(name, "must be true or false")),
        }
    }

    /// One of `choices` by its name; `default` when unset.
    pub fn choice<T: Copy>(
        &self,
        name: &'static str,
        default: T,
        choices: &[(&str, T)],
    ) -> ConfigResult<T> {
        let Some(value) = self.get(name) else {
            return Ok(default);
        };
        choices
            .iter()
            .find(|(key, _)| *key == value)
            .map(|(_, choice)| *choice)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(key, _)| *key).collect();
                invalid(
                    name,
                    format!("{value:?} is not one of {}", names.join(", ")),
                )
            })
    }

    /// A comma-separated list, each item parsed by `parse` (which says what an item should be
    /// like when it fails); empty when unset.
    pub fn list<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> ConfigResult<Vec<T>> {
        let Some(list) = self.get(name) else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| parse(item).map_err(|reason| invalid(name, reason)))
            .collect()
    }

    /// An `http://` or `https://` URL.
    pub fn http_url(&self, name: &'static str) -> ConfigResult<Option<reqwest::Url>> {
        self.get(name)
            .map(|raw| parse_http_url(&raw).map_err(|reason| invalid(name, reason)))
            .transpose()
    }
}

/// The value is not repeated in the error: a URL may carry credentials.
pub fn parse_http_url(raw: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    Ok(url)
}
