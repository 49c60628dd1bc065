//! How an operation runs, on every transport: the document limits before and after
//! parsing, an `extensions.code` on every error, one API usage row per operation, and
//! the cached sessions of the caller's organization forgotten once a mutation has run.
//!
//! This sits around the schema rather than in schema extensions: with any extension
//! installed, async-graphql sends every field of every response (thousands for a
//! nested page) through the extension chain, a boxed future per extension per field.

use std::any::TypeId;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Data, Executor, Request, Response, ServerError, Value};
use futures_util::stream::{self, BoxStream, StreamExt};
use tracing::Instrument as _;

use super::context::{Auth, RequestContext};
use super::document_cache::DocumentCache;
use super::errors::{current_request_id, ensure_code};
use super::limits::{DocumentLimits, name_limit, refusal};
use super::persisted::{ManifestError, PersistedDocuments};
use super::{AppSchema, build};
use crate::api_usage::{ApiCall, CallStatus, Caller, OperationKind};
use crate::config::Limits;
use crate::metrics::{Gauge, Held};
use crate::state::AppState;

/// The schema with what every operation gets around it. Every connection and request
/// holds one, so a clone is one shared reference.
#[derive(Clone)]
pub struct Gateway(Arc<GatewayParts>);

/// What a [`Gateway`] shares among its clones.
pub struct GatewayParts {
    schema: AppSchema,
    state: AppState,
    limits: DocumentLimits,
    max_subscriptions_per_connection: usize,
    /// Operations slower than this are logged.
    slow: Duration,
    persisted: Arc<PersistedDocuments>,
    /// Documents that passed the limits, parsed.
    documents: DocumentCache,
    /// Turns for executing queries (see `Limits::concurrent_queries`).
    queries: Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for Gateway {
    type Target = GatewayParts;

    fn deref(&self) -> &GatewayParts {
        &self.0
    }
}

/// The subscriptions running on one connection, kept in the connection's data.
#[derive(Clone, Default)]
pub struct ConnectionSubscriptions(pub Gauge);

impl Gateway {
    /// The gateway of `state`; fails when the trusted documents cannot be read.
    pub fn new(state: AppState, limits: &Limits, slow: Duration) -> Result<Gateway, ManifestError> {
        let persisted = PersistedDocuments::new(
            limits.apq_cache_entries,
            limits.trusted_documents.as_deref(),
        )?;
        if let Some(path) = &limits.trusted_documents {
            tracing::info!(path = %path.display(), documents = persisted.trusted_count(), "trusted documents only (admins excepted)");
        }
        Ok(Gateway(Arc::new(GatewayParts {
            schema: build(Some(state.clone()), limits),
            documents: DocumentCache::new(limits.document_cache_entries, state.metrics.clone()),
            state,
            limits: DocumentLimits {
                max_tokens: limits.max_tokens,
                max_nesting: limits.max_recursive_depth,
                max_aliases: limits.max_aliases,
                max_root_fields: limits.max_root_fields,
                introspection: limits.introspection,
            },
            max_subscriptions_per_connection: limits.max_subscriptions_per_connection,
            slow,
            persisted: Arc::new(persisted),
            queries: Arc::new(tokio::sync::Semaphore::new(limits.concurrent_queries())),
        })))
    }

    /// The persisted documents (APQ and trusted) this gateway resolves.
    pub fn persisted(&self) -> &PersistedDocuments {
        &self.persisted
    }

    /// Parses the request's document within the limits (or finds it parsed) and hands
    /// it to the schema parsed, so it is not parsed twice. A refused document is
    /// recorded here.
    fn prepare(
        &self,
        request: &mut Request,
        caller: &Asker,
        started: Instant,
    ) -> Result<Operation, ServerError> {
        let caller_ids = caller.ids;
        let resolved = self
            .persisted
            .resolve(request, caller.admin)
            .and_then(|()| {
                self.documents
                    .parse(&request.query, |text| self.limits.parse(text))
            });
        match resolved {
            Ok(parsed) => {
                let operation = Operation::of(
                    parsed.text.clone(),
                    &parsed.document,
                    request.operation_name.as_deref(),
                );
                request.set_parsed_query(parsed.for_request());
                Ok(operation)
            }
            Err(error) => {
                let unparsed = Operation::unparsed(request);
                self.record(caller_ids, &unparsed, Outcome::failed(), started.elapsed());
                count_error(&self.state.metrics, &error);
                Err(error)
            }
        }
    }

    /// A query's or mutation's response, on any transport: coded errors, the
    /// sessions a mutation may have changed forgotten, its usage row.
    fn finish(
        &self,
        caller: Caller,
        operation: &Operation,
        started: Instant,
        response: &mut Response,
    ) {
        let elapsed = started.elapsed();
        if elapsed >= self.slow {
            // Variables stay out of logs: they can hold passwords and secrets.
            tracing::warn!(
                operation = operation.name.as_deref().unwrap_or(""),
                kind = operation.kind.as_str(),
                duration_ms = elapsed.as_millis() as u64,
                errors = response.errors.len(),
                document = %operation.document(),
                "slow operation"
            );
        }
        code_and_count(&self.state.metrics, &mut response.errors);
        // Whatever a mutation changed of the organization or its users (a
        // deactivation, a new role, a plan) applies to the very next request.
        if operation.mutates
            && let Some(organization_id) = caller.organization_id
        {
            self.state.sessions.forget_organization(organization_id);
        }
        self.record(caller, operation, Outcome::of(response), elapsed);
    }

    /// A count of the subscription on its connection (WebSocket) and in the process;
    /// refused when the connection holds its allowance already.
    fn hold_subscription(
        &self,
        connection: Option<&Data>,
    ) -> Result<(Option<Held>, Held), ServerError> {
        let max = self.max_subscriptions_per_connection;
        let on_connection = match connection.and_then(data_of::<ConnectionSubscriptions>) {
            Some(running) => Some(running.0.try_hold(max).ok_or_else(|| {
                refusal(
                    "MAX_SUBSCRIPTIONS_PER_CONNECTION",
                    "TOO_MANY_SUBSCRIPTIONS",
                    format!("this connection holds {max} subscriptions already; end one or open another connection"),
                )
            })?),
            None => None,
        };
        Ok((on_connection, self.state.live.subscriptions.hold()))
    }

    fn record(&self, caller: Caller, operation: &Operation, outcome: Outcome, elapsed: Duration) {
        self.state.record_operation(ApiCall::ended(
            caller,
            operation.name.as_deref(),
            operation.kind,
            outcome.status,
            outcome.errors,
            elapsed,
            &current_request_id(),
        ));
    }
}

impl Executor for Gateway {
    async fn execute(&self, mut request: Request) -> Response {
        let started = Instant::now();
        let caller = caller_of(&request.data, None);
        let operation = match self.prepare(&mut request, &caller, started) {
            Ok(operation) => operation,
            Err(error) => return Response::from_errors(vec![error]),
        };
        let caller = caller.ids;
        let span = tracing::info_span!(
            "graphql",
            otel.name = %format_args!("{} {}", operation.kind.as_str(), operation.name.as_deref().unwrap_or("anonymous")),
            graphql.operation.type = operation.kind.as_str(),
            graphql.operation.name = operation.name.as_deref().unwrap_or(""),
            request_id = %current_request_id(),
        );
        // The semaphore is never closed; without a turn the query runs anyway.
        let _turn = match operation.kind {
            OperationKind::Query => self.queries.acquire().await.ok(),
            _ => None,
        };
        let mut response = self.schema.execute(request).instrument(span).await;
        self.finish(caller, &operation, started, &mut response);
        response
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let started = Instant::now();
        let caller = caller_of(&request.data, session_data.as_deref());
        let operation = match self.prepare(&mut request, &caller, started) {
            Ok(operation) => operation,
            Err(error) => return refused(error),
        };
        let caller = caller.ids;
        if operation.kind != OperationKind::Subscription {
            // A query or mutation over a socket: one response, handled as over HTTP.
            let gateway = self.clone();
            return self
                .schema
                .execute_stream_with_session_data(request, session_data.unwrap_or_default())
                .map(move |mut response| {
                    gateway.finish(caller, &operation, started, &mut response);
                    response
                })
                .boxed();
        }
        let counted = match self.hold_subscription(session_data.as_deref()) {
            Ok(counted) => counted,
            Err(error) => {
                self.record(caller, &operation, Outcome::refused(), Duration::ZERO);
                count_error(&self.state.metrics, &error);
                return refused(error);
            }
        };
        // A subscription counts once, when it starts.
        self.record(caller, &operation, Outcome::ok(), Duration::ZERO);
        let metrics = self.state.metrics.clone();
        self.schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(move |mut response| {
                // Counted while the stream lives: however it ends, dropping it gives
                // the counts back.
                let _counted = &counted;
                code_and_count(&metrics, &mut response.errors);
                response
            })
            .boxed()
    }
}

/// A stream of the one response refusing an operation.
fn refused(error: ServerError) -> BoxStream<'static, Response> {
    stream::once(async move { Response::from_errors(vec![error]) }).boxed()
}

/// The operation a request executes, as its document says.
struct Operation {
    /// The document as sent (for the slow-operation log).
    text: Arc<str>,
    name: Option<String>,
    kind: OperationKind,
    /// Any operation of the document is a mutation, whichever one runs.
    mutates: bool,
}

impl Operation {
    /// The document for a log line: string values hidden (a document can inline a
    /// password or a token), comments dropped, shortened.
    fn document(&self) -> String {
        redacted(&self.text, 4096)
    }

    /// The operation named, or the document's only one.
    fn of(text: Arc<str>, document: &ExecutableDocument, named: Option<&str>) -> Operation {
        let kind_of = |ty: OperationType| match ty {
            OperationType::Query => OperationKind::Query,
            OperationType::Mutation => OperationKind::Mutation,
            OperationType::Subscription => OperationKind::Subscription,
        };
        let mut operations = document.operations.iter();
        let found = match named {
            Some(name) => operations.find(|(n, _)| n.map(|n| n.as_str()) == Some(name)),
            None if document.operations.iter().count() == 1 => operations.next(),
            None => None,
        };
        let mutates = document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Mutation);
        match found {
            Some((name, operation)) => Operation {
                text,
                name: name.map(|n| n.to_string()),
                kind: kind_of(operation.node.ty),
                mutates,
            },
            None => Operation {
                text,
                name: named.map(str::to_string),
                kind: OperationKind::Unknown,
                mutates,
            },
        }
    }

    /// A document that did not parse or was refused by a limit.
    fn unparsed(request: &Request) -> Operation {
        Operation {
            text: request.query.as_str().into(),
            name: request.operation_name.clone(),
            kind: OperationKind::Unknown,
            mutates: false,
        }
    }
}

/// How an operation ended, for its API usage row.
#[derive(Clone, Copy)]
struct Outcome {
    status: CallStatus,
    errors: usize,
}

impl Outcome {
    fn of(response: &Response) -> Outcome {
        let status = if response.errors.is_empty() {
            CallStatus::Ok
        } else if response.data == Value::Null {
            CallStatus::Error
        } else {
            CallStatus::Partial
        };
        Outcome {
            status,
            errors: response.errors.len(),
        }
    }

    fn ok() -> Outcome {
        Outcome {
            status: CallStatus::Ok,
            errors: 0,
        }
    }

    /// The document did not parse or crossed a limit.
    fn failed() -> Outcome {
        Outcome {
            status: CallStatus::Error,
            errors: 1,
        }
    }

    fn refused() -> Outcome {
        Outcome {
            status: CallStatus::Refused,
            errors: 1,
        }
    }
}

fn data_of<T: Send + Sync + 'static>(data: &Data) -> Option<&T> {
    data.get(&TypeId::of::<T>())
        .and_then(|d| d.downcast_ref::<T>())
}

/// Who asked, as far as running an operation is concerned.
#[derive(Default)]
struct Asker {
    ids: Caller,
    /// An organization admin: may run documents outside the trusted ones.
    admin: bool,
}

/// Who asked: the request's own context (HTTP) or its connection's (WebSocket).
fn caller_of(request: &Data, connection: Option<&Data>) -> Asker {
    let context = |data: &Data| data_of::<Arc<RequestContext>>(data).cloned();
    match context(request).or_else(|| connection.and_then(context)) {
        Some(context) => match &context.auth {
            Auth::Authenticated { actor, .. } => Asker {
                ids: Caller {
                    organization_id: Some(actor.organization_id),
                    user_id: Some(actor.user_id),
                    api_key_id: actor.api_key_id,
                },
                admin: actor.role == crate::auth::permissions::OrgRole::Admin,
            },
            _ => Asker::default(),
        },
        None => Asker::default(),
    }
}

/// Codes the errors async-graphql raised itself, and counts every error by code.
fn code_and_count(metrics: &crate::metrics::Metrics, errors: &mut [ServerError]) {
    code_errors(errors);
    for error in errors.iter() {
        count_error(metrics, error);
    }
}

fn count_error(metrics: &crate::metrics::Metrics, error: &ServerError) {
    let code = error.extensions.as_ref().and_then(|e| match e.get("code") {
        Some(Value::String(code)) => Some(code.as_str()),
        _ => None,
    });
    metrics.error(code.unwrap_or("INTERNAL_SERVER_ERROR"));
}

/// Codes the errors async-graphql raised itself. Without a path they were raised
/// before execution (validation, the schema's depth, complexity and recursion limits)
/// and concern the document; with one, during execution, and they are internal unless
/// they are input errors. Resolvers' own errors are coded already.
fn code_errors(errors: &mut [ServerError]) {
    for error in errors {
        if error.path.is_empty() {
            match error.message.as_str() {
                "Query is too complex." => name_limit(error, "MAX_QUERY_COMPLEXITY"),
                "Query is nested too deep." => name_limit(error, "MAX_QUERY_DEPTH"),
                m if m.starts_with("The recursion depth of the query") => {
                    name_limit(error, "MAX_RECURSIVE_DEPTH")
                }
                _ => {}
            }
            ensure_code(error, "GRAPHQL_VALIDATION_FAILED");
        } else {
            ensure_code(error, "INTERNAL_SERVER_ERROR");
        }
    }
}

/// `text` with every string value replaced by `"***"` and comments dropped, cut
/// after about `max` bytes.
fn redacted(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if out.len() >= max {
            out.push('…');
            break;
        }
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' if chars.peek() == Some(&'"') => {
                chars.next();
                if chars.peek() == Some(&'"') {
                    // A block string runs to the next unescaped `"""`.
                    chars.next();
                    let mut quotes = 0;
                    let mut escaped = false;
                    for c in chars.by_ref() {
                        match c {
                            '"' if !escaped => {
                                quotes += 1;
                                if quotes == 3 {
                                    break;
                                }
                            }
                            _ => {
                                quotes = 0;
                                escaped = c == '\\';
                            }
                        }
                    }
                    out.push_str("\"***\"");
                } else {
                    out.push_str("\"\"");
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"***\"");
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn logged_documents_hide_string_values() {
        assert_eq!(
            redacted(
                "mutation { login(input: {email: \"a@b.c\", password: \"p\\\"w\"}) { token } } # \"x\"\n",
                4096
            ),
            "mutation { login(input: {email: \"***\", password: \"***\"}) { token } } \n"
        );
        assert_eq!(
            redacted(
                "{ a(b: \"\"\"secret \"\" \\\"\"\" here\"\"\", c: \"\") }",
                4096
            ),
            "{ a(b: \"***\", c: \"\") }"
        );
        assert_eq!(redacted("{ aaaa }", 3), "{ a…");
    }
}
