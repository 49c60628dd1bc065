//! Webhook queries and mutations.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{ContextExt, load_by_id, parse_id};
use super::errors::GqlResult;
use super::loaders::{DeliveryAttemptsKey, UserKey, WebhookDeliveryKey, WebhookKey};
use super::mutation::maybe;
use super::scheduling::{Total, page_args, wants_total};
use super::types::{Cursor, page, probe};
use crate::auth::permissions::Permission;
use crate::error::AppError;
use crate::users::User;
use crate::webhooks::service::{self, WebhookFields};
use crate::webhooks::{
    DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent, queries,
};

/// An endpoint told about the organization's events by signed HTTP POSTs (see the
/// README for the headers and how to verify them).
#[Object]
impl Webhook {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// Where deliveries are POSTed (http or https, a public address).
    async fn url(&self) -> &str {
        &self.url
    }

    /// What the webhook is for (at most 1000 characters); null when none.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The events it receives.
    async fn events(&self) -> Vec<WebhookEvent> {
        self.event_list()
    }

    /// Whether events are delivered to it.
    async fn active(&self) -> bool {
        self.is_active
    }

    /// The signing secret's last characters; the secret itself is shown only when set.
    async fn secret_hint(&self) -> String {
        self.masked_secret()
    }

    /// When a delivery to it was last attempted.
    async fn last_triggered_at(&self) -> Option<DateTime<Utc>> {
        self.last_triggered_at.map(|t| t.0)
    }

    /// Who created it; null once that user is deleted.
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.created_by {
            Some(u) => ctx.loaders()?.load_one(UserKey(u)).await.gql(),
            None => Ok(None),
        }
    }

    /// When the webhook was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// Last change to the webhook.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at.0
    }

    /// Its deliveries, newest first.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only deliveries in this status.")] status: Option<DeliveryStatus>,
        #[graphql(
            desc = "Page forward: up to this many items (0-100) after `after`; 20 by default."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forward from this cursor: a page's `pageInfo.endCursor`.")]
        after: Option<String>,
        #[graphql(
            desc = "Page backward: up to this many items (0-100) before `before`; not with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Page backward from this cursor: a page's `pageInfo.startCursor`.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, WebhookDelivery, Total>> {
        let (org, id) = (self.organization_id, self.id);
        let args = page_args(first, &after, last, &before);
        sql_page!(
            ctx,
            args,
            |conn| queries::count_deliveries_of(&mut conn, org, id, status),
            |window| queries::deliveries_of(&mut conn, org, id, status, window)
        )
    }
}

/// One event sent (or being sent) to a webhook, with every attempt.
#[Object]
impl WebhookDelivery {
    /// Opaque identifier.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The webhook it was sent to.
    async fn webhook(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Webhook>> {
        ctx.loaders()?
            .load_one(WebhookKey(self.webhook_id))
            .await
            .gql()
    }

    /// The event's wire name, e.g. `run.completed` (`ping` for `testWebhook`).
    async fn event(&self) -> &str {
        &self.event
    }

    /// PENDING, SUCCEEDED, or FAILED once given up.
    async fn status(&self) -> DeliveryStatus {
        self.status
    }

    /// The `data` of the request body.
    async fn payload(&self) -> Json<serde_json::Value> {
        Json(self.payload.0.clone())
    }

    /// Attempts made so far.
    async fn attempt_count(&self) -> i32 {
        self.attempts
    }

    /// When the next attempt is due, while PENDING.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.next_attempt_at.map(|t| t.0)
    }

    /// The HTTP status of the last attempt, if the endpoint answered.
    async fn response_status(&self) -> Option<i32> {
        self.response_status
    }

    /// Why the last attempt failed; null after a success.
    async fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// When the event happened and the delivery was queued.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }

    /// When it succeeded or was given up.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at.map(|t| t.0)
    }

    /// Every attempt, first to last.
    async fn attempts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WebhookAttempt>> {
        Ok(ctx
            .loaders()?
            .load_one(DeliveryAttemptsKey(self.id))
            .await
            .gql()?
            .unwrap_or_default())
    }
}

/// One try at a delivery.
#[Object]
impl WebhookAttempt {
    /// 1 for the first try.
    async fn attempt(&self) -> i32 {
        self.attempt
    }

    /// The endpoint's HTTP status; null when it did not answer (timeout, refused).
    async fn status_code(&self) -> Option<i32> {
        self.status_code
    }

    /// How long the attempt took, in milliseconds.
    async fn duration_ms(&self) -> i64 {
        self.duration_ms
    }

    /// Why it failed; null on success.
    async fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// When the attempt was made.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at.0
    }
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The organization's webhooks, newest first. Needs `webhooks.manage`.
    #[graphql(complexity = "crate::graphql::page_complexity(first, last, child_complexity)")]
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page forward: up to this many items (0-100) after `after`; 20 by default."
        )]
        first: Option<i32>,
        #[graphql(desc = "Page forward from this cursor: a page's `pageInfo.endCursor`.")]
        after: Option<String>,
        #[graphql(
            desc = "Page backward: up to this many items (0-100) before `before`; not with `first`."
        )]
        last: Option<i32>,
        #[graphql(desc = "Page backward from this cursor: a page's `pageInfo.startCursor`.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Webhook, Total>> {
        let actor = ctx.actor()?;
        actor.require(Permission::WebhooksManage).gql()?;
        let org = actor.organization_id;
        let args = page_args(first, &after, last, &before);
        sql_page!(ctx, args, |conn| queries::count(&mut conn, org), |window| {
            queries::list(&mut conn, org, window)
        })
    }

    /// A webhook of the organization. Needs `webhooks.manage`.
    async fn webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook's `id`.")] id: ID,
    ) -> async_graphql::Result<Webhook> {
        ctx.actor()?.require(Permission::WebhooksManage).gql()?;
        load_by_id(ctx, &id, "webhook", WebhookKey).await
    }

    /// A delivery of one of the organization's webhooks. Needs `webhooks.manage`.
    async fn webhook_delivery(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery's `id`.")] id: ID,
    ) -> async_graphql::Result<WebhookDelivery> {
        ctx.actor()?.require(Permission::WebhooksManage).gql()?;
        load_by_id(ctx, &id, "webhook delivery", WebhookDeliveryKey).await
    }
}

/// Input of `createWebhook`.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// An http or https URL on a public address (see the README).
    pub url: String,
    /// At least one.
    pub events: Vec<WebhookEvent>,
    /// 16-200 characters; generated when omitted.
    pub secret: Option<String>,
    /// What the webhook is for, at most 1000 characters.
    pub description: Option<String>,
    /// True when omitted.
    pub active: Option<bool>,
}

/// The created webhook and its secret.
#[derive(SimpleObject)]
pub struct CreateWebhookPayload {
    /// The new webhook.
    pub webhook: Webhook,
    /// The signing secret: shown this once, keep it to verify deliveries.
    pub secret: String,
}

/// Input of `updateWebhook`; omitted fields are left unchanged.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    /// The webhook to change.
    pub id: ID,
    /// An http or https URL on a public address.
    pub url: Option<String>,
    /// Replaces the events it receives (at least one).
    pub events: Option<Vec<WebhookEvent>>,
    /// A new signing secret (16-200 characters).
    pub secret: Option<String>,
    /// `null` clears it.
    pub description: MaybeUndefined<String>,
    /// Whether events are delivered to it.
    pub active: Option<bool>,
}

/// The changed webhook.
#[derive(SimpleObject)]
pub struct UpdateWebhookPayload {
    /// The webhook as it is now.
    pub webhook: Webhook,
}

/// Input of `deleteWebhook`.
#[derive(InputObject)]
pub struct DeleteWebhookInput {
    /// The webhook to delete.
    pub id: ID,
}

/// The deleted webhook.
#[derive(SimpleObject)]
pub struct DeleteWebhookPayload {
    /// The id of the deleted webhook.
    pub deleted_webhook_id: ID,
}

/// Input of `testWebhook`.
#[derive(InputObject)]
pub struct TestWebhookInput {
    /// The webhook to send a `ping` to.
    pub id: ID,
}

/// The result of a test delivery.
#[derive(SimpleObject)]
pub struct TestWebhookPayload {
    /// The `ping` delivery, after its one attempt.
    pub delivery: WebhookDelivery,
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Creates a webhook. Needs `webhooks.manage`.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint, the events it receives and its secret.")]
        input: CreateWebhookInput,
    ) -> async_graphql::Result<CreateWebhookPayload> {
        let actor = ctx.actor()?;
        let fields = WebhookFields {
            url: Some(input.url),
            events: Some(input.events),
            secret: input.secret,
            description: Some(input.description),
            active: input.active,
        };
        let mut pooled = ctx.db().await?;
        let webhook =
            service::create_webhook(&mut pooled.conn(), actor, &ctx.state().webhooks, fields)
                .await
                .gql()?;
        Ok(CreateWebhookPayload {
            secret: webhook.secret.clone(),
            webhook,
        })
    }

    /// Changes a webhook. Needs `webhooks.manage`.
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook and the fields to change.")] input: UpdateWebhookInput,
    ) -> async_graphql::Result<UpdateWebhookPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "webhook").gql()?;
        let fields = WebhookFields {
            url: input.url,
            events: input.events,
            secret: input.secret,
            description: maybe(input.description, |d| d),
            active: input.active,
        };
        let mut pooled = ctx.db().await?;
        let webhook =
            service::update_webhook(&mut pooled.conn(), actor, &ctx.state().webhooks, id, fields)
                .await
                .gql()?;
        Ok(UpdateWebhookPayload { webhook })
    }

    /// Deletes a webhook and its deliveries. Needs `webhooks.manage`.
    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook to delete.")] input: DeleteWebhookInput,
    ) -> async_graphql::Result<DeleteWebhookPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "webhook").gql()?;
        let mut pooled = ctx.db().await?;
        service::delete_webhook(&mut pooled.conn(), actor, id)
            .await
            .gql()?;
        Ok(DeleteWebhookPayload {
            deleted_webhook_id: input.id,
        })
    }

    /// Sends a `ping` delivery now and answers with its outcome (one attempt, no
    /// retries). Needs `webhooks.manage`.
    async fn test_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook to ping.")] input: TestWebhookInput,
    ) -> async_graphql::Result<TestWebhookPayload> {
        let actor = ctx.actor()?;
        let id = parse_id(&input.id, "webhook").gql()?;
        let state = ctx.state();
        let delivery = service::test_webhook(&state.pool, actor, &state.webhooks, id)
            .await
            .gql()?;
        Ok(TestWebhookPayload { delivery })
    }
}
