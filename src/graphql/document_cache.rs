//! Parsed documents kept by their text. A client's operations are fixed when it is
//! built, so nearly every request repeats a document the process has seen: kept, it
//! skips the scan, the parse and the limit checks, and the tree's allocations (3.3%
//! of the instructions of the benchmark's nested read on PostgreSQL).
//!
//! Only documents that passed every limit are kept, and the limits are the process's
//! own, fixed at start, so a kept document has passed the limits in force. What a
//! request may run (trusted documents, APQ) is decided before the cache is asked.
//! Documents holding a string value are not kept: the cache serves every organization,
//! and such a document may carry its sender's data (an email, an id, a secret), which a
//! faster answer would tell another caller had been sent; typed clients pass values as
//! variables. Each request executes its own copy: execution edits the document (it
//! drops the selections `@skip`/`@include` rule out for the request's variables).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Name, ServerResult};

use super::limits::Checked;
use crate::metrics::{Metrics, locked};

/// Most bytes kept, all documents together, as estimated by [`BYTES_PER_TOKEN`]; the
/// least recently used go first.
const MAX_BYTES: usize = 24 * 1024 * 1024;

/// The memory a parsed document takes per lexical token, at most: about 250 bytes
/// measured on documents of nothing but one-letter fields or arguments (168 for the
/// benchmark's), with a margin. Its text (comments included) counts besides.
const BYTES_PER_TOKEN: usize = 320;

/// The most entries `DOCUMENT_CACHE_ENTRIES` may ask for: eviction scans them, under
/// the cache's lock.
pub const MAX_ENTRIES: usize = 10_000;

/// A document that passed the limits, parsed.
pub struct ParsedDocument {
    /// The text as sent.
    pub text: Arc<str>,
    pub document: ExecutableDocument,
    /// The memory it takes, estimated.
    bytes: usize,
}

impl ParsedDocument {
    /// The document for one request to execute: the parsed document itself when
    /// nothing else holds it (the cache is off, or did not keep it), a copy otherwise.
    pub fn for_request(self: Arc<Self>) -> ExecutableDocument {
        match Arc::try_unwrap(self) {
            Ok(only) => only.document,
            Err(kept) => kept.copy(),
        }
    }

    /// A copy for one request to execute, with field names of its own. Every object of
    /// a response clones its fields' names (reference-counted strings) as its keys:
    /// shared by the requests running on both cores, those counts bounced between the
    /// cores' caches (measured: 5% fewer requests a second at 32 connections than
    /// parsing each time, despite 3% fewer instructions).
    fn copy(&self) -> ExecutableDocument {
        let mut document = self.document.clone();
        match &mut document.operations {
            DocumentOperations::Single(operation) => {
                own_names(&mut operation.node.selection_set.node)
            }
            DocumentOperations::Multiple(operations) => {
                for operation in operations.values_mut() {
                    own_names(&mut operation.node.selection_set.node);
                }
            }
        }
        for fragment in document.fragments.values_mut() {
            own_names(&mut fragment.node.selection_set.node);
        }
        document
    }
}

/// Gives the fields of `set`, at every depth, names (and aliases) of their own. The
/// depth is bounded: only documents within `MAX_RECURSIVE_DEPTH` are kept.
fn own_names(set: &mut SelectionSet) {
    for selection in &mut set.items {
        match &mut selection.node {
            Selection::Field(field) => {
                let field = &mut field.node;
                field.name.node = Name::new(field.name.node.as_str());
                if let Some(alias) = &mut field.alias {
                    alias.node = Name::new(alias.node.as_str());
                }
                own_names(&mut field.selection_set.node);
            }
            Selection::InlineFragment(fragment) => own_names(&mut fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// Parsed documents by text, bounded in entries and bytes.
pub struct DocumentCache {
    /// None when the cache is off.
    kept: Option<Mutex<Kept>>,
    metrics: Metrics,
}

struct Kept {
    documents: HashMap<Arc<str>, Slot>,
    bytes: usize,
    max_entries: usize,
    /// Counts uses, so the least recently used slot has the smallest `used`.
    clock: u64,
}

struct Slot {
    parsed: Arc<ParsedDocument>,
    used: u64,
}

impl DocumentCache {
    /// A cache of `max_entries` documents (0 turns it off; at most [`MAX_ENTRIES`]),
    /// counting its hits and misses in `metrics`.
    pub fn new(max_entries: usize, metrics: Metrics) -> DocumentCache {
        DocumentCache {
            kept: (max_entries > 0).then(|| {
                Mutex::new(Kept {
                    documents: HashMap::new(),
                    bytes: 0,
                    max_entries: max_entries.min(MAX_ENTRIES),
                    clock: 0,
                })
            }),
            metrics,
        }
    }

    /// The document of `text`, kept, or parsed by `parse` (which checks the limits)
    /// and kept if it passed and holds no string value.
    pub fn parse(
        &self,
        text: &str,
        parse: impl FnOnce(&str) -> ServerResult<Checked>,
    ) -> ServerResult<Arc<ParsedDocument>> {
        let parsed_from = |checked: Checked| {
            let parsed = ParsedDocument {
                text: text.into(),
                document: checked.document,
                bytes: text.len() + checked.tokens.saturating_mul(BYTES_PER_TOKEN),
            };
            (Arc::new(parsed), checked.strings == 0)
        };
        let Some(kept) = &self.kept else {
            return parse(text).map(|checked| parsed_from(checked).0);
        };
        if let Some(parsed) = locked(kept).get(text) {
            self.metrics.document_cache(true);
            return Ok(parsed);
        }
        self.metrics.document_cache(false);
        // Parsed outside the lock: a parse takes far longer than a lookup.
        let (parsed, keep) = parse(text).map(parsed_from)?;
        if keep {
            locked(kept).insert(parsed.clone());
        }
        Ok(parsed)
    }
}

impl Kept {
    fn get(&mut self, text: &str) -> Option<Arc<ParsedDocument>> {
        self.clock += 1;
        let slot = self.documents.get_mut(text)?;
        slot.used = self.clock;
        Some(slot.parsed.clone())
    }

    fn insert(&mut self, parsed: Arc<ParsedDocument>) {
        // Two requests may have parsed the same new document at once.
        if parsed.bytes > MAX_BYTES || self.documents.contains_key(&parsed.text) {
            return;
        }
        // Eviction happens on a miss only, so it is found by a scan rather than by an
        // order kept up to date on every hit: usually one document goes, found in one
        // scan; when a large one needs more room, one sort finds them all.
        if !self.fits(parsed.bytes) {
            let oldest = self
                .documents
                .iter()
                .min_by_key(|(_, slot)| slot.used)
                .map(|(text, _)| text.clone());
            if let Some(text) = oldest {
                self.remove(&text);
            }
        }
        if !self.fits(parsed.bytes) {
            let mut by_age: Vec<(u64, Arc<str>)> = self
                .documents
                .iter()
                .map(|(text, slot)| (slot.used, text.clone()))
                .collect();
            by_age.sort_unstable_by_key(|(used, _)| *used);
            for (_, text) in by_age {
                if self.fits(parsed.bytes) {
                    break;
                }
                self.remove(&text);
            }
        }
        self.clock += 1;
        self.bytes += parsed.bytes;
        let slot = Slot {
            parsed: parsed.clone(),
            used: self.clock,
        };
        self.documents.insert(parsed.text.clone(), slot);
    }

    /// Whether a document of `bytes` can join without evicting any.
    fn fits(&self, bytes: usize) -> bool {
        self.documents.len() < self.max_entries && self.bytes + bytes <= MAX_BYTES
    }

    fn remove(&mut self, text: &str) {
        if let Some(slot) = self.documents.remove(text) {
            self.bytes -= slot.parsed.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::graphql::limits::scan;

    /// A parse without limits that counts its calls.
    fn parse_counting(calls: &Cell<usize>) -> impl Fn(&str) -> ServerResult<Checked> + '_ {
        move |text| {
            calls.set(calls.get() + 1);
            let shape = scan(text, usize::MAX, usize::MAX);
            Ok(Checked {
                document: async_graphql::parser::parse_query(text)?,
                tokens: shape.tokens,
                strings: shape.strings,
            })
        }
    }

    #[test]
    fn keeps_the_most_recently_used_documents() {
        let cache = DocumentCache::new(2, Metrics::default());
        let calls = Cell::new(0);
        let parse = parse_counting(&calls);
        let a = cache.parse("{ a }", &parse).expect("parses");
        assert_eq!(calls.get(), 1);
        let again = cache.parse("{ a }", &parse).expect("kept");
        assert_eq!(calls.get(), 1, "a kept document is not parsed again");
        assert!(Arc::ptr_eq(&a, &again));
        cache.parse("{ b }", &parse).expect("parses");
        // `{ a }` used after `{ b }`: a third document evicts `{ b }`.
        cache.parse("{ a }", &parse).expect("kept");
        cache.parse("{ c }", &parse).expect("parses");
        assert_eq!(calls.get(), 3);
        cache.parse("{ a }", &parse).expect("kept");
        assert_eq!(calls.get(), 3, "the most recently used stayed");
        cache.parse("{ b }", &parse).expect("parses");
        assert_eq!(calls.get(), 4, "the least recently used went");
    }

    #[test]
    fn copies_have_field_names_of_their_own() {
        let cache = DocumentCache::new(2, Metrics::default());
        let calls = Cell::new(0);
        let text = "query A { a: viewer { ... on Viewer { user { id } } ...F } } \
                    query B { viewer { user { id } } } fragment F on Viewer { organization { id } }";
        let parsed = cache.parse(text, parse_counting(&calls)).expect("parses");
        // Kept, so each request gets a copy.
        let (one, two) = (parsed.clone().for_request(), parsed.clone().for_request());
        // Every field name and alias, in operation and fragment order.
        fn names(document: &ExecutableDocument) -> Vec<Name> {
            fn walk(set: &SelectionSet, out: &mut Vec<Name>) {
                for selection in &set.items {
                    match &selection.node {
                        Selection::Field(field) => {
                            out.extend(field.node.alias.iter().map(|a| a.node.clone()));
                            out.push(field.node.name.node.clone());
                            walk(&field.node.selection_set.node, out);
                        }
                        Selection::InlineFragment(fragment) => {
                            walk(&fragment.node.selection_set.node, out)
                        }
                        Selection::FragmentSpread(_) => {}
                    }
                }
            }
            let mut out = Vec::new();
            let mut operations: Vec<_> = document.operations.iter().collect();
            operations.sort_by_key(|(name, _)| name.map(|n| n.to_string()));
            for (_, operation) in operations {
                walk(&operation.node.selection_set.node, &mut out);
            }
            for fragment in document.fragments.values() {
                walk(&fragment.node.selection_set.node, &mut out);
            }
            out
        }
        let (kept, one, two) = (names(&parsed.document), names(&one), names(&two));
        assert_eq!(kept.len(), 9);
        assert_eq!(one, kept, "the same names");
        for ((kept, one), two) in kept.iter().zip(&one).zip(&two) {
            let text = |name: &Name| name.as_str().as_ptr();
            assert!(
                text(kept) != text(one) && text(one) != text(two),
                "{kept} shared"
            );
        }
    }

    #[test]
    fn keeps_no_refused_document_and_nothing_when_off() {
        let cache = DocumentCache::new(8, Metrics::default());
        let calls = Cell::new(0);
        let parse = parse_counting(&calls);
        for _ in 0..2 {
            assert!(cache.parse("{ a", &parse).is_err());
        }
        assert_eq!(calls.get(), 2, "a refused document is checked every time");

        let off = DocumentCache::new(0, Metrics::default());
        for _ in 0..2 {
            off.parse("{ a }", &parse).expect("parses");
        }
        assert_eq!(calls.get(), 4);
    }

    #[test]
    fn keeps_no_document_with_a_string_value() {
        let cache = DocumentCache::new(8, Metrics::default());
        let calls = Cell::new(0);
        let parse = parse_counting(&calls);
        for text in [
            r#"{ a(email: "someone@example.com") }"#,
            r#"{ a(x: """b""") }"#,
        ] {
            for _ in 0..2 {
                cache.parse(text, &parse).expect("parses");
            }
        }
        assert_eq!(calls.get(), 4, "parsed every time");
        // A string in a comment is no value.
        for _ in 0..2 {
            cache.parse("{ a } # \"b\"", &parse).expect("parses");
        }
        assert_eq!(calls.get(), 5);
    }

    fn kept_bytes(cache: &DocumentCache) -> (usize, usize) {
        let kept = locked(cache.kept.as_ref().expect("on"));
        (kept.documents.len(), kept.bytes)
    }

    #[test]
    fn bounds_the_memory_kept() {
        let cache = DocumentCache::new(MAX_ENTRIES, Metrics::default());
        let calls = Cell::new(0);
        let parse = parse_counting(&calls);
        // Documents of about a third of the budget in tokens: the third evicts the first.
        let third = MAX_BYTES / BYTES_PER_TOKEN / 3;
        let big = |name: &str| format!("{{ {} }}", name.repeat(third));
        for name in ["a ", "b ", "c "] {
            cache.parse(&big(name), &parse).expect("parses");
        }
        let (entries, bytes) = kept_bytes(&cache);
        assert_eq!(entries, 2);
        assert!(bytes <= MAX_BYTES, "{bytes}");
        cache.parse(&big("b "), &parse).expect("kept");
        assert_eq!(calls.get(), 3);
        cache.parse(&big("a "), &parse).expect("parsed again");
        assert_eq!(calls.get(), 4, "the first went");

        // Few tokens but a long comment: the text counts.
        let commented = |name: &str| format!("{{ {name} }} #{}", "x".repeat(MAX_BYTES / 2));
        for name in ["d", "e"] {
            cache.parse(&commented(name), &parse).expect("parses");
        }
        let (entries, bytes) = kept_bytes(&cache);
        assert_eq!(entries, 1, "the second leaves room for nothing else");
        assert!(bytes <= MAX_BYTES, "{bytes}");

        // Many small documents, then one that needs room of them all.
        for i in 0..100 {
            cache.parse(&format!("{{ f{i} }}"), &parse).expect("parses");
        }
        assert_eq!(kept_bytes(&cache).0, 101);
        // `h` evicts the commented document; `i` needs the room of every small one and
        // of `g` besides (the sort).
        for name in ["g ", "h ", "i "] {
            cache.parse(&big(name), &parse).expect("parses");
        }
        let (entries, bytes) = kept_bytes(&cache);
        assert_eq!(entries, 2, "{bytes}");
        assert!(bytes <= MAX_BYTES, "{bytes}");
        let before = calls.get();
        cache.parse(&big("h "), &parse).expect("kept");
        cache.parse(&big("i "), &parse).expect("kept");
        assert_eq!(calls.get(), before, "the two most recent stayed");

        // One document over the whole budget is parsed, not kept.
        let huge = format!("{{ {} }}", "j ".repeat(MAX_BYTES / BYTES_PER_TOKEN + 1));
        cache.parse(&huge, &parse).expect("parses");
        assert!(
            !locked(cache.kept.as_ref().expect("on"))
                .documents
                .contains_key(huge.as_str())
        );
    }
}
