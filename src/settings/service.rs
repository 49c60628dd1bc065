//! Setting changes (validated, sealed when secret, audited) and the server's own reads
//! of secrets.

use super::{Setting, SettingType, SettingsCipher, check_key, queries, stored_text};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Id, Timestamp};
use crate::error::{AppError, AppResult};
use crate::teams::{clean_optional_text, clean_text};
use crate::tenant_transaction;

/// A setting as a client writes it.
#[derive(Debug, Clone)]
pub struct SettingInput {
    pub key: String,
    pub value: serde_json::Value,
    pub data_type: SettingType,
    /// `None` keeps the current description (none for a new setting).
    pub description: Option<Option<String>>,
    /// `None` keeps the current category (`general` for a new setting).
    pub category: Option<String>,
}

/// Creates or replaces a setting. Needs `organization.manage`.
pub async fn set_setting(
    conn: &mut Conn<'_>,
    actor: &Actor,
    cipher: &SettingsCipher,
    input: SettingInput,
) -> AppResult<Setting> {
    actor.require(Permission::OrganizationManage)?;
    let org = actor.organization_id;
    let key = check_key(&input.key)?;
    let mut value = stored_text(input.data_type, &input.value)?;
    if input.data_type == SettingType::Encrypted {
        value = cipher.seal(org, &key, &value)?;
    }
    let description = input
        .description
        .map(|d| clean_optional_text("description", d.as_deref(), 1000))
        .transpose()?;
    let category = input
        .category
        .map(|c| clean_text("category", &c, 50))
        .transpose()?;
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<Setting> {
        let before = queries::lock(tx, org, &key).await?;
        let stored = match &before {
            Some(before) => {
                let mut after = before.clone();
                after.value = value;
                after.data_type = input.data_type;
                if let Some(description) = description {
                    after.description = description;
                }
                if let Some(category) = category {
                    after.category = category;
                }
                after.updated_by = Some(actor.user_id);
                after.updated_at = now;
                queries::save(tx, &after).await?
            }
            None => {
                let setting = Setting {
                    id: Id::new(),
                    organization_id: org,
                    key: key.clone(),
                    value,
                    data_type: input.data_type,
                    description: description.flatten(),
                    category: category.unwrap_or_else(|| "general".to_string()),
                    updated_by: Some(actor.user_id),
                    created_at: now,
                    updated_at: now,
                };
                queries::insert(tx, &setting).await?
            }
        };
        audit::record(
            tx,
            actor,
            Change {
                action: "setting.set",
                resource_type: "setting",
                resource_id: Some(stored.id),
                old_values: before.as_ref().map(Setting::audit_values),
                new_values: Some(stored.audit_values()),
            },
        )
        .await?;
        Ok(stored)
    })
}

/// Deletes a setting. Needs `organization.manage`.
pub async fn delete_setting(conn: &mut Conn<'_>, actor: &Actor, key: &str) -> AppResult<Setting> {
    actor.require(Permission::OrganizationManage)?;
    let org = actor.organization_id;
    let key = check_key(key)?;
    tenant_transaction!(conn, org, |tx| -> AppResult<Setting> {
        let setting = queries::lock(tx, org, &key)
            .await?
            .ok_or(AppError::not_found("setting"))?;
        queries::delete(tx, org, setting.id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "setting.delete",
                resource_type: "setting",
                resource_id: Some(setting.id),
                old_values: Some(setting.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(setting)
    })
}

/// The opened secret of an organization's `key`, for the server's own use. `None`
/// when unset, not a secret, or sealed under another key (logged).
pub async fn secret(
    conn: &mut Conn<'_>,
    cipher: &SettingsCipher,
    org: Id,
    key: &str,
) -> AppResult<Option<String>> {
    let Some(setting) = queries::get(conn, org, key).await? else {
        return Ok(None);
    };
    if setting.data_type != SettingType::Encrypted {
        return Ok(None);
    }
    let opened = cipher.open(org, key, &setting.value);
    if opened.is_none() {
        tracing::warn!(organization = %org, key, "a secret setting does not open with the configured key");
    }
    Ok(opened)
}
