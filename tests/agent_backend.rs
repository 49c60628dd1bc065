//! The `openai` agent backend against a local server speaking the chat-completions
//! protocol: request shape, model mapping, retries on errors and slow replies, failing
//! a run once the step's attempts are used up, and an organization's own API key.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::ws::{connect, next, send};
use common::{Backend, TestApp, test_engine};
use gateway::engine::{BackendKind, EngineConfig};
use serde_json::{Value, json};

/// What the server does with one call.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Ok,
    ServerError,
    BadRequest,
    /// Answers after longer than the client waits.
    Slow,
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    /// Once the script is used up.
    then: Option<Reply>,
    requests: Vec<(Option<String>, Value)>,
}

type Shared = Arc<Mutex<Script>>;

async fn completions(
    State(script): State<Shared>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let reply = {
        let mut script = script.lock().unwrap();
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        script.requests.push((auth, body.0.clone()));
        let then = script.then.unwrap_or(Reply::Ok);
        script.replies.pop_front().unwrap_or(then)
    };
    let n = script.lock().unwrap().requests.len();
    match reply {
        Reply::ServerError => {
            (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response()
        }
        Reply::BadRequest => (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({ "error": { "message": "unknown model", "type": "invalid_request_error" } }),
            ),
        )
            .into_response(),
        Reply::Ok if body.0["stream"] == true => streamed(body.0["model"].clone()),
        Reply::Slow | Reply::Ok => {
            if let Reply::Slow = reply {
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            axum::Json(json!({
                "id": format!("chatcmpl-{n}"),
                "object": "chat.completion",
                "model": body.0["model"],
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": format!("answer {n}") }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150 }
            }))
            .into_response()
        }
    }
}

/// The reply "Hello from the stream" as server-sent chunks, a pause between each,
/// then the usage and `[DONE]`.
fn streamed(model: Value) -> Response {
    let pieces = ["Hello", " from", " the", " stream"];
    let events = async_stream::stream! {
        for piece in pieces {
            tokio::time::sleep(Duration::from_millis(40)).await;
            let chunk = json!({ "object": "chat.completion.chunk", "model": model,
                "choices": [{ "index": 0, "delta": { "content": piece }, "finish_reason": null }] });
            yield Ok::<_, std::convert::Infallible>(format!("data: {chunk}\n\n"));
        }
        let last = json!({ "object": "chat.completion.chunk", "model": model,
            "choices": [{ "index": 0, "delta": {}, "finish_reason": "stop" }] });
        yield Ok(format!("data: {last}\n\n"));
        let usage = json!({ "object": "chat.completion.chunk", "model": model, "choices": [],
            "usage": { "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150 } });
        yield Ok(format!("data: {usage}\n\ndata: [DONE]\n\n"));
    };
    (
        [("content-type", "text/event-stream")],
        axum::body::Body::from_stream(events),
    )
        .into_response()
}

async fn mock(replies: &[Reply], then: Reply) -> (String, Shared) {
    let script: Shared = Arc::new(Mutex::new(Script {
        replies: replies.iter().copied().collect(),
        then: Some(then),
        requests: Vec::new(),
    }));
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1"), script)
}

fn engine(base_url: String) -> EngineConfig {
    EngineConfig {
        agent_backend: BackendKind::Openai,
        openai_base_url: base_url,
        openai_api_key: Some("sk-test".into()),
        openai_model_map: "gpt-4=mock-large".into(),
        openai_timeout_ms: 400,
        openai_max_retries: 2,
        openai_retry_backoff_ms: 10,
        ..test_engine()
    }
}

async fn run_team(app: &TestApp, max_iterations: i32) -> Value {
    run_team_of(app, "acme", None, max_iterations).await
}

/// Signs up `slug` (which sets `own_key` as its `openai.api_key` when given) and runs a
/// team of two roles to its end.
async fn run_team_of(
    app: &TestApp,
    slug: &str,
    own_key: Option<&str>,
    max_iterations: i32,
) -> Value {
    let token = app.sign_up(slug).await;
    if let Some(key) = own_key {
        let set = app
            .data(
                Some(&token),
                "mutation($input: SetOrganizationSettingInput!) { setOrganizationSetting(input: $input) { \
                 setting { key dataType value masked } } }",
                json!({ "input": { "key": "openai.api_key", "dataType": "ENCRYPTED", "value": key,
                                   "category": "agents" } }),
            )
            .await;
        let setting = &set["setOrganizationSetting"]["setting"];
        assert_eq!(setting["value"], Value::Null, "a secret is never shown");
        assert_eq!(setting["masked"], "********");
    }
    let data = app
        .data(
            Some(&token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
            json!({ "input": { "name": "Writers", "monthlyBudget": "100", "roles": [
                { "title": "Lead", "expertise": "EXPERT", "llmModel": "gpt-4",
                  "llmConfig": { "temperature": 0.2, "max_tokens": 256 },
                  "agentConfig": { "system_prompt": "You lead the writers.", "backstory": "Ten years of editing" } },
                { "title": "Junior", "expertise": "JUNIOR", "llmModel": "gpt-3.5-turbo" }
            ] } }),
        )
        .await;
    let team = data["createTeam"]["team"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let data = app
        .data(
            Some(&token),
            "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }",
            json!({ "input": { "teamId": team, "inputs": { "brief": "launch post" },
                "executionConfig": { "maxIterations": max_iterations } } }),
        )
        .await;
    let id = data["startRun"]["run"]["id"].as_str().unwrap().to_string();
    for _ in 0..300 {
        let data = app
            .data(
                Some(&token),
                "query($id: ID!) { run(id: $id) { status errorMessage cost result \
                 steps { status promptTokens completionTokens cost output errorMessage } } }",
                json!({ "id": id }),
            )
            .await;
        if matches!(data["run"]["status"].as_str(), Some("COMPLETED" | "FAILED")) {
            return data["run"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the run did not end");
}

async fn retries_errors_and_slow_replies(backend: Backend) {
    // The first call fails with a 500, the second is too slow; both are retried.
    let (url, script) = mock(&[Reply::ServerError, Reply::Slow], Reply::Ok).await;
    let Some(app) = TestApp::spawn_with_engine(backend, engine(url)).await else {
        return;
    };
    let run = run_team(&app, 1).await;
    assert_eq!(run["status"], "COMPLETED", "{run:#}");
    let lead = &run["steps"][0];
    assert_eq!(
        lead["promptTokens"], 100,
        "token counts come from the reply's usage"
    );
    assert_eq!(lead["completionTokens"], 50);
    // 100 prompt tokens at $30/M and 50 completion tokens at $60/M.
    assert_eq!(lead["cost"], "0.0060");
    assert_eq!(lead["output"]["finishReason"], "stop");
    assert_eq!(lead["output"]["model"], "mock-large");
    // gpt-3.5-turbo: 100 at $0.50/M + 50 at $1.50/M = $0.000125, which rounds to 0.0001.
    assert_eq!(run["steps"][1]["cost"], "0.0001");
    assert_eq!(run["cost"], "0.0061");
    assert!(run["result"].as_str().unwrap().starts_with("answer"));

    let requests = script.lock().unwrap().requests.clone();
    // 500, slow (timed out), then the answers of both steps.
    assert_eq!(requests.len(), 4, "{requests:#?}");
    let (auth, first) = &requests[0];
    assert_eq!(auth.as_deref(), Some("Bearer sk-test"));
    assert_eq!(first["model"], "mock-large", "mapped model");
    assert_eq!(first["temperature"], 0.2);
    assert_eq!(first["max_tokens"], 256);
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert_eq!(first["messages"][0]["role"], "system");
    assert!(system.starts_with("You lead the writers."), "{system}");
    assert!(system.contains("Ten years of editing"), "{system}");
    let user = first["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("launch post"), "{user}");
    let (_, second_step) = &requests[3];
    assert_eq!(
        second_step["model"], "gpt-3.5-turbo",
        "unmapped models pass through"
    );
    let context = second_step["messages"][1]["content"].as_str().unwrap();
    assert!(
        context.contains("Answer of the Lead"),
        "earlier answers are context: {context}"
    );
    app.finish().await;
}

async fn fails_the_run_after_max_iterations(backend: Backend) {
    let (url, script) = mock(&[], Reply::BadRequest).await;
    let Some(app) = TestApp::spawn_with_engine(backend, engine(url)).await else {
        return;
    };
    let run = run_team(&app, 2).await;
    assert_eq!(run["status"], "FAILED", "{run:#}");
    let error = run["errorMessage"].as_str().unwrap();
    assert!(error.contains("failed after 2 attempts"), "{error}");
    assert!(error.contains("HTTP 400: unknown model"), "{error}");
    assert_eq!(run["steps"][0]["status"], "FAILED");
    assert_eq!(run["steps"][1]["status"], "SKIPPED");
    assert_eq!(run["cost"], "0.0000");
    // A 400 is not retried by the client; each of the 2 iterations asked once.
    assert_eq!(script.lock().unwrap().requests.len(), 2);
    app.finish().await;
}

async fn organizations_bring_their_own_key(backend: Backend) {
    let (url, script) = mock(&[], Reply::Ok).await;
    let Some(app) = TestApp::spawn_with_engine(backend, engine(url)).await else {
        return;
    };
    let own = run_team_of(&app, "acme", Some("sk-acme-own"), 1).await;
    assert_eq!(own["status"], "COMPLETED", "{own:#}");
    let seen: Vec<Option<String>> = script
        .lock()
        .unwrap()
        .requests
        .drain(..)
        .map(|(auth, _)| auth)
        .collect();
    assert_eq!(seen, vec![Some("Bearer sk-acme-own".to_string()); 2]);
    // An organization without its own key runs on the configured one.
    let shared = run_team_of(&app, "globex", None, 1).await;
    assert_eq!(shared["status"], "COMPLETED", "{shared:#}");
    let seen: Vec<Option<String>> = script
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|(auth, _)| auth.clone())
        .collect();
    assert_eq!(seen, vec![Some("Bearer sk-test".to_string()); 2]);
    app.finish().await;
}

/// A conversation's replies stream from the endpoint: chunks relayed as they come,
/// usage from the final chunk, the history sent along, a failure before any text
/// retried, and a refused call stored as a FAILED reply that costs nothing.
async fn conversations_stream_from_the_endpoint(backend: Backend) {
    let (url, script) = mock(
        &[Reply::ServerError, Reply::Ok, Reply::Ok, Reply::BadRequest],
        Reply::Ok,
    )
    .await;
    let Some(app) = TestApp::spawn_with_engine(backend, engine(url)).await else {
        return;
    };
    let token = app.sign_up("acme").await;
    app.data(
        Some(&token),
        "mutation($input: SetOrganizationSettingInput!) { setOrganizationSetting(input: $input) { setting { key } } }",
        json!({ "input": { "key": "openai.api_key", "dataType": "ENCRYPTED", "value": "sk-acme-own" } }),
    )
    .await;
    let data = app
        .data(
            Some(&token),
            "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { roles { id } } } }",
            json!({ "input": { "name": "Writers", "monthlyBudget": "100", "roles": [
                { "title": "Lead", "expertise": "EXPERT", "llmModel": "gpt-4",
                  "agentConfig": { "system_prompt": "You lead the writers." } }] } }),
        )
        .await;
    let role = data["createTeam"]["team"]["roles"][0]["id"].clone();
    let data = app
        .data(
            Some(&token),
            "mutation($input: StartConversationInput!) { startConversation(input: $input) { conversation { id } } }",
            json!({ "input": { "roleId": role } }),
        )
        .await;
    let id = data["startConversation"]["conversation"]["id"].clone();
    let mut socket = connect(&app, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": token } }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { messageStream(conversationId: $id) { kind delta } }",
        "variables": { "id": id } } }),
    )
    .await;
    let say = |content: &'static str| {
        let (app, token, id) = (&app, &token, &id);
        async move {
            app.data(
                Some(token),
                "mutation($input: SendMessageInput!) { sendMessage(input: $input) {                  conversation { cost } reply { status content promptTokens completionTokens cost                  finishReason errorMessage model } } }",
                json!({ "input": { "conversationId": id, "content": content } }),
            )
            .await["sendMessage"]
                .clone()
        }
    };

    let first = say("Draft the launch post").await;
    let reply = &first["reply"];
    assert_eq!(reply["status"], "COMPLETED", "{first:#}");
    assert_eq!(reply["content"], "Hello from the stream");
    assert_eq!(reply["promptTokens"], 100, "usage from the final chunk");
    assert_eq!(reply["completionTokens"], 50);
    assert_eq!(reply["cost"], "0.0060");
    assert_eq!(reply["finishReason"], "stop");
    assert_eq!(
        reply["model"], "gpt-4",
        "priced and shown as the role's model"
    );
    let mut deltas = Vec::new();
    loop {
        let event = next(&mut socket).await["payload"]["data"]["messageStream"].clone();
        match event["kind"].as_str() {
            Some("DELTA") => deltas.push(event["delta"].as_str().unwrap().to_string()),
            Some("COMPLETED") => break,
            _ => {}
        }
    }
    assert!(deltas.len() >= 2, "relayed as generated: {deltas:?}");
    assert_eq!(deltas.concat(), "Hello from the stream");

    let second = say("Shorter, please").await;
    assert_eq!(second["reply"]["status"], "COMPLETED");
    let third = say("And a title?").await;
    let failed = &third["reply"];
    assert_eq!(failed["status"], "FAILED", "{third:#}");
    assert_eq!(failed["content"], "");
    assert_eq!(failed["cost"], "0.0000");
    let error = failed["errorMessage"].as_str().unwrap();
    assert!(error.contains("HTTP 400: unknown model"), "{error}");
    assert_eq!(
        third["conversation"]["cost"], "0.0120",
        "a failed reply is free"
    );

    let requests = script.lock().unwrap().requests.clone();
    // The 500 (retried: nothing had been sent yet), then one call per message.
    assert_eq!(requests.len(), 4, "{requests:#?}");
    let (auth, body) = &requests[1];
    assert_eq!(auth.as_deref(), Some("Bearer sk-acme-own"));
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["model"], "mock-large");
    let (_, body) = &requests[2];
    let turns: Vec<(&str, &str)> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        turns,
        [
            ("system", "You lead the writers."),
            ("user", "Draft the launch post"),
            ("assistant", "Hello from the stream"),
            ("user", "Shorter, please"),
        ]
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_streams_conversations() {
    conversations_stream_from_the_endpoint(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_streams_conversations() {
    conversations_stream_from_the_endpoint(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_brings_its_own_key() {
    organizations_bring_their_own_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_brings_its_own_key() {
    organizations_bring_their_own_key(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_retries_errors_and_slow_replies() {
    retries_errors_and_slow_replies(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retries_errors_and_slow_replies() {
    retries_errors_and_slow_replies(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fails_the_run_after_max_iterations() {
    fails_the_run_after_max_iterations(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fails_the_run_after_max_iterations() {
    fails_the_run_after_max_iterations(Backend::Postgres).await;
}
