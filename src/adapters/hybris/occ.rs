//! The OCC customer as it comes over the wire, and how it becomes our `CustomerProfile`.

use std::collections::HashMap;

use anyhow::{Context, anyhow};
use serde::Deserialize;

use crate::domain::{CustomerProfile, Email, Membership, membership::parse_occ_date};

/// The parts of an OCC `User` we use. Unknown fields are ignored, as OCC adds them freely.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(super) struct OccCustomer {
    uid: Option<String>,
    customer_id: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    rcc_membership_number: Option<String>,
    rcc_member_ship_start_date: Option<String>,
    rcc_member_ship_end_date: Option<String>,
    rcc_chapter: Option<String>,
    /// When the shop account was (or will be) closed; any value means closed to us.
    deactivation_date: Option<String>,
    /// Every other field, for the configured roles field.
    #[serde(flatten)]
    other: HashMap<String, serde_json::Value>,
}

impl OccCustomer {
    pub(super) fn into_profile(
        mut self,
        login_email: &Email,
        roles_field: Option<&str>,
    ) -> anyhow::Result<CustomerProfile> {
        let roles = roles_field
            .and_then(|field| self.other.remove(field))
            .map(roles)
            .unwrap_or_default();
        let email = self
            .uid
            .as_deref()
            .and_then(|uid| Email::parse(uid).ok())
            .unwrap_or_else(|| login_email.clone());
        let customer_id = self
            .customer_id
            .or(self.uid)
            .filter(|id| !id.trim().is_empty())
            .context("the OCC customer has neither customerId nor uid")?;
        let membership = match (
            non_blank(self.rcc_membership_number),
            non_blank(self.rcc_member_ship_start_date),
            non_blank(self.rcc_member_ship_end_date),
        ) {
            (Some(number), Some(start), Some(end)) => Some(Membership {
                number,
                start_date: parse_occ_date(&start)
                    .map_err(|e| anyhow!("rccMemberShipStartDate: {e}"))?,
                end_date: parse_occ_date(&end).map_err(|e| anyhow!("rccMemberShipEndDate: {e}"))?,
                chapter: non_blank(self.rcc_chapter),
            }),
            (None, None, None) => None,
            _ => {
                tracing::warn!(
                    customer_id,
                    "OCC customer has incomplete membership fields; treating as missing"
                );
                None
            }
        };
        Ok(CustomerProfile {
            customer_id,
            email,
            first_name: non_blank(self.first_name),
            last_name: non_blank(self.last_name),
            membership,
            deactivated_on: non_blank(self.deactivation_date)
                .map(|date| parse_occ_date(&date).unwrap_or(chrono::NaiveDate::MIN)),
            roles,
        })
    }
}

fn non_blank(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Roles as OCC may carry them: a list of names, a list of principal groups (`uid` or `name`),
/// or one comma-separated string. Names are trimmed, at most 64 characters, at most 32 of them.
fn roles(value: serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let names: Vec<String> = match value {
        Value::String(list) => list.split(',').map(str::to_owned).collect(),
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(name) => Some(name),
                Value::Object(group) => ["uid", "name"]
                    .iter()
                    .find_map(|key| group.get(*key)?.as_str().map(str::to_owned)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut roles: Vec<String> = Vec::new();
    for name in names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty() && n.len() <= 64)
    {
        if roles.len() < 32 && !roles.iter().any(|r| r == name) {
            roles.push(name.to_owned());
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_from_lists_groups_or_a_comma_separated_string() {
        use serde_json::json;
        assert_eq!(
            roles(json!(["coach", "ride-leader"])),
            ["coach", "ride-leader"]
        );
        assert_eq!(
            roles(json!([{"uid": "coach"}, {"name": "marshal"}, 7])),
            ["coach", "marshal"]
        );
        assert_eq!(
            roles(json!(" coach, ,coach ,marshal")),
            ["coach", "marshal"]
        );
        assert!(roles(json!(42)).is_empty());
        assert!(roles(json!(["x".repeat(65)])).is_empty());
        let many: Vec<String> = (0..100).map(|i| format!("r{i}")).collect();
        assert_eq!(roles(json!(many)).len(), 32);
    }
}
