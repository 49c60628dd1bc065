//! Schema extensions: every error gets an `extensions.code`; every operation is
//! recorded as API usage.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};

use super::context::{Auth, RequestContext};
use super::errors::ensure_code;
use crate::api_usage::{ApiCall, CallStatus, Caller, OperationKind};
use crate::state::AppState;

pub struct ErrorCodes;

/// Marks an error as the refusal of the limit set by `variable`.
fn name_limit(error: &mut ServerError, variable: &'static str) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("limit", variable);
}

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        // Errors raised before execution and not coded below concern the request itself
        // (unknown operation name, bad variables object).
        for error in &mut response.errors {
            ensure_code(error, "GRAPHQL_VALIDATION_FAILED");
        }
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|mut e| {
            if e.message.contains("recursion limit exceeded") {
                name_limit(&mut e, "MAX_RECURSIVE_DEPTH");
            }
            // The schema's nesting check (selections through fragments) runs with the
            // parse: it refuses a valid document, as the other limits do.
            if e.message.starts_with("The recursion depth of the query") {
                name_limit(&mut e, "MAX_RECURSIVE_DEPTH");
                ensure_code(&mut e, "GRAPHQL_VALIDATION_FAILED");
            }
            ensure_code(&mut e, "GRAPHQL_PARSE_FAILED");
            e
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            for e in &mut errors {
                // The schema's own limits, named like the document limits.
                match e.message.as_str() {
                    "Query is too complex." => name_limit(e, "MAX_QUERY_COMPLEXITY"),
                    "Query is nested too deep." => name_limit(e, "MAX_QUERY_DEPTH"),
                    _ => {}
                }
                ensure_code(e, "GRAPHQL_VALIDATION_FAILED");
            }
            errors
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        for error in &mut response.errors {
            ensure_code(error, "INTERNAL_SERVER_ERROR");
        }
        response
    }
}

/// Records every operation's API usage row: who, which operation, how long, how it
/// ended (see [`crate::api_usage`]).
pub struct ApiUsageLog;

impl ExtensionFactory for ApiUsageLog {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ApiUsageLogExtension::default())
    }
}

#[derive(Default)]
struct ApiUsageLogExtension {
    /// The document's operations, as parsed.
    operations: std::sync::Mutex<Vec<(Option<String>, OperationKind)>>,
    /// The operation the request named, once execution starts.
    executed: std::sync::Mutex<Option<String>>,
    /// Set for queries and mutations; subscriptions (over WebSocket) skip `request`.
    in_request: std::sync::atomic::AtomicBool,
    /// Who asked: the request's data reaches extensions only once it is parsed.
    caller: std::sync::Mutex<Caller>,
}

impl ApiUsageLogExtension {
    /// The executed operation's name and kind: the one named, or the only one.
    fn operation(&self) -> (Option<String>, OperationKind) {
        let operations = self
            .operations
            .lock()
            .map(|o| o.clone())
            .unwrap_or_default();
        let named = self.executed.lock().ok().and_then(|n| n.clone());
        let found = match &named {
            Some(name) => operations
                .iter()
                .find(|(n, _)| n.as_deref() == Some(name.as_str())),
            None if operations.len() == 1 => operations.first(),
            None => None,
        };
        match found {
            Some((name, kind)) => (name.clone(), *kind),
            None => (named, OperationKind::Unknown),
        }
    }

    /// Queues the row of an operation that ended.
    fn record(
        &self,
        ctx: &ExtensionContext<'_>,
        name: Option<&str>,
        kind: OperationKind,
        outcome: (CallStatus, usize),
        elapsed: std::time::Duration,
    ) {
        if let Some(state) = ctx.data_opt::<AppState>() {
            let caller = self.caller.lock().map(|c| *c).unwrap_or_default();
            state.api_usage.record(ApiCall::ended(
                caller,
                name,
                kind,
                outcome.0,
                outcome.1,
                elapsed,
                &super::errors::current_request_id(),
            ));
        }
    }
}

fn caller_of(ctx: &ExtensionContext<'_>) -> Caller {
    match ctx
        .data_opt::<Arc<RequestContext>>()
        .map(|request| &request.auth)
    {
        Some(Auth::Authenticated { actor, .. }) => Caller {
            organization_id: Some(actor.organization_id),
            user_id: Some(actor.user_id),
            api_key_id: actor.api_key_id,
        },
        _ => Caller::default(),
    }
}

#[async_trait::async_trait]
impl Extension for ApiUsageLogExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = std::time::Instant::now();
        self.in_request
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let response = next.run(ctx).await;
        let status = if response.errors.is_empty() {
            CallStatus::Ok
        } else if response.data == async_graphql::Value::Null {
            CallStatus::Error
        } else {
            CallStatus::Partial
        };
        let (name, kind) = self.operation();
        self.record(
            ctx,
            name.as_deref(),
            kind,
            (status, response.errors.len()),
            started.elapsed(),
        );
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Ok(mut caller) = self.caller.lock() {
            *caller = caller_of(ctx);
        }
        let document = next.run(ctx, query, variables).await?;
        let operations: Vec<(Option<String>, OperationKind)> = document
            .operations
            .iter()
            .map(|(name, operation)| {
                let kind = match operation.node.ty {
                    OperationType::Query => OperationKind::Query,
                    OperationType::Mutation => OperationKind::Mutation,
                    OperationType::Subscription => OperationKind::Subscription,
                };
                (name.map(|n| n.to_string()), kind)
            })
            .collect();
        let subscription = operations
            .iter()
            .find(|(_, kind)| *kind == OperationKind::Subscription)
            .map(|(name, _)| name.clone());
        if let Ok(mut stored) = self.operations.lock() {
            *stored = operations;
        }
        // A subscription counts once, when it starts.
        if !self.in_request.load(std::sync::atomic::Ordering::Relaxed)
            && let Some(name) = subscription
        {
            self.record(
                ctx,
                name.as_deref(),
                OperationKind::Subscription,
                (CallStatus::Ok, 0),
                std::time::Duration::ZERO,
            );
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Ok(mut executed) = self.executed.lock() {
            *executed = operation_name.map(str::to_string);
        }
        next.run(ctx, operation_name).await
    }
}

/// Forgets the cached sessions of the caller's organization once a mutation has run,
/// before its response leaves: whatever it changed of its users or organization (a
/// deactivation, a new role, a plan) applies to the very next request.
pub struct SessionRefresh;

impl ExtensionFactory for SessionRefresh {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(SessionRefreshExtension::default())
    }
}

#[derive(Default)]
struct SessionRefreshExtension {
    mutation: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Extension for SessionRefreshExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        // Any mutation in the document counts, whichever operation is executed.
        let mutation = document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Mutation);
        self.mutation
            .store(mutation, std::sync::atomic::Ordering::Relaxed);
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        if self.mutation.load(std::sync::atomic::Ordering::Relaxed)
            && let Some(state) = ctx.data_opt::<AppState>()
            && let Some(organization_id) = caller_of(ctx).organization_id
        {
            state.sessions.forget_organization(organization_id);
        }
        response
    }
}
