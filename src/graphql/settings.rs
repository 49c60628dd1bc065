//! Typed organization settings.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::ContextExt;
use super::errors::{GqlResult, to_gql};
use super::loaders::UserKey;
use super::mutation::maybe;
use crate::error::AppError;
use crate::settings::service::{self, SettingInput};
use crate::settings::{Setting, SettingType, queries};
use crate::users::User;

/// One typed organization setting. Secrets (`ENCRYPTED`) are write-only: `value` is
/// `null` and `masked` stands in for them.
#[Object(name = "OrganizationSetting")]
impl Setting {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The setting's name, unique in the organization, e.g. `openai.api_key`.
    async fn key(&self) -> &str {
        &self.key
    }

    /// How `value` is typed; ENCRYPTED values are write-only.
    async fn data_type(&self) -> SettingType {
        self.data_type
    }

    /// The value as its type says (a string, number, boolean or JSON); `null` for a
    /// secret.
    async fn value(&self) -> Option<Json<serde_json::Value>> {
        self.typed_value().map(Json)
    }

    /// `********` for a secret, `null` otherwise.
    async fn masked(&self) -> Option<&str> {
        self.mask()
    }

    /// What the setting is for (at most 1000 characters); null when none.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// A group for listing settings together (at most 50 characters), `general` by default.
    async fn category(&self) -> &str {
        &self.category
    }

    /// Who last set it; null once that user is deleted.
    async fn updated_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.updated_by {
            Some(u) => ctx.loaders()?.load_one(UserKey(u)).await.gql(),
            None => Ok(None),
        }
    }

    /// When the setting was first set.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// When it was last set.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }
}

#[derive(Default)]
pub struct SettingsQuery;

#[Object]
impl SettingsQuery {
    /// Your organization's settings (of `category`, when given), by category and key.
    async fn organization_settings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only settings of this category.")] category: Option<String>,
    ) -> async_graphql::Result<Vec<Setting>> {
        let org = ctx.actor()?.organization_id;
        let mut pooled = ctx.db().await?;
        queries::list(&mut pooled.conn(), org, category.as_deref())
            .await
            .map_err(AppError::from)
            .gql()
    }

    /// One setting of your organization; NOT_FOUND when it is not set.
    async fn organization_setting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The setting's key.")] key: String,
    ) -> async_graphql::Result<Setting> {
        let org = ctx.actor()?.organization_id;
        let mut pooled = ctx.db().await?;
        queries::get(&mut pooled.conn(), org, key.trim())
            .await
            .map_err(AppError::from)
            .gql()?
            .ok_or_else(|| to_gql(&AppError::not_found("setting")))
    }
}

/// Input of `setOrganizationSetting`.
#[derive(InputObject)]
pub struct SetOrganizationSettingInput {
    /// 1-100 characters of a-z, 0-9, `.`, `_` and `-`, starting with a letter, e.g.
    /// `openai.api_key` (the `openai` backend's key for your runs, as ENCRYPTED).
    pub key: String,
    /// A string, integer, boolean or any JSON, as `dataType` says; for ENCRYPTED the
    /// secret string (1-4096 characters), which is never shown again.
    pub value: Json<serde_json::Value>,
    /// The type `value` must have; ENCRYPTED seals it and never shows it again.
    pub data_type: SettingType,
    /// Kept when omitted; `null` clears it.
    pub description: MaybeUndefined<String>,
    /// `general` for a new setting when omitted.
    pub category: Option<String>,
}

/// The stored setting.
#[derive(SimpleObject)]
pub struct SetOrganizationSettingPayload {
    /// The setting, new or replaced.
    pub setting: Setting,
}

/// Input of `deleteOrganizationSetting`.
#[derive(InputObject)]
pub struct DeleteOrganizationSettingInput {
    /// The key of the setting to delete.
    pub key: String,
}

/// The deleted setting.
#[derive(SimpleObject)]
pub struct DeleteOrganizationSettingPayload {
    /// The key of the deleted setting.
    pub deleted_key: String,
}

#[derive(Default)]
pub struct SettingsMutation;

#[Object]
impl SettingsMutation {
    /// Creates or replaces a setting. Needs `organization.manage`.
    async fn set_organization_setting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key, the typed value and how to file it.")]
        input: SetOrganizationSettingInput,
    ) -> async_graphql::Result<SetOrganizationSettingPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let setting = service::set_setting(
            &mut pooled.conn(),
            actor,
            &ctx.state().settings,
            SettingInput {
                key: input.key,
                value: input.value.0,
                data_type: input.data_type,
                description: maybe(input.description, |d| d),
                category: input.category,
            },
        )
        .await
        .gql()?;
        Ok(SetOrganizationSettingPayload { setting })
    }

    /// Deletes a setting. Needs `organization.manage`.
    async fn delete_organization_setting(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key of the setting to delete.")]
        input: DeleteOrganizationSettingInput,
    ) -> async_graphql::Result<DeleteOrganizationSettingPayload> {
        let actor = ctx.actor()?;
        let mut pooled = ctx.db().await?;
        let setting = service::delete_setting(&mut pooled.conn(), actor, &input.key)
            .await
            .gql()?;
        Ok(DeleteOrganizationSettingPayload {
            deleted_key: setting.key,
        })
    }
}
