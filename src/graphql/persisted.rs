//! Persisted documents: Apollo's automatic persisted queries (a client sends a
//! document's SHA-256 instead of its text once the server has seen it), and a
//! trusted-documents mode in which only documents of a manifest run, except for
//! organization admins.
//!
//! Both read `extensions.persistedQuery = { version: 1, sha256Hash }` of a request;
//! the manifest is either the Apollo persisted query manifest
//! (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}`)
//! or a JSON object of hash to document (GraphQL Code Generator's
//! `persisted-documents.json`).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_graphql::{Request, ServerError, Value};
use sha2::{Digest, Sha256};

use super::limits::refusal;

/// Most bytes of document text the automatic cache keeps; the oldest go first.
const APQ_MAX_BYTES: usize = 32 * 1024 * 1024;

/// Documents known by their hash.
pub struct PersistedDocuments {
    /// Automatic persisted queries, when enabled.
    automatic: Option<Mutex<AutomaticCache>>,
    /// The trusted documents, when the mode is on.
    trusted: Option<HashMap<String, Arc<str>>>,
}

/// The automatic cache: bounded in entries and bytes, oldest evicted first.
struct AutomaticCache {
    documents: HashMap<String, Arc<str>>,
    order: VecDeque<String>,
    bytes: usize,
    max_entries: usize,
}

impl AutomaticCache {
    fn insert(&mut self, hash: String, text: Arc<str>) {
        if self.documents.contains_key(&hash) || text.len() > APQ_MAX_BYTES {
            return;
        }
        self.bytes += text.len();
        self.order.push_back(hash.clone());
        self.documents.insert(hash, text);
        while self.documents.len() > self.max_entries || self.bytes > APQ_MAX_BYTES {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(text) = self.documents.remove(&oldest) {
                self.bytes -= text.len();
            }
        }
    }
}

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a persisted document manifest: {reason}")]
    Invalid { path: String, reason: String },
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn coded(code: &'static str, message: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

impl PersistedDocuments {
    /// `automatic_entries` documents cached for APQ (0 turns APQ off); the trusted
    /// documents of `manifest`, if given.
    pub fn new(
        automatic_entries: usize,
        manifest: Option<&Path>,
    ) -> Result<PersistedDocuments, ManifestError> {
        let trusted = manifest.map(load_manifest).transpose()?;
        Ok(PersistedDocuments {
            automatic: (automatic_entries > 0).then(|| {
                Mutex::new(AutomaticCache {
                    documents: HashMap::new(),
                    order: VecDeque::new(),
                    bytes: 0,
                    max_entries: automatic_entries,
                })
            }),
            trusted,
        })
    }

    /// Fills in the document of a request that names it by hash, registers one sent
    /// with its hash, and, in trusted-documents mode, refuses a document outside the
    /// manifest unless `privileged` (an organization admin).
    pub fn resolve(&self, request: &mut Request, privileged: bool) -> Result<(), ServerError> {
        let named = persisted_hash(request)?;
        if let Some(hash) = &named {
            if request.query.trim().is_empty() {
                match self.lookup(hash) {
                    Some(text) => request.query = text.to_string(),
                    None if self.automatic.is_some() => {
                        return Err(coded("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound"));
                    }
                    None if self.trusted.is_some() => {
                        return Err(not_in_list());
                    }
                    None => {
                        return Err(coded(
                            "PERSISTED_QUERY_NOT_SUPPORTED",
                            "PersistedQueryNotSupported",
                        ));
                    }
                }
            } else {
                if sha256_hex(&request.query) != *hash {
                    return Err(coded(
                        "PERSISTED_QUERY_HASH_MISMATCH",
                        "provided sha256Hash does not match the query",
                    ));
                }
                if let Some(cache) = &self.automatic
                    && (privileged || self.is_trusted(hash))
                {
                    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                    cache.insert(hash.clone(), request.query.as_str().into());
                }
            }
        }
        if let Some(trusted) = &self.trusted
            && !privileged
        {
            let hash = match named {
                Some(hash) => hash,
                None => sha256_hex(&request.query),
            };
            if !trusted.contains_key(&hash) {
                return Err(not_in_list());
            }
        }
        Ok(())
    }

    /// The document a request names by hash, if this server knows it.
    pub fn known(&self, request: &Request) -> Option<Arc<str>> {
        let hash = persisted_hash(request).ok()??;
        self.lookup(&hash)
    }

    fn lookup(&self, hash: &str) -> Option<Arc<str>> {
        self.trusted
            .as_ref()
            .and_then(|trusted| trusted.get(hash).cloned())
            .or_else(|| {
                self.automatic.as_ref().and_then(|cache| {
                    let cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                    cache.documents.get(hash).cloned()
                })
            })
    }

    fn is_trusted(&self, hash: &str) -> bool {
        self.trusted.as_ref().is_none_or(|t| t.contains_key(hash))
    }

    /// Documents in the manifest (0 when the mode is off).
    pub fn trusted_count(&self) -> usize {
        self.trusted.as_ref().map_or(0, HashMap::len)
    }
}

fn not_in_list() -> ServerError {
    refusal(
        "TRUSTED_DOCUMENTS",
        "PERSISTED_QUERY_NOT_IN_LIST",
        "only the trusted documents of this server run here: send one of them (by its \
         sha256Hash in extensions.persistedQuery, or as its exact text)"
            .to_string(),
    )
}

/// The lowercase hex SHA-256 a request names in `extensions.persistedQuery`, if any.
fn persisted_hash(request: &Request) -> Result<Option<String>, ServerError> {
    let Some(persisted) = request.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let Value::Object(fields) = persisted else {
        return Err(coded(
            "BAD_REQUEST",
            "extensions.persistedQuery must be an object",
        ));
    };
    let version = fields.get("version");
    if !matches!(version, Some(Value::Number(n)) if n.as_i64() == Some(1)) {
        return Err(coded(
            "PERSISTED_QUERY_NOT_SUPPORTED",
            "only version 1 of persisted queries is supported",
        ));
    }
    match fields.get("sha256Hash") {
        Some(Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(Some(hash.to_ascii_lowercase()))
        }
        _ => Err(coded(
            "BAD_REQUEST",
            "extensions.persistedQuery.sha256Hash must be 64 hex digits",
        )),
    }
}

/// Reads a manifest, checking that every document matches its hash.
fn load_manifest(path: &Path) -> Result<HashMap<String, Arc<str>>, ManifestError> {
    let name = path.display().to_string();
    let invalid = |reason: String| ManifestError::Invalid {
        path: name.clone(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: name.clone(),
        source,
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let pairs: Vec<(String, String)> = match json.get("operations") {
        // Apollo's manifest: ids are the body's SHA-256.
        Some(serde_json::Value::Array(operations)) => operations
            .iter()
            .map(|operation| {
                let field = |name: &str| operation.get(name).and_then(|v| v.as_str());
                match (field("id"), field("body")) {
                    (Some(id), Some(body)) => Ok((id.to_string(), body.to_string())),
                    _ => Err(invalid("every operation needs `id` and `body`".into())),
                }
            })
            .collect::<Result<_, _>>()?,
        _ => match &json {
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(hash, body)| match body.as_str() {
                    Some(body) => Ok((hash.clone(), body.to_string())),
                    None => Err(invalid(format!("the document of {hash} is not a string"))),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(invalid("expected a JSON object".into())),
        },
    };
    let mut documents = HashMap::with_capacity(pairs.len());
    for (hash, body) in pairs {
        let hash = hash
            .strip_prefix("sha256:")
            .unwrap_or(&hash)
            .to_ascii_lowercase();
        let actual = sha256_hex(&body);
        if actual != hash {
            return Err(invalid(format!(
                "the document listed as {hash} hashes to {actual}"
            )));
        }
        documents.insert(hash, Arc::from(body));
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_cache_is_bounded() {
        let mut cache = AutomaticCache {
            documents: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_entries: 2,
        };
        for n in 0..3 {
            cache.insert(format!("h{n}"), Arc::from(format!("{{ a{n} }}")));
        }
        assert_eq!(cache.documents.len(), 2);
        assert!(!cache.documents.contains_key("h0"), "the oldest went first");
        assert_eq!(cache.bytes, 2 * "{ a0 }".len());
    }
}
