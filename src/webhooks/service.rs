//! Webhook changes: permission check, validation (including where the URL points), the
//! change and its audit row in one transaction.

use super::dispatcher::Webhooks;
use super::guard::{self, TargetError};
use super::{PING, Webhook, WebhookDelivery, WebhookEvent, queries};
use crate::audit::{self, Change};
use crate::auth::permissions::{Actor, Permission};
use crate::db::{Conn, Id, Json, Pool, Timestamp};
use crate::error::{AppError, AppResult};
use crate::teams::clean_optional_text;
use crate::tenant_transaction;

/// Shortest secret a client may choose.
const MIN_SECRET_CHARS: usize = 16;
const MAX_SECRET_CHARS: usize = 200;

/// A webhook as a client describes it (on update, `None` leaves a field unchanged).
#[derive(Debug, Clone, Default)]
pub struct WebhookFields {
    pub url: Option<String>,
    pub events: Option<Vec<WebhookEvent>>,
    pub secret: Option<String>,
    pub description: Option<Option<String>>,
    pub active: Option<bool>,
}

/// A new random signing secret.
pub fn generate_secret() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let random: String = (0..40)
        .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
        .collect();
    format!("whsec_{random}")
}

/// The URL, checked for scheme and, unless allowed, for internal targets.
async fn target(raw: &str, allow_internal: bool) -> AppResult<String> {
    if raw.len() > 2048 {
        return Err(AppError::bad_input(
            "url",
            "`url` must be at most 2048 characters",
        ));
    }
    let refused = |e: TargetError| AppError::bad_input("url", format!("`url` is refused: {e}"));
    let url = guard::parse(raw).map_err(refused)?;
    guard::check(&url, allow_internal).await.map_err(refused)?;
    let normalized = url.to_string();
    if normalized.len() > 2048 {
        return Err(AppError::bad_input(
            "url",
            "`url` must be at most 2048 characters",
        ));
    }
    Ok(normalized)
}

fn events(list: Vec<WebhookEvent>) -> AppResult<Json> {
    if list.is_empty() {
        return Err(AppError::bad_input(
            "events",
            "a webhook needs at least one event",
        ));
    }
    let mut names: Vec<&str> = list.iter().map(|e| e.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    Ok(Json(serde_json::json!(names)))
}

fn secret(raw: String) -> AppResult<String> {
    let len = raw.chars().count();
    if !(MIN_SECRET_CHARS..=MAX_SECRET_CHARS).contains(&len) || raw.chars().any(char::is_whitespace)
    {
        return Err(AppError::bad_input(
            "secret",
            format!(
                "`secret` must be {MIN_SECRET_CHARS}-{MAX_SECRET_CHARS} characters without spaces"
            ),
        ));
    }
    Ok(raw)
}

/// Validates `fields` onto `webhook` (resolving the URL before any transaction).
async fn apply(
    webhook: &mut Webhook,
    fields: WebhookFields,
    allow_internal: bool,
) -> AppResult<()> {
    if let Some(url) = &fields.url {
        webhook.url = target(url, allow_internal).await?;
    }
    if let Some(list) = fields.events {
        webhook.events = events(list)?;
    }
    if let Some(raw) = fields.secret {
        webhook.secret = secret(raw)?;
    }
    if let Some(description) = &fields.description {
        webhook.description = clean_optional_text("description", description.as_deref(), 1000)?;
    }
    if let Some(active) = fields.active {
        webhook.is_active = active;
    }
    Ok(())
}

/// Creates a webhook; without a `secret` one is generated. Returns it with its secret,
/// which is shown this once.
pub async fn create_webhook(
    conn: &mut Conn<'_>,
    actor: &Actor,
    sender: &Webhooks,
    fields: WebhookFields,
) -> AppResult<Webhook> {
    actor.require(Permission::WebhooksManage)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    if fields.url.is_none() || fields.events.is_none() {
        return Err(AppError::bad_input(
            "url",
            "a webhook needs a url and events",
        ));
    }
    let mut webhook = Webhook {
        id: Id::new(),
        organization_id: org,
        created_by: Some(actor.user_id),
        url: String::new(),
        description: None,
        events: Json(serde_json::json!([])),
        secret: generate_secret(),
        is_active: true,
        last_triggered_at: None,
        created_at: now,
        updated_at: now,
    };
    apply(
        &mut webhook,
        fields,
        sender.config().webhook_allow_private_targets,
    )
    .await?;
    tenant_transaction!(conn, org, |tx| -> AppResult<Webhook> {
        let stored = queries::insert(tx, &webhook).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "webhook.create",
                resource_type: "webhook",
                resource_id: Some(stored.id),
                new_values: Some(stored.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(stored)
    })
}

pub async fn update_webhook(
    conn: &mut Conn<'_>,
    actor: &Actor,
    sender: &Webhooks,
    id: Id,
    fields: WebhookFields,
) -> AppResult<Webhook> {
    actor.require(Permission::WebhooksManage)?;
    let org = actor.organization_id;
    // Validate (and resolve) before taking any lock; the row is re-read locked below.
    let mut probe = queries::by_ids(conn, org, &[id])
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::not_found("webhook"))?;
    apply(
        &mut probe,
        fields.clone(),
        sender.config().webhook_allow_private_targets,
    )
    .await?;
    let now = Timestamp::now();
    tenant_transaction!(conn, org, |tx| -> AppResult<Webhook> {
        let before = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("webhook"))?;
        let mut webhook = before.clone();
        if fields.url.is_some() {
            webhook.url = probe.url.clone();
        }
        if fields.events.is_some() {
            webhook.events = probe.events.clone();
        }
        if fields.secret.is_some() {
            webhook.secret = probe.secret.clone();
        }
        if fields.description.is_some() {
            webhook.description = probe.description.clone();
        }
        if let Some(active) = fields.active {
            webhook.is_active = active;
        }
        webhook.updated_at = now;
        let after = queries::save(tx, &webhook).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "webhook.update",
                resource_type: "webhook",
                resource_id: Some(id),
                old_values: Some(before.audit_values()),
                new_values: Some(after.audit_values()),
            },
        )
        .await?;
        Ok(after)
    })
}

/// Deletes a webhook with its deliveries (pending ones are not sent).
pub async fn delete_webhook(conn: &mut Conn<'_>, actor: &Actor, id: Id) -> AppResult<Webhook> {
    actor.require(Permission::WebhooksManage)?;
    let org = actor.organization_id;
    tenant_transaction!(conn, org, |tx| -> AppResult<Webhook> {
        let webhook = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("webhook"))?;
        queries::delete(tx, org, id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "webhook.delete",
                resource_type: "webhook",
                resource_id: Some(id),
                old_values: Some(webhook.audit_values()),
                ..Change::default()
            },
        )
        .await?;
        Ok(webhook)
    })
}

/// Sends a `ping` to the webhook now (one attempt, not retried) and returns the
/// delivery with its outcome. The delivery is held by this request from the start, so
/// no dispatcher sends it too.
pub async fn test_webhook(
    pool: &Pool,
    actor: &Actor,
    sender: &Webhooks,
    id: Id,
) -> AppResult<WebhookDelivery> {
    actor.require(Permission::WebhooksManage)?;
    let org = actor.organization_id;
    let now = Timestamp::now();
    let mut pooled = pool.get().await?;
    let conn = &mut pooled.conn();
    let delivery = tenant_transaction!(conn, org, |tx| -> AppResult<WebhookDelivery> {
        let webhook = queries::lock(tx, org, id)
            .await?
            .ok_or(AppError::not_found("webhook"))?;
        let mut delivery = WebhookDelivery::new(
            &webhook,
            PING,
            serde_json::json!({ "message": "a test delivery from testWebhook" }),
            now,
        );
        delivery.locked_by = Some(sender.worker().to_string());
        delivery.locked_until = Some(Timestamp(
            now.0 + chrono::Duration::from_std(sender.hold()).unwrap_or_default(),
        ));
        queries::insert_deliveries(tx, std::slice::from_ref(&delivery)).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "webhook.test",
                resource_type: "webhook",
                resource_id: Some(id),
                new_values: Some(serde_json::json!({ "delivery_id": delivery.id })),
                ..Change::default()
            },
        )
        .await?;
        Ok(delivery)
    })?;
    drop(pooled);
    sender
        .attempt(pool, &delivery)
        .await?
        .ok_or_else(|| AppError::Internal("the test delivery was taken over".into()))
}
