//! The audit side of every mutation, in one place: rows written by a successful
//! mutation are announced to `auditLogAdded` subscribers after it committed, and a
//! mutation that failed or was refused leaves a `success: false` row naming the
//! caller, the attempted action and the error.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{ContainerType, resolve_container_serial};
use async_graphql::{
    Context, ContextSelectionSet, ObjectType, OutputType, Positioned, ServerError, ServerResult,
    Value,
};

use super::Mutation;
use super::context::{Auth, RequestContext};
use crate::audit::{self, Failure};
use crate::events::Event;
use crate::state::AppState;

/// The mutation root, audited field by field. A wrapper rather than a schema extension:
/// async-graphql sends every field of every response through the extension chain as
/// soon as one extension exists, while only the few root fields of a mutation need
/// this.
#[derive(Default)]
pub struct AuditedMutation(Mutation);

impl OutputType for AuditedMutation {
    fn type_name() -> Cow<'static, str> {
        Mutation::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        Mutation::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        resolve_container_serial(ctx, self).await
    }
}

impl ContainerType for AuditedMutation {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        let result = self.0.resolve_field(ctx).await;
        audit_outcome(ctx, &result).await;
        result
    }
}

impl ObjectType for AuditedMutation {}

/// The audit action and resource type of a mutation field.
pub fn action_of(mutation: &str) -> (&'static str, &'static str) {
    match mutation {
        "signUp" => ("organization.sign_up", "organization"),
        "login" => ("user.login", "user"),
        "createTeam" => ("team.create", "team"),
        "updateTeam" => ("team.update", "team"),
        "deleteTeam" => ("team.delete", "team"),
        "reorderRoles" => ("team.reorder_roles", "team"),
        "addRole" => ("role.create", "role"),
        "updateRole" => ("role.update", "role"),
        "removeRole" => ("role.delete", "role"),
        "createUser" => ("user.create", "user"),
        "updateUser" => ("user.update", "user"),
        "deactivateUser" => ("user.deactivate", "user"),
        "activateUser" => ("user.activate", "user"),
        "deleteUser" => ("user.delete", "user"),
        "changePassword" => ("user.change_password", "user"),
        "createApiKey" => ("api_key.create", "api_key"),
        "revokeApiKey" => ("api_key.revoke", "api_key"),
        "updateOrganization" => ("organization.update", "organization"),
        "changePlan" => ("subscription.change_plan", "subscription"),
        "cancelSubscription" => ("subscription.cancel", "subscription"),
        "updateSubscription" => ("subscription.update", "subscription"),
        "setOrganizationSetting" => ("setting.set", "setting"),
        "deleteOrganizationSetting" => ("setting.delete", "setting"),
        "startRun" => ("run.start", "run"),
        "cancelRun" => ("run.cancel", "run"),
        "startConversation" => ("conversation.start", "conversation"),
        "sendMessage" => ("conversation.message", "conversation"),
        "updateConversation" => ("conversation.update", "conversation"),
        "deleteConversation" => ("conversation.delete", "conversation"),
        "createWebhook" => ("webhook.create", "webhook"),
        "updateWebhook" => ("webhook.update", "webhook"),
        "deleteWebhook" => ("webhook.delete", "webhook"),
        "testWebhook" => ("webhook.test", "webhook"),
        "createRunSchedule" => ("run_schedule.create", "run_schedule"),
        "updateRunSchedule" => ("run_schedule.update", "run_schedule"),
        "pauseRunSchedule" => ("run_schedule.pause", "run_schedule"),
        "resumeRunSchedule" => ("run_schedule.resume", "run_schedule"),
        "deleteRunSchedule" => ("run_schedule.delete", "run_schedule"),
        "uploadDocument" | "createDocument" => ("document.create", "document"),
        "updateDocument" => ("document.update", "document"),
        "deleteDocument" => ("document.delete", "document"),
        _ => ("mutation", "mutation"),
    }
}

fn code_of(error: &ServerError) -> String {
    error
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "INTERNAL_SERVER_ERROR".into())
}

/// Announces the rows a mutation field wrote once it succeeded, or records its failure.
async fn audit_outcome(ctx: &Context<'_>, result: &ServerResult<Option<Value>>) {
    let (Some(request), Some(state)) = (
        ctx.data_opt::<Arc<RequestContext>>(),
        ctx.data_opt::<AppState>(),
    ) else {
        return;
    };
    let mutation = ctx.item.node.name.node.as_str();
    let (who, written) = match &request.auth {
        Auth::Authenticated { actor, .. } => (
            Some((actor.organization_id, actor.user_id)),
            actor.audit.take(),
        ),
        Auth::Refused {
            known: Some((user, org)),
            ..
        } => (Some((*org, *user)), Vec::new()),
        _ => (None, Vec::new()),
    };
    match result {
        Ok(_) => {
            for row in written {
                state.bus.publish(Event::Audit(Arc::new(row)));
            }
        }
        // What the failed mutation wrote was rolled back with it.
        Err(error) => {
            if let Some((organization_id, user_id)) = who {
                let (action, resource_type) = action_of(mutation);
                let failure = Failure {
                    organization_id,
                    actor_user_id: Some(user_id),
                    action,
                    resource_type,
                    details: serde_json::json!({
                        "mutation": mutation,
                        "code": code_of(error),
                        "message": error.message,
                    }),
                    request: &request.request,
                };
                let recorded = match state.pool.get().await {
                    Ok(mut pooled) => audit::record_failure(&mut pooled.conn(), failure)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match recorded {
                    Ok(row) => state.bus.publish(Event::Audit(Arc::new(row))),
                    Err(e) => tracing::error!(
                        request_id = %request.request.request_id,
                        error = %e,
                        "could not audit a failed mutation"
                    ),
                }
            }
        }
    }
}
