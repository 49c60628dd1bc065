//! The audit trail: one append-only row per change, written in the change's transaction.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::permissions::Actor;
use crate::db::schema::audit_logs;
use crate::db::{Conn, Id, Json, Timestamp};
use crate::dispatch;

/// Where a request came from, as recorded in the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub request_id: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
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
        actor_api_key_id: None,
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
    Ok(())
}
