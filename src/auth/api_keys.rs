//! API keys for programmatic clients: `gwk_<prefix>_<secret>`, shown once; only a
//! SHA-256 of the whole key is stored (a key is 256 random bits, so a fast hash is
//! enough and keeps every request's lookup cheap).

use base64::Engine as _;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use sha2::Digest as _;

use super::permissions::{Actor, Permission};
use crate::audit::{self, Change};
use crate::db::schema::{api_keys, organizations, users};
use crate::db::{Conn, Id, Json, Timestamp};
use crate::dispatch;
use crate::error::{AppError, AppResult};
use crate::organizations::Organization;
use crate::tenant_transaction;
use crate::users::User;

/// What every key starts with, so a credential is recognised as a key at a glance.
pub const KEY_PREFIX: &str = "gwk_";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: Id,
    pub organization_id: Id,
    pub user_id: Id,
    pub name: String,
    pub key_prefix: String,
    pub key_hash: String,
    pub scopes: Json,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ApiKey {
    pub fn scope_list(&self) -> Vec<Permission> {
        self.scopes
            .0
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|p| p.as_str().and_then(Permission::parse))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn audit_values(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "key_prefix": self.key_prefix,
            "scopes": self.scopes.0,
            "expires_at": self.expires_at.map(|t| t.0),
            "revoked_at": self.revoked_at.map(|t| t.0),
        })
    }
}

fn digest(secret: &str) -> String {
    sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new key: its shown prefix and the whole secret.
fn generate() -> (String, String) {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let prefix: [u8; 6] = rand::random();
    let secret: [u8; 32] = rand::random();
    let prefix = format!("{KEY_PREFIX}{}", engine.encode(prefix));
    let key = format!("{prefix}_{}", engine.encode(secret));
    (prefix, key)
}

/// Creates a key for the actor, limited to `scopes` (which must be the actor's own
/// permissions). Returns the key and, this once, its secret.
pub async fn create(
    conn: &mut Conn<'_>,
    actor: &Actor,
    name: &str,
    scopes: &[String],
    expires_at: Option<Timestamp>,
) -> AppResult<(ApiKey, String)> {
    actor.require(Permission::ApiKeysManage)?;
    let name = crate::teams::clean_text("name", name, 100)?;
    let scopes = crate::users::service::parse_permissions("scopes", scopes)?;
    if let Some(missing) = scopes.iter().find(|p| !actor.can(**p)) {
        return Err(AppError::forbidden(missing.as_str()));
    }
    let now = Timestamp::now();
    if expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::bad_input(
            "expiresAt",
            "expiresAt must be in the future",
        ));
    }
    let (prefix, secret) = generate();
    let mut names: Vec<&str> = scopes.iter().map(|p| p.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let key = ApiKey {
        id: Id::new(),
        organization_id: actor.organization_id,
        user_id: actor.user_id,
        name,
        key_prefix: prefix,
        key_hash: digest(&secret),
        scopes: Json(serde_json::json!(names)),
        last_used_at: None,
        expires_at,
        revoked_at: None,
        created_at: now,
        updated_at: now,
    };
    let key = tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<ApiKey> {
        dispatch!(tx, |c| diesel::insert_into(api_keys::table)
            .values(&key)
            .execute(c)
            .await)?;
        audit::record(
            tx,
            actor,
            Change {
                action: "api_key.create",
                resource_type: "api_key",
                resource_id: Some(key.id),
                new_values: Some(key.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(key.clone())
    })?;
    Ok((key, secret))
}

/// The organization's keys, newest first.
pub async fn list(conn: &mut Conn<'_>, actor: &Actor) -> AppResult<Vec<ApiKey>> {
    actor.require(Permission::ApiKeysManage)?;
    let org = actor.organization_id;
    Ok(dispatch!(conn, |c| api_keys::table
        .filter(api_keys::organization_id.eq(org))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select(ApiKey::as_select())
        .load(c)
        .await)?)
}

/// Revokes a key: it stops working with the next request.
pub async fn revoke(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<ApiKey> {
    actor.require(Permission::ApiKeysManage)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    tenant_transaction!(conn, actor.organization_id, |tx| -> AppResult<ApiKey> {
        let key: ApiKey = dispatch!(tx, |c| diesel::update(
            api_keys::table
                .filter(api_keys::organization_id.eq(org))
                .filter(api_keys::id.eq(id))
        )
        .set((
            api_keys::revoked_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<crate::db::sql_types::PortableTimestamp>,
            >("COALESCE(revoked_at, ")
            .bind::<crate::db::sql_types::PortableTimestamp, _>(now)
            .sql(")")),
            api_keys::updated_at.eq(now),
        ))
        .returning(ApiKey::as_returning())
        .get_result(c)
        .await
        .optional())?
        .ok_or(AppError::not_found("API key"))?;
        audit::record(
            tx,
            actor,
            Change {
                action: "api_key.revoke",
                resource_type: "api_key",
                resource_id: Some(id),
                new_values: Some(key.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(key)
    })
}

/// The live key behind `secret` with its owner and organization, if the key is
/// neither revoked nor expired and its owner still has access.
pub async fn resolve(
    conn: &mut Conn<'_>,
    secret: &str,
) -> AppResult<Option<(ApiKey, User, Organization)>> {
    let hash = digest(secret);
    let now = Timestamp::now();
    let found: Option<(ApiKey, User, Organization)> = dispatch!(conn, |c| api_keys::table
        .inner_join(
            users::table.on(users::id
                .eq(api_keys::user_id)
                .and(users::organization_id.eq(api_keys::organization_id))),
        )
        .inner_join(organizations::table.on(organizations::id.eq(api_keys::organization_id)))
        .filter(api_keys::key_hash.eq(hash))
        .filter(api_keys::revoked_at.is_null())
        .filter(
            api_keys::expires_at
                .is_null()
                .or(api_keys::expires_at.gt(now))
        )
        .filter(users::is_active.eq(true))
        .filter(users::deleted_at.is_null())
        .filter(organizations::deleted_at.is_null())
        .select((
            ApiKey::as_select(),
            User::as_select(),
            Organization::as_select()
        ))
        .first(c)
        .await
        .optional())?;
    // `last_used_at` is kept to the minute, so busy keys do not write on every request.
    if let Some((key, _, _)) = &found
        && key
            .last_used_at
            .is_none_or(|at| (now.0 - at.0).num_seconds() >= 60)
    {
        let id = key.id;
        dispatch!(conn, |c| diesel::update(api_keys::table.find(id))
            .set(api_keys::last_used_at.eq(now))
            .execute(c)
            .await)?;
    }
    Ok(found)
}
