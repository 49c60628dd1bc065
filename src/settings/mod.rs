//! Organization settings: typed keys with a description and a category, as the
//! platform's system settings have them. `encrypted` values are sealed with
//! AES-256-GCM under the configured key (bound to their organization and key, so a
//! sealed value copied elsewhere does not open), never shown through the API, and
//! opened only where the server uses them (the `openai` backend's `openai.api_key`).

pub mod queries;
pub mod service;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;

use crate::db::schema::organization_settings;
use crate::db::{Id, Timestamp};
use crate::db_enum;
use crate::error::{AppError, AppResult};

/// The setting the `openai` backend takes an organization's API key from.
pub const OPENAI_API_KEY: &str = "openai.api_key";

db_enum! {
    /// How a setting's value is typed.
    pub enum SettingType {
        /// Any text.
        String => "string",
        /// A whole number (64-bit).
        Int => "int",
        /// `true` or `false`.
        Bool => "bool",
        /// Any JSON value.
        Json => "json",
        /// A secret string, stored sealed and never shown.
        Encrypted => "encrypted",
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organization_settings)]
pub struct Setting {
    pub id: Id,
    pub organization_id: Id,
    pub key: String,
    /// The value as text: the string, the number, `true`/`false`, the JSON, or the
    /// sealed secret (`v1:` and base64 of nonce and ciphertext).
    pub value: String,
    pub data_type: SettingType,
    pub description: Option<String>,
    pub category: String,
    pub updated_by: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Setting {
    /// The typed value; `None` for a secret.
    pub fn typed_value(&self) -> Option<serde_json::Value> {
        match self.data_type {
            SettingType::String => Some(serde_json::Value::String(self.value.clone())),
            SettingType::Int => self.value.parse::<i64>().ok().map(Into::into),
            SettingType::Bool => Some((self.value == "true").into()),
            SettingType::Json => serde_json::from_str(&self.value).ok(),
            SettingType::Encrypted => None,
        }
    }

    /// What a client sees of a secret.
    pub fn mask(&self) -> Option<&'static str> {
        (self.data_type == SettingType::Encrypted).then_some("********")
    }

    /// The setting as the audit trail keeps it (secrets masked).
    pub fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "key": self.key,
            "data_type": self.data_type.as_str(),
            "value": self.typed_value().unwrap_or_else(|| "********".into()),
            "description": self.description,
            "category": self.category,
        })
    }
}

/// Longest stored text of a value.
const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Longest secret.
const MAX_SECRET_CHARS: usize = 4096;

/// A key: 1-100 characters of `a-z`, `0-9`, `.`, `_` and `-`, starting with a letter.
pub fn check_key(key: &str) -> AppResult<String> {
    let key = key.trim();
    let valid = (1..=100).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(AppError::bad_input(
            "key",
            "a key is 1-100 characters of a-z, 0-9, '.', '_' and '-', starting with a letter",
        ));
    }
    Ok(key.to_string())
}

/// The stored text of `value` as `data_type` (secrets not yet sealed), or why it does
/// not fit.
pub fn stored_text(data_type: SettingType, value: &serde_json::Value) -> AppResult<String> {
    let wrong = |what: &str| {
        AppError::bad_input(
            "value",
            format!("a {} setting takes {what}", data_type.as_str()),
        )
    };
    let text = match data_type {
        SettingType::String => value.as_str().ok_or_else(|| wrong("a string"))?.to_string(),
        SettingType::Int => value
            .as_i64()
            .ok_or_else(|| wrong("an integer"))?
            .to_string(),
        SettingType::Bool => value
            .as_bool()
            .ok_or_else(|| wrong("true or false"))?
            .to_string(),
        SettingType::Json => value.to_string(),
        SettingType::Encrypted => {
            let secret = value.as_str().ok_or_else(|| wrong("a string"))?;
            if secret.is_empty() || secret.chars().count() > MAX_SECRET_CHARS {
                return Err(AppError::bad_input(
                    "value",
                    format!("a secret is 1-{MAX_SECRET_CHARS} characters"),
                ));
            }
            secret.to_string()
        }
    };
    if text.len() > MAX_VALUE_BYTES {
        return Err(AppError::bad_input("value", "a value is at most 64 KiB"));
    }
    Ok(text)
}

/// Seals and opens secret settings with the configured AES-256-GCM key.
#[derive(Clone)]
pub struct SettingsCipher {
    // Shared: the key schedule is about a kilobyte, and the state that holds it is
    // cloned for every connection and request.
    cipher: std::sync::Arc<Aes256Gcm>,
}

impl std::fmt::Debug for SettingsCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SettingsCipher(..)")
    }
}

/// The version prefix of sealed values, so the format can change.
const SEALED: &str = "v1:";

impl SettingsCipher {
    pub fn new(key: &[u8; 32]) -> SettingsCipher {
        SettingsCipher {
            cipher: std::sync::Arc::new(Aes256Gcm::new(key.into())),
        }
    }

    /// Parses a key given as 64 hex digits or as base64 of 32 bytes.
    pub fn parse_key(text: &str) -> Option<[u8; 32]> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex::decode(text).ok()?
        } else {
            STANDARD.decode(text).ok()?
        };
        bytes.try_into().ok()
    }

    /// What binds a sealed value to its place.
    fn context(org: Id, key: &str) -> Vec<u8> {
        format!("{org}/{key}").into_bytes()
    }

    pub fn seal(&self, org: Id, key: &str, secret: &str) -> AppResult<String> {
        use rand::RngCore;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = Self::context(org, key);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| AppError::Internal("sealing a setting failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED}{}", STANDARD.encode(out)))
    }

    /// Opens a sealed value; `None` when it was sealed under another key or place.
    pub fn open(&self, org: Id, key: &str, stored: &str) -> Option<String> {
        let bytes = STANDARD.decode(stored.strip_prefix(SEALED)?).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let aad = Self::context(org, key);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_place() {
        let cipher = SettingsCipher::new(&[7u8; 32]);
        let (org, other) = (Id::new(), Id::new());
        let sealed = cipher.seal(org, OPENAI_API_KEY, "sk-secret").unwrap();
        assert!(sealed.starts_with("v1:") && !sealed.contains("sk-secret"));
        assert_eq!(
            cipher.open(org, OPENAI_API_KEY, &sealed).as_deref(),
            Some("sk-secret")
        );
        assert_eq!(cipher.open(other, OPENAI_API_KEY, &sealed), None);
        assert_eq!(cipher.open(org, "other.key", &sealed), None);
        let wrong_key = SettingsCipher::new(&[8u8; 32]);
        assert_eq!(wrong_key.open(org, OPENAI_API_KEY, &sealed), None);
        // Each sealing draws a new nonce.
        assert_ne!(
            sealed,
            cipher.seal(org, OPENAI_API_KEY, "sk-secret").unwrap()
        );
    }

    #[test]
    fn values_are_checked_against_their_type() {
        use serde_json::json;
        assert_eq!(stored_text(SettingType::Int, &json!(42)).unwrap(), "42");
        assert!(stored_text(SettingType::Int, &json!("42")).is_err());
        assert_eq!(
            stored_text(SettingType::Bool, &json!(false)).unwrap(),
            "false"
        );
        assert_eq!(
            stored_text(SettingType::Json, &json!({"a": [1]})).unwrap(),
            r#"{"a":[1]}"#
        );
        assert!(stored_text(SettingType::Encrypted, &json!("")).is_err());
        assert!(check_key("openai.api_key").is_ok());
        assert!(check_key("OpenAI").is_err());
        assert!(check_key("9lives").is_err());
        assert_eq!(
            SettingsCipher::parse_key(&"ab".repeat(32)),
            Some([0xab; 32])
        );
        assert_eq!(SettingsCipher::parse_key("short"), None);
    }
}
