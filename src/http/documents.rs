//! Parsed documents by query text: apps send the same few queries with different variables,
//! so each text is parsed and checked against the shape limits once, not per request.
//!
//! Bounded in entries and in the text size it keeps, and emptied when full: a client sending
//! endless distinct documents costs parses, never memory.
//!
//! A document that declares no variables validates the same way on every request (the schema,
//! the text and nothing else decide it), so once it has passed async-graphql's full validation
//! its later requests run under the fast mode, which still checks complexity and depth. A
//! document with variables is validated in full every time: its arguments are checked against
//! each request's values. This rests on async-graphql 7.2's validation reading no request
//! data and using the operation name only to pick variables: check it again on an upgrade.

use std::collections::HashMap;
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::parser::{parse_query, types::ExecutableDocument};

use super::{HttpSettings, operation_limits};

/// Distinct documents kept.
const CAPACITY: usize = 256;
/// Longer query texts are parsed every time (apps' queries are far shorter).
const MAX_CACHED_TEXT: usize = 8 * 1024;

/// A document that passed the shape limits.
pub struct Prepared {
    /// The first root field, for the metric label.
    pub operation: &'static str,
    /// `None` when the text does not parse: async-graphql reports the syntax error.
    pub document: Option<ExecutableDocument>,
    /// For a cached document that declares no variables: whether it has passed the full
    /// validation before. `None` for any other.
    pub validated: Option<Validated>,
}

/// Whether a variable-free document passed the full validation; shared by its cache entry.
#[derive(Clone, Default)]
pub struct Validated(Arc<AtomicBool>);

impl Validated {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Called once a request of the document got past validation (a field ran).
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

struct Entry {
    document: ExecutableDocument,
    operation: &'static str,
    validated: Option<Validated>,
}

#[derive(Default)]
pub struct DocumentCache {
    // A std Mutex: nothing awaits while it is held.
    documents: Mutex<HashMap<String, Arc<Entry>>>,
}

impl DocumentCache {
    /// The parsed document of `query` and its operation, or the client's error when the
    /// document exceeds a limit.
    pub fn prepare(&self, query: &str, settings: &HttpSettings) -> Result<Prepared, String> {
        let cached = self.documents().get(query).cloned();
        if let Some(entry) = cached {
            return Ok(Prepared {
                operation: entry.operation,
                document: Some(entry.document.clone()),
                validated: entry.validated.clone(),
            });
        }
        let Ok(document) = parse_query(query) else {
            return Ok(Prepared {
                operation: "other",
                document: None,
                validated: None,
            });
        };
        let operation = operation_limits::check_document(&document, settings)?;
        let mut validated = None;
        if query.len() <= MAX_CACHED_TEXT {
            validated = declares_no_variables(&document).then(Validated::default);
            let mut documents = self.documents();
            if documents.len() >= CAPACITY {
                documents.clear();
            }
            let entry = Entry {
                document: document.clone(),
                operation,
                validated: validated.clone(),
            };
            documents.insert(query.to_owned(), Arc::new(entry));
        }
        Ok(Prepared {
            operation,
            document: Some(document),
            validated,
        })
    }

    fn documents(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        self.documents.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// No operation declares a variable. (A fragment using one then fails validation, and a
/// document that fails is never marked validated.)
fn declares_no_variables(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .all(|(_, operation)| operation.node.variable_definitions.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> HttpSettings {
        HttpSettings {
            trusted_proxies: vec![],
            cors_allowed_origins: vec![],
            introspection: false,
            graphiql: false,
            max_depth: 20,
            max_complexity: 300,
            max_aliases: 15,
            max_root_fields: 10,
            request_timeout: std::time::Duration::from_secs(30),
        }
    }

    #[test]
    fn a_text_is_parsed_once_and_a_document_over_the_limits_is_refused_every_time() {
        let cache = DocumentCache::default();
        let settings = settings();
        for _ in 0..3 {
            let prepared = cache.prepare("{ me { id } }", &settings).unwrap();
            assert_eq!(prepared.operation, "me");
            assert!(prepared.document.is_some());
        }
        assert_eq!(cache.documents().len(), 1);
        let aliases = format!(
            "{{ {} }}",
            (0..=settings.max_aliases)
                .map(|i| format!("a{i}: me {{ id }}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        for _ in 0..2 {
            assert!(cache.prepare(&aliases, &settings).is_err());
        }
        let broken = cache.prepare("{ me { id ", &settings).unwrap();
        assert!(broken.document.is_none() && broken.operation == "other");
        assert_eq!(
            cache.documents().len(),
            1,
            "only documents that passed are kept"
        );
    }

    #[test]
    fn only_a_document_without_variables_shares_whether_it_passed_validation() {
        let cache = DocumentCache::default();
        let settings = settings();
        let first = cache.prepare("{ me { id } }", &settings).unwrap();
        let flag = first
            .validated
            .expect("a variable-free document has a flag");
        assert!(!flag.get(), "nothing validated it yet");
        flag.set();
        let again = cache.prepare("{ me { id } }", &settings).unwrap();
        assert!(
            again.validated.is_some_and(|v| v.get()),
            "the entry shares it"
        );
        let with_variables =
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }";
        for _ in 0..2 {
            let prepared = cache.prepare(with_variables, &settings).unwrap();
            assert!(prepared.validated.is_none(), "validated in full every time");
        }
        let long = format!("{{ me {{ id }} }} # {}", "x".repeat(MAX_CACHED_TEXT));
        assert!(
            cache.prepare(&long, &settings).unwrap().validated.is_none(),
            "not cached: no flag"
        );
    }

    #[test]
    fn distinct_texts_never_grow_it_past_its_capacity() {
        let cache = DocumentCache::default();
        let settings = settings();
        for i in 0..(CAPACITY * 3) {
            cache
                .prepare(&format!("query Q{i} {{ me {{ id }} }}"), &settings)
                .unwrap();
        }
        assert!(cache.documents().len() <= CAPACITY);
    }
}
