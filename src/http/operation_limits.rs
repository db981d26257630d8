//! Limits on the shape of a document that async-graphql does not enforce itself: aliases and
//! root fields. Aliases multiply work (and, for `login`, guesses) inside one request.

use async_graphql::parser::{
    parse_query,
    types::{ExecutableDocument, Selection, SelectionSet},
};

use crate::config::HttpSettings;

/// `Err` with a message for the client when the document exceeds a limit. Documents that do
/// not parse pass here and get async-graphql's syntax error.
pub fn check(query: &str, settings: &HttpSettings) -> Result<(), String> {
    let Ok(document) = parse_query(query) else {
        return Ok(());
    };
    let aliases = count_aliases(&document);
    if aliases > settings.max_aliases {
        return Err(format!(
            "the operation uses {aliases} aliases; at most {} are allowed",
            settings.max_aliases
        ));
    }
    for (_, operation) in document.operations.iter() {
        let roots = operation.node.selection_set.node.items.len();
        if roots > settings.max_root_fields {
            return Err(format!(
                "the operation selects {roots} root fields; at most {} are allowed",
                settings.max_root_fields
            ));
        }
    }
    Ok(())
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
