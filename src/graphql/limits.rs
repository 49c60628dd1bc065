//! Limits on a document's shape that the schema's own (depth, complexity, directives)
//! do not cover: lexical tokens and bracket nesting, checked by a scan before parsing
//! (the parser recurses per level, so a document nested thousands deep would exhaust
//! its stack); aliases and root fields, checked on the parsed document before
//! validation. A refusal is GRAPHQL_VALIDATION_FAILED with
//! `extensions.limit` naming the setting.

use std::collections::HashSet;

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult};

use super::errors::ensure_code;

/// The document limits in force.
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    pub max_tokens: usize,
    /// Deepest nesting of `{`, `[` and `(`.
    pub max_nesting: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    /// Whether documents may read the schema (`__schema`, `__type`).
    pub introspection: bool,
}

/// A document refused by a limit (its environment variable), with the allowance.
pub fn limit_error(limit: &'static str, message: String) -> ServerError {
    refusal(limit, "GRAPHQL_VALIDATION_FAILED", message)
}

/// A refusal with `code` naming the limit that refused it.
pub fn refusal(limit: &'static str, code: &'static str, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    name_limit(&mut error, limit);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code);
    error
}

/// A document parsed within the limits.
pub struct Checked {
    pub document: ExecutableDocument,
    /// Its lexical tokens (what its parsed form's size grows with).
    pub tokens: usize,
    /// Its string values (quoted or block strings).
    pub strings: usize,
}

impl DocumentLimits {
    /// Parses a document within the limits: the scan first, then the parse, then the
    /// aliases and root fields of the parsed document.
    pub fn parse(&self, query: &str) -> ServerResult<Checked> {
        let shape = scan(query, self.max_tokens, self.max_nesting);
        if shape.tokens > self.max_tokens {
            return Err(limit_error(
                "MAX_TOKENS",
                format!("the document has more than {} tokens", self.max_tokens),
            ));
        }
        if shape.nesting > self.max_nesting {
            return Err(limit_error(
                "MAX_RECURSIVE_DEPTH",
                format!(
                    "the document nests brackets more than {} deep",
                    self.max_nesting
                ),
            ));
        }
        let document = async_graphql::parser::parse_query(query).map_err(|e| {
            let mut error = ServerError::from(e);
            if error.message.contains("recursion limit exceeded") {
                name_limit(&mut error, "MAX_RECURSIVE_DEPTH");
            }
            ensure_code(&mut error, "GRAPHQL_PARSE_FAILED");
            error
        })?;
        let aliases = count_aliases(&document);
        if aliases > self.max_aliases {
            return Err(limit_error(
                "MAX_ALIASES",
                format!(
                    "the document has {aliases} aliases; at most {} are allowed",
                    self.max_aliases
                ),
            ));
        }
        // async-graphql answers a disabled introspection with nulls; say why instead.
        if !self.introspection && introspects(&document) {
            return Err(limit_error(
                "INTROSPECTION",
                "introspection is disabled on this server (`__schema` and `__type`)".into(),
            ));
        }
        for (_, operation) in document.operations.iter() {
            let roots = count_root_fields(&document, &operation.node.selection_set.node);
            if roots > self.max_root_fields {
                return Err(limit_error(
                    "MAX_ROOT_FIELDS",
                    format!(
                        "an operation selects {roots} root fields; at most {} are allowed",
                        self.max_root_fields
                    ),
                ));
            }
        }
        Ok(Checked {
            document,
            tokens: shape.tokens,
            strings: shape.strings,
        })
    }
}

/// Marks an error as the refusal of the limit set by `variable`.
pub fn name_limit(error: &mut ServerError, variable: &'static str) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("limit", variable);
}

/// What a scan of a document found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Lexical tokens: punctuators, names, numbers, strings (not whitespace, commas
    /// or comments).
    pub tokens: usize,
    /// Deepest nesting of `{`, `[` and `(` outside strings and comments.
    pub nesting: usize,
    /// String values, quoted or block strings (counted among the tokens too).
    pub strings: usize,
}

/// Scans a document, stopping once it has more than `max_tokens` tokens or nests
/// deeper than `max_nesting`.
pub fn scan(text: &str, max_tokens: usize, max_nesting: usize) -> Shape {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut count = 0;
    let mut strings = 0;
    let (mut depth, mut deepest) = (0usize, 0usize);
    while i < bytes.len() && count <= max_tokens && deepest <= max_nesting {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' | 0xEF | 0xBB | 0xBF => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                count += 1;
                strings += 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                count += 1;
                strings += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                i += 3;
                count += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
                count += 1;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
                i += 1;
                count += 1;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
                count += 1;
            }
            _ => {
                i += 1;
                count += 1;
            }
        }
    }
    Shape {
        tokens: count,
        nesting: deepest,
        strings,
    }
}

/// Aliased fields in every operation and fragment of the document.
fn count_aliases(document: &ExecutableDocument) -> usize {
    count_fields(document, &|field| field.alias.is_some())
}

/// Whether the document reads the schema (`__schema` or `__type`), anywhere.
fn introspects(document: &ExecutableDocument) -> bool {
    count_fields(document, &|field| {
        matches!(field.name.node.as_str(), "__schema" | "__type")
    }) > 0
}

/// Fields matching `which` in the document's operations and fragments.
fn count_fields(document: &ExecutableDocument, which: &dyn Fn(&Field) -> bool) -> usize {
    fn walk(set: &SelectionSet, which: &dyn Fn(&Field) -> bool) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    usize::from(which(&field.node)) + walk(&field.node.selection_set.node, which)
                }
                Selection::InlineFragment(inline) => walk(&inline.node.selection_set.node, which),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let in_operations: usize = document
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node, which))
        .sum();
    let in_fragments: usize = document
        .fragments
        .values()
        .map(|f| walk(&f.node.selection_set.node, which))
        .sum();
    in_operations + in_fragments
}

/// Fields an operation selects at its root, through fragments (each fragment once).
fn count_root_fields(document: &ExecutableDocument, root: &SelectionSet) -> usize {
    fn walk<'a>(
        document: &'a ExecutableDocument,
        set: &'a SelectionSet,
        seen: &mut HashSet<&'a str>,
    ) -> usize {
        let mut count = 0;
        for item in &set.items {
            count += match &item.node {
                Selection::Field(_) => 1,
                Selection::InlineFragment(inline) => {
                    walk(document, &inline.node.selection_set.node, seen)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match document.fragments.get(name) {
                        Some(fragment) if seen.insert(name) => {
                            walk(document, &fragment.node.selection_set.node, seen)
                        }
                        _ => 0,
                    }
                }
            };
        }
        count
    }
    walk(document, root, &mut HashSet::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_tokens(text: &str, stop: usize) -> usize {
        scan(text, stop, usize::MAX).tokens
    }

    #[test]
    fn tokens_are_counted_as_the_lexer_sees_them() {
        assert_eq!(count_tokens("{ a }", 100), 3);
        assert_eq!(
            count_tokens("query Q($id: ID!) { team(id: $id) { name } }", 100),
            21
        );
        // Strings, block strings and comments.
        assert_eq!(count_tokens("{ a(x: \"b \\\" c\") # comment\n }", 100), 8);
        assert_eq!(count_tokens("{ a(x: \"\"\" block { } \"\"\") }", 100), 8);
        assert_eq!(
            count_tokens("{ ...F } fragment F on T { a, b, -1.5e3 }", 100),
            13
        );
        // Counting stops just past the limit.
        assert_eq!(count_tokens(&"{ a }".repeat(1000), 10), 11);
    }

    #[test]
    fn nesting_counts_brackets_outside_strings() {
        let shape = scan("{ a(x: [[1]], s: \"{{{[[[\") { b { c } } }", 100, 100);
        assert_eq!(shape.nesting, 4);
        assert_eq!(shape.strings, 1);
        let block = scan(
            "{ a(x: \"\"\" b \\\"\"\" \"\"\", y: \"\") } # \"no\"",
            100,
            100,
        );
        assert_eq!(block.strings, 2);
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            scan(&deep, usize::MAX, 32).nesting,
            33,
            "stops past the limit"
        );
    }

    #[test]
    fn aliases_and_root_fields_follow_fragments() {
        let document = async_graphql::parser::parse_query(
            "query { a: teams { x: id } b: viewer { id } ...F ...F } \
             fragment F on Query { c: organization { id } users { totalCount } }",
        )
        .unwrap();
        assert_eq!(count_aliases(&document), 4);
        let (_, operation) = document.operations.iter().next().unwrap();
        assert_eq!(
            count_root_fields(&document, &operation.node.selection_set.node),
            4
        );
        // A cycle of fragments ends.
        let cyclic = async_graphql::parser::parse_query(
            "{ ...A } fragment A on Query { a ...B } fragment B on Query { b ...A }",
        )
        .unwrap();
        let (_, operation) = cyclic.operations.iter().next().unwrap();
        assert_eq!(
            count_root_fields(&cyclic, &operation.node.selection_set.node),
            2
        );
    }
}
