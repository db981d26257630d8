//! Parsed documents by query text: apps send the same few queries with different variables,
//! so each text is parsed and checked against the shape limits once, not per request.
//!
//! Bounded in entries and in the text size it keeps, and emptied when full: a client sending
//! endless distinct documents costs parses, never memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
}

#[derive(Default)]
pub struct DocumentCache {
    // A std Mutex: nothing awaits while it is held.
    documents: Mutex<HashMap<String, Arc<(ExecutableDocument, &'static str)>>>,
}

impl DocumentCache {
    /// The parsed document of `query` and its operation, or the client's error when the
    /// document exceeds a limit.
    pub fn prepare(&self, query: &str, settings: &HttpSettings) -> Result<Prepared, String> {
        let cached = self.documents().get(query).cloned();
        if let Some(entry) = cached {
            return Ok(Prepared {
                operation: entry.1,
                document: Some(entry.0.clone()),
            });
        }
        let Ok(document) = parse_query(query) else {
            return Ok(Prepared {
                operation: "other",
                document: None,
            });
        };
        let operation = operation_limits::check_document(&document, settings)?;
        if query.len() <= MAX_CACHED_TEXT {
            let mut documents = self.documents();
            if documents.len() >= CAPACITY {
                documents.clear();
            }
            documents.insert(query.to_owned(), Arc::new((document.clone(), operation)));
        }
        Ok(Prepared {
            operation,
            document: Some(document),
        })
    }

    fn documents(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Arc<(ExecutableDocument, &'static str)>>> {
        self.documents.lock().unwrap_or_else(|p| p.into_inner())
    }
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
