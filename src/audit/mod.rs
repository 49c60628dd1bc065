//! The audit trail: one append-only row per change, written in the change's transaction.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::permissions::Actor;
use crate::db::schema::audit_logs;
use crate::db::{Conn, Id, Json, Timestamp};
use crate::dispatch;
use crate::pagination::Window;
use std::sync::{Arc, Mutex};

/// Where a request came from, as recorded in the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub request_id: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_logs)]
pub struct AuditLog {
    pub id: Id,
    pub organization_id: Id,
    pub actor_user_id: Option<Id>,
    pub actor_api_key_id: Option<Id>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<Id>,
    pub success: bool,
    pub old_values: Option<Json>,
    pub new_values: Option<Json>,
    pub details: Option<Json>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub created_at: Timestamp,
}

/// What changed, for [`record`].
#[derive(Debug, Default)]
pub struct Change {
    pub action: &'static str,
    pub resource_type: &'static str,
    pub resource_id: Option<Id>,
    pub old_values: Option<serde_json::Value>,
    pub new_values: Option<serde_json::Value>,
}

/// Appends an audit row for a successful change by `actor`.
pub async fn record(conn: &mut Conn<'_>, actor: &Actor, change: Change) -> QueryResult<()> {
    let row = AuditLog {
        id: Id::new(),
        organization_id: actor.organization_id,
        actor_user_id: Some(actor.user_id),
        actor_api_key_id: actor.api_key_id,
        action: change.action.to_string(),
        resource_type: change.resource_type.to_string(),
        resource_id: change.resource_id,
        success: true,
        old_values: change.old_values.map(Json),
        new_values: change.new_values.map(Json),
        details: None,
        ip_address: actor.request.ip_address.clone(),
        user_agent: actor.request.user_agent.clone(),
        request_id: Some(actor.request.request_id.clone()),
        created_at: Timestamp::now(),
    };
    dispatch!(conn, |c| diesel::insert_into(audit_logs::table)
        .values(&row)
        .execute(c)
        .await)?;
    actor.audit.push(row);
    Ok(())
}

/// Rows a request wrote, announced to `auditLogAdded` subscribers once the request's
/// change has committed (and dropped if it rolled back).
#[derive(Debug, Clone, Default)]
pub struct AuditSink(Arc<Mutex<Vec<AuditLog>>>);

impl AuditSink {
    pub fn push(&self, row: AuditLog) {
        if let Ok(mut rows) = self.0.lock() {
            rows.push(row);
        }
    }

    /// Takes the rows written so far.
    pub fn take(&self) -> Vec<AuditLog> {
        self.0
            .lock()
            .map(|mut rows| std::mem::take(&mut *rows))
            .unwrap_or_default()
    }
}

/// An attempt that was refused or failed, for [`record_failure`].
#[derive(Debug)]
pub struct Failure<'a> {
    pub organization_id: Id,
    pub actor_user_id: Option<Id>,
    pub action: &'a str,
    pub resource_type: &'a str,
    /// Why: the error's code and message.
    pub details: serde_json::Value,
    pub request: &'a RequestInfo,
}

/// Appends a `success: false` row for an attempt that changed nothing. It is written on
/// its own, as the attempt's transaction (if any) rolled back.
pub async fn record_failure(conn: &mut Conn<'_>, failure: Failure<'_>) -> QueryResult<AuditLog> {
    let row = AuditLog {
        id: Id::new(),
        organization_id: failure.organization_id,
        actor_user_id: failure.actor_user_id,
        actor_api_key_id: None,
        action: failure.action.to_string(),
        resource_type: failure.resource_type.to_string(),
        resource_id: None,
        success: false,
        old_values: None,
        new_values: None,
        details: Some(Json(failure.details)),
        ip_address: failure.request.ip_address.clone(),
        user_agent: failure.request.user_agent.clone(),
        request_id: Some(failure.request.request_id.clone()),
        created_at: Timestamp::now(),
    };
    dispatch!(conn, |c| diesel::insert_into(audit_logs::table)
        .values(&row)
        .execute(c)
        .await)?;
    Ok(row)
}

/// Filters of the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_user_id: Option<Id>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Id>,
    pub success: Option<bool>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

macro_rules! filtered_logs {
    ($org:expr, $filter:expr) => {{
        let mut query = audit_logs::table
            .filter(audit_logs::organization_id.eq($org))
            .into_boxed();
        if let Some(actor) = $filter.actor_user_id {
            query = query.filter(audit_logs::actor_user_id.eq(actor));
        }
        if let Some(action) = &$filter.action {
            query = query.filter(audit_logs::action.eq(action.clone()));
        }
        if let Some(resource_type) = &$filter.resource_type {
            query = query.filter(audit_logs::resource_type.eq(resource_type.clone()));
        }
        if let Some(resource_id) = $filter.resource_id {
            query = query.filter(audit_logs::resource_id.eq(resource_id));
        }
        if let Some(success) = $filter.success {
            query = query.filter(audit_logs::success.eq(success));
        }
        if let Some(from) = $filter.from {
            query = query.filter(audit_logs::created_at.ge(from));
        }
        if let Some(to) = $filter.to {
            query = query.filter(audit_logs::created_at.lt(to));
        }
        query
    }};
}

/// One page of the organization's audit trail, newest first.
pub async fn list(
    conn: &mut Conn<'_>,
    org: Id,
    filter: &AuditFilter,
    window: Window,
) -> QueryResult<Vec<AuditLog>> {
    dispatch!(conn, |c| filtered_logs!(org, filter)
        .order((audit_logs::created_at.desc(), audit_logs::id.desc()))
        .offset(window.offset)
        .limit(window.limit)
        .select(AuditLog::as_select())
        .load(c)
        .await)
}

pub async fn count(conn: &mut Conn<'_>, org: Id, filter: &AuditFilter) -> QueryResult<i64> {
    dispatch!(conn, |c| filtered_logs!(org, filter)
        .count()
        .get_result(c)
        .await)
}
