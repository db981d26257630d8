//! Hybris's addresses, parsed once from `HYBRIS_BASE_URL`: a sign-in makes three calls, and
//! parsing each address again (and re-encoding the profile's query) cost about a twentieth of a
//! login's instructions (`bench/callgrind`).

use reqwest::Url;

/// The OAuth2 endpoints and the current customer's profile, with our `fields`.
#[derive(Debug, Clone)]
pub(super) struct Endpoints {
    /// `POST /authorizationserver/oauth/token` (RFC 6749 §4.3, §4.4).
    pub token: Url,
    /// `POST /authorizationserver/oauth/revoke` (RFC 7009).
    pub revoke: Url,
    /// `GET /occ/v2/{site}/users/current?fields=…`.
    pub current: Url,
    base: String,
    fields: String,
}

impl Endpoints {
    /// From `base_url` (no trailing slash), the OCC base site and the profile `fields`.
    /// Errors: the addresses do not parse, with the setting to fix.
    pub fn parse(base_url: &str, base_site: &str, fields: &str) -> Result<Self, String> {
        let parse = |path: String| {
            Url::parse(&path)
                .map_err(|error| format!("HYBRIS_BASE_URL does not make a valid address ({error})"))
        };
        let base = format!("{base_url}/occ/v2/{base_site}/users/");
        let mut current = parse(format!("{base}current"))?;
        current.query_pairs_mut().append_pair("fields", fields);
        Ok(Self {
            token: parse(format!("{base_url}/authorizationserver/oauth/token"))?,
            revoke: parse(format!("{base_url}/authorizationserver/oauth/revoke"))?,
            current,
            base,
            fields: fields.to_owned(),
        })
    }

    /// The profile of the customer `uid`, already percent-encoded, with our `fields`.
    pub fn customer(&self, uid: &str) -> Result<Url, String> {
        let mut url = Url::parse(&format!("{}{uid}", self.base))
            .map_err(|error| format!("not a customer address ({error})"))?;
        url.query_pairs_mut().append_pair("fields", &self.fields);
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_addresses_are_the_ones_occ_serves() {
        let endpoints = Endpoints::parse("https://shop.example.org", "rcc", "DEFAULT,rccChapter")
            .expect("parses");
        assert_eq!(
            endpoints.token.as_str(),
            "https://shop.example.org/authorizationserver/oauth/token"
        );
        assert_eq!(
            endpoints.revoke.as_str(),
            "https://shop.example.org/authorizationserver/oauth/revoke"
        );
        assert_eq!(
            endpoints.current.as_str(),
            "https://shop.example.org/occ/v2/rcc/users/current?fields=DEFAULT%2CrccChapter"
        );
        assert_eq!(
            endpoints
                .customer("anna%40example%2Eorg")
                .expect("parses")
                .as_str(),
            "https://shop.example.org/occ/v2/rcc/users/anna%40example%2Eorg?fields=DEFAULT%2CrccChapter"
        );
    }

    #[test]
    fn a_base_that_is_no_address_is_refused_naming_the_setting() {
        let error = Endpoints::parse("not a url", "rcc", "DEFAULT").expect_err("refused");
        assert!(error.contains("HYBRIS_BASE_URL"), "{error}");
    }
}
