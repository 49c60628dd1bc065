use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use crate::auth::api_keys::ApiKey;
use crate::graphql::context::ContextExt;
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders::UserKey;
use crate::users::User;

/// A key for programmatic clients. Its secret is shown only when it is created.
#[Object(name = "ApiKey")]
impl ApiKey {
    /// Opaque identifier; pass it to `revokeApiKey`.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// A label chosen by the owner (1-100 characters), e.g. the integration that uses the key.
    async fn name(&self) -> &str {
        &self.name
    }

    /// The key's first characters, to tell keys apart (`gwk_...`).
    async fn prefix(&self) -> &str {
        &self.key_prefix
    }

    /// Permissions the key may use (never more than its owner holds).
    async fn scopes(&self) -> Vec<String> {
        self.scope_list()
            .into_iter()
            .map(|p| p.as_str().to_string())
            .collect()
    }

    /// The user whose key it is.
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        ctx.loaders()?.load_one(UserKey(self.user_id)).await.gql()
    }

    /// Last request made with the key (to the minute).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.last_used_at.map(|t| t.0)
    }

    /// When the key stops working; null means it never expires.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at.map(|t| t.0)
    }

    /// When the key was revoked; null while it is not.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.revoked_at.map(|t| t.0)
    }

    /// Neither revoked nor expired.
    async fn is_active(&self) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at.0 > Utc::now())
    }

    /// When the key was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }
}
