//! Limits on the shape of a document that async-graphql does not enforce itself: aliases and
//! root fields. Aliases multiply work (and, for `login`, guesses) inside one request.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

use super::HttpSettings;

/// Root fields of our schema: the only values the operation metric label takes. A test checks
/// that every root field of the schema is here.
const KNOWN_ROOT_FIELDS: &[&str] = &[
    "login",
    "refreshSession",
    "logout",
    "revokeSession",
    "updateDevice",
    "touchSession",
    "createPartnerToken",
    "sendLoginCode",
    "loginWithCode",
    "sendPhoneVerificationCode",
    "verifyPhone",
    "removePhone",
    "createLoginNonce",
    "loginWithSocial",
    "linkSocialAccount",
    "unlinkSocialAccount",
    "deleteAccount",
    "me",
    "currentSession",
    "sessions",
    "sessionStatus",
    "serviceStatus",
    "securityActivity",
    "__schema",
    "__type",
    "__typename",
];

/// `Err` with a message for the client when the document exceeds a limit; else the name of its
/// first root field, for metrics ("other" when it is not one of ours).
pub fn check_document(
    document: &ExecutableDocument,
    settings: &HttpSettings,
) -> Result<&'static str, String> {
    let aliases = count_aliases(document);
    if aliases > settings.max_aliases {
        return Err(format!(
            "the operation uses {aliases} aliases; at most {} are allowed",
            settings.max_aliases
        ));
    }
    let mut first_root = None;
    for (_, operation) in document.operations.iter() {
        let roots = &operation.node.selection_set.node.items;
        if roots.len() > settings.max_root_fields {
            return Err(format!(
                "the operation selects {} root fields; at most {} are allowed",
                roots.len(),
                settings.max_root_fields
            ));
        }
        if first_root.is_none()
            && let Some(Selection::Field(field)) = roots.first().map(|s| &s.node)
        {
            first_root = Some(field.node.name.node.to_string());
        }
    }
    Ok(first_root
        .and_then(|name| {
            KNOWN_ROOT_FIELDS
                .iter()
                .find(|known| **known == name)
                .copied()
        })
        .unwrap_or("other"))
}

fn count_aliases(document: &ExecutableDocument) -> usize {
    let operations = document
        .operations
        .iter()
        .map(|(_, op)| count_in(&op.node.selection_set.node));
    let fragments = document
        .fragments
        .values()
        .map(|f| count_in(&f.node.selection_set.node));
    operations.chain(fragments).sum()
}

fn count_in(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + count_in(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_in(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_root_field_of_the_schema_is_a_known_metric_label() {
        let sdl = crate::graphql::sdl();
        for root in ["type Query {", "type Mutation {"] {
            let body = sdl
                .split(root)
                .nth(1)
                .and_then(|rest| rest.split('}').next());
            let mut in_description = false;
            for line in body.expect("the root type is in the SDL").lines() {
                let line = line.trim();
                if line.starts_with("\"\"\"") {
                    // A block description opens or closes (or both, on one line).
                    let one_line = line.len() > 3 && line.ends_with("\"\"\"");
                    in_description = in_description == one_line;
                    continue;
                }
                if in_description || line.is_empty() || line.starts_with('"') {
                    continue;
                }
                let name = line.split(['(', ':']).next().unwrap().trim();
                assert!(
                    KNOWN_ROOT_FIELDS.contains(&name),
                    "{name} is missing from KNOWN_ROOT_FIELDS: its requests are labelled \"other\""
                );
            }
        }
    }
}
