use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery};
use crate::db::schema::{webhook_attempts, webhook_deliveries, webhooks};
use crate::db::{Conn, Id, Timestamp};
use crate::pagination::Window;
use crate::{dispatch, insert_rows};

/// One page of the organization's webhooks, newest first.
pub async fn list(conn: &mut Conn<'_>, org: Id, window: Window) -> QueryResult<Vec<Webhook>> {
    dispatch!(conn, |c| webhooks::table
        .filter(webhooks::organization_id.eq(org))
        .order((webhooks::created_at.desc(), webhooks::id.desc()))
        .offset(window.offset)
        .limit(window.limit)
        .select(Webhook::as_select())
        .load(c)
        .await)
}

pub async fn count(conn: &mut Conn<'_>, org: Id) -> QueryResult<i64> {
    dispatch!(conn, |c| webhooks::table
        .filter(webhooks::organization_id.eq(org))
        .count()
        .get_result(c)
        .await)
}

pub async fn by_ids(conn: &mut Conn<'_>, org: Id, ids: &[Id]) -> QueryResult<Vec<Webhook>> {
    dispatch!(conn, |c| webhooks::table
        .filter(webhooks::organization_id.eq(org))
        .filter(webhooks::id.eq_any(ids))
        .select(Webhook::as_select())
        .load(c)
        .await)
}

/// A webhook of the organization, locked until the transaction ends.
pub async fn lock(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<Option<Webhook>> {
    let query = webhooks::table
        .filter(webhooks::organization_id.eq(org))
        .filter(webhooks::id.eq(id));
    crate::first_for_update!(conn, query, Webhook)
}

/// The organization's active webhooks: the candidates for an event.
pub async fn active(conn: &mut Conn<'_>, org: Id) -> QueryResult<Vec<Webhook>> {
    dispatch!(conn, |c| webhooks::table
        .filter(webhooks::organization_id.eq(org))
        .filter(webhooks::is_active.eq(true))
        .select(Webhook::as_select())
        .load(c)
        .await)
}

/// A webhook by id alone, for the dispatcher (which serves every organization).
pub async fn find_any(conn: &mut Conn<'_>, id: Id) -> QueryResult<Option<Webhook>> {
    dispatch!(conn, |c| webhooks::table
        .filter(webhooks::id.eq(id))
        .select(Webhook::as_select())
        .first(c)
        .await
        .optional())
}

pub async fn insert(conn: &mut Conn<'_>, row: &Webhook) -> QueryResult<Webhook> {
    dispatch!(conn, |c| diesel::insert_into(webhooks::table)
        .values(row)
        .returning(Webhook::as_returning())
        .get_result(c)
        .await)
}

/// Stores every field of a webhook but its identity and delivery bookkeeping.
pub async fn save(conn: &mut Conn<'_>, row: &Webhook) -> QueryResult<Webhook> {
    dispatch!(conn, |c| diesel::update(
        webhooks::table
            .filter(webhooks::organization_id.eq(row.organization_id))
            .filter(webhooks::id.eq(row.id))
    )
    .set((
        webhooks::url.eq(&row.url),
        webhooks::description.eq(&row.description),
        webhooks::events.eq(&row.events),
        webhooks::secret.eq(&row.secret),
        webhooks::is_active.eq(row.is_active),
        webhooks::updated_at.eq(row.updated_at),
    ))
    .returning(Webhook::as_returning())
    .get_result(c)
    .await)
}

/// Deletes a webhook with its deliveries and their attempts.
pub async fn delete(conn: &mut Conn<'_>, org: Id, id: Id) -> QueryResult<usize> {
    dispatch!(conn, |c| {
        let deliveries = webhook_deliveries::table
            .filter(webhook_deliveries::organization_id.eq(org))
            .filter(webhook_deliveries::webhook_id.eq(id))
            .select(webhook_deliveries::id);
        diesel::delete(
            webhook_attempts::table
                .filter(webhook_attempts::organization_id.eq(org))
                .filter(webhook_attempts::delivery_id.eq_any(deliveries)),
        )
        .execute(c)
        .await?;
        diesel::delete(
            webhook_deliveries::table
                .filter(webhook_deliveries::organization_id.eq(org))
                .filter(webhook_deliveries::webhook_id.eq(id)),
        )
        .execute(c)
        .await?;
        diesel::delete(
            webhooks::table
                .filter(webhooks::organization_id.eq(org))
                .filter(webhooks::id.eq(id)),
        )
        .execute(c)
        .await
    })
}

pub async fn insert_deliveries(
    conn: &mut Conn<'_>,
    rows: &[WebhookDelivery],
) -> QueryResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    insert_rows!(conn, webhook_deliveries::table, rows)
}

/// One page of a webhook's deliveries, newest first.
pub async fn deliveries_of(
    conn: &mut Conn<'_>,
    org: Id,
    webhook_id: Id,
    status: Option<DeliveryStatus>,
    window: Window,
) -> QueryResult<Vec<WebhookDelivery>> {
    dispatch!(conn, |c| {
        let mut query = webhook_deliveries::table
            .filter(webhook_deliveries::organization_id.eq(org))
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(webhook_deliveries::status.eq(status));
        }
        query
            .order((
                webhook_deliveries::created_at.desc(),
                webhook_deliveries::id.desc(),
            ))
            .offset(window.offset)
            .limit(window.limit)
            .select(WebhookDelivery::as_select())
            .load(c)
            .await
    })
}

pub async fn count_deliveries_of(
    conn: &mut Conn<'_>,
    org: Id,
    webhook_id: Id,
    status: Option<DeliveryStatus>,
) -> QueryResult<i64> {
    dispatch!(conn, |c| {
        let mut query = webhook_deliveries::table
            .filter(webhook_deliveries::organization_id.eq(org))
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(webhook_deliveries::status.eq(status));
        }
        query.count().get_result(c).await
    })
}

pub async fn deliveries_by_ids(
    conn: &mut Conn<'_>,
    org: Id,
    ids: &[Id],
) -> QueryResult<Vec<WebhookDelivery>> {
    dispatch!(conn, |c| webhook_deliveries::table
        .filter(webhook_deliveries::organization_id.eq(org))
        .filter(webhook_deliveries::id.eq_any(ids))
        .select(WebhookDelivery::as_select())
        .load(c)
        .await)
}

/// The attempts at the given deliveries, in order.
pub async fn attempts_of(
    conn: &mut Conn<'_>,
    org: Id,
    delivery_ids: &[Id],
) -> QueryResult<Vec<WebhookAttempt>> {
    dispatch!(conn, |c| webhook_attempts::table
        .filter(webhook_attempts::organization_id.eq(org))
        .filter(webhook_attempts::delivery_id.eq_any(delivery_ids))
        .order((webhook_attempts::delivery_id, webhook_attempts::attempt))
        .select(WebhookAttempt::as_select())
        .load(c)
        .await)
}

/// Takes up to `limit` due deliveries for `worker` until `until`: pending, due, and
/// not held by another worker whose hold is still valid. Other processes skip the
/// rows being claimed (PostgreSQL) or wait for the write lock (SQLite).
pub async fn claim_due(
    conn: &mut Conn<'_>,
    worker: &str,
    now: Timestamp,
    until: Timestamp,
    limit: i64,
) -> QueryResult<Vec<WebhookDelivery>> {
    macro_rules! due {
        () => {
            webhook_deliveries::table
                .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending))
                .filter(webhook_deliveries::next_attempt_at.le(now))
                .filter(
                    webhook_deliveries::locked_until
                        .is_null()
                        .or(webhook_deliveries::locked_until.lt(now)),
                )
        };
    }
    let ids: Vec<Id> = match conn {
        Conn::Pg(c) => {
            due!()
                .order(webhook_deliveries::next_attempt_at)
                .limit(limit)
                .for_update()
                .skip_locked()
                .select(webhook_deliveries::id)
                .load(*c)
                .await?
        }
        Conn::Sqlite(c) => {
            due!()
                .order(webhook_deliveries::next_attempt_at)
                .limit(limit)
                .select(webhook_deliveries::id)
                .load(*c)
                .await?
        }
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    dispatch!(conn, |c| diesel::update(
        due!().filter(webhook_deliveries::id.eq_any(&ids))
    )
    .set((
        webhook_deliveries::locked_by.eq(worker),
        webhook_deliveries::locked_until.eq(until),
    ))
    .returning(WebhookDelivery::as_returning())
    .load(c)
    .await)
}

/// What one attempt came to, and what becomes of its delivery.
pub struct AttemptRecord<'a> {
    pub delivery: &'a WebhookDelivery,
    pub worker: &'a str,
    pub attempt: WebhookAttempt,
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<Timestamp>,
    pub now: Timestamp,
}

/// Stores an attempt and its delivery's new state, if `worker` still holds it.
/// `false` when the hold was lost (nothing stored).
pub async fn record_attempt(conn: &mut Conn<'_>, record: &AttemptRecord<'_>) -> QueryResult<bool> {
    let d = record.delivery;
    let finished = record.status != DeliveryStatus::Pending;
    let updated = dispatch!(conn, |c| diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq(d.id))
            .filter(webhook_deliveries::locked_by.eq(record.worker))
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending))
    )
    .set((
        webhook_deliveries::status.eq(record.status),
        webhook_deliveries::attempts.eq(record.attempt.attempt),
        webhook_deliveries::next_attempt_at.eq(record.next_attempt_at),
        webhook_deliveries::locked_by.eq(None::<String>),
        webhook_deliveries::locked_until.eq(None::<Timestamp>),
        webhook_deliveries::response_status.eq(record.attempt.status_code),
        webhook_deliveries::last_error.eq(&record.attempt.error),
        webhook_deliveries::updated_at.eq(record.now),
        webhook_deliveries::completed_at.eq(finished.then_some(record.now)),
    ))
    .execute(c)
    .await)?;
    if updated == 0 {
        return Ok(false);
    }
    dispatch!(conn, |c| {
        diesel::insert_into(webhook_attempts::table)
            .values(&record.attempt)
            .execute(c)
            .await?;
        diesel::update(webhooks::table.filter(webhooks::id.eq(d.webhook_id)))
            .set(webhooks::last_triggered_at.eq(record.now))
            .execute(c)
            .await
    })?;
    Ok(true)
}
