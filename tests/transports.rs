//! Subscriptions over plain HTTP: GraphQL over Server-Sent Events (`graphql-sse`,
//! distinct connections mode) and `multipart/mixed` subscriptions; and how every
//! subscription transport ends when the server stops.

mod common;

use std::time::Duration;

use common::{Backend, TestApp, error_code};
use futures_util::StreamExt;
use gateway::config::Limits;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const RUN_UPDATES: &str = "subscription($id: ID!) { runUpdates(runId: $id) { seq kind status \
     step { position status } } }";
const RUNS_CHANGED: &str =
    "subscription { runsChanged(includeProgress: true) { kind runId status } }";

async fn start_run(app: &TestApp, token: &str, team: &str) -> String {
    let data = app
        .data(
            Some(token),
            "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }",
            json!({ "input": { "teamId": team, "inputs": { "topic": "streams" } } }),
        )
        .await;
    data["startRun"]["run"]["id"]
        .as_str()
        .expect("run id")
        .to_string()
}

/// POSTs `query` asking for a stream with `accept`.
async fn open_stream(
    app: &TestApp,
    token: Option<&str>,
    accept: &str,
    query: &str,
    variables: Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("accept", accept)
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request is sent");
    assert_eq!(response.status(), 200);
    response
}

/// Reads the body until `done` holds of what was read, or the stream ends.
async fn read_until(
    response: &mut reqwest::Response,
    done: impl Fn(&str) -> bool,
) -> (String, bool) {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if done(&text) {
            return (text, false);
        }
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(std::str::from_utf8(&chunk).expect("UTF-8")),
            Ok(Ok(None)) | Ok(Err(_)) => return (text, true),
            Err(_) => panic!("the stream stalled; read so far: {text}"),
        }
    }
}

/// The `(event, data)` pairs of an event stream, comments (heartbeats) left out.
fn sse_events(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = Some(name.trim().to_string());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            event.map(|event| (event, data))
        })
        .collect()
}

/// The JSON parts of a multipart body, and whether its closing delimiter came.
fn multipart_parts(text: &str) -> (Vec<Value>, bool) {
    let closed = text.ends_with("\r\n--graphql--\r\n");
    let parts = text
        .split("\r\n--graphql")
        .filter(|part| part.starts_with("\r\n"))
        .map(|part| {
            let (headers, body) = part.split_once("\r\n\r\n").expect("part headers and body");
            assert!(
                headers
                    .to_ascii_lowercase()
                    .contains("content-type: application/json"),
                "{headers}"
            );
            serde_json::from_str(body).expect("a JSON part")
        })
        .collect();
    (parts, closed)
}

/// Checks a run's events as a subscriber saw them: every seq once, in order, each
/// step completed, ending COMPLETED.
fn assert_whole_run(events: &[Value], steps: usize) {
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "every event once, in order: {events:#?}");
    let completed: Vec<i64> = events
        .iter()
        .filter(|e| e["kind"] == "STEP_COMPLETED")
        .map(|e| e["step"]["position"].as_i64().expect("position"))
        .collect();
    assert_eq!(completed, (0..steps as i64).collect::<Vec<_>>());
    let last = events.last().expect("events");
    assert_eq!(last["kind"], "COMPLETED");
    assert_eq!(last["status"], "COMPLETED");
}

async fn sse_streams_a_run_and_completes(app: &TestApp) {
    let token = app.sign_up("sse").await;
    let team = app.team_of_agents(&token, "Streamers", "1000", 3).await;
    let run = start_run(app, &token, &team).await;
    let mut response = open_stream(
        app,
        Some(&token),
        "text/event-stream",
        RUN_UPDATES,
        json!({ "id": run }),
    )
    .await;
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let (text, ended) = read_until(&mut response, |text| text.contains("event: complete")).await;
    assert!(!ended, "the complete event comes before the end: {text}");
    let events = sse_events(&text);
    let (last, rest) = events.split_last().expect("events");
    assert_eq!(last.0, "complete");
    assert!(rest.iter().all(|(event, _)| event == "next"), "{events:?}");
    let updates: Vec<Value> = rest
        .iter()
        .map(|(_, data)| {
            let body: Value = serde_json::from_str(data).expect("JSON data");
            assert!(body.get("errors").is_none(), "{body:#}");
            body["data"]["runUpdates"].clone()
        })
        .collect();
    assert_whole_run(&updates, 3);
    // Then the server ends the response.
    let (_, ended) = read_until(&mut response, |_| false).await;
    assert!(ended);

    // A query over the same transport: one result, then complete.
    let mut response = open_stream(
        app,
        Some(&token),
        "text/event-stream",
        "{ viewer { organization { slug } } }",
        json!({}),
    )
    .await;
    let (text, _) = read_until(&mut response, |text| text.contains("event: complete")).await;
    let events = sse_events(&text);
    assert_eq!(events.len(), 2, "{text}");
    let body: Value = serde_json::from_str(&events[0].1).expect("JSON");
    assert_eq!(body["data"]["viewer"]["organization"]["slug"], "sse");

    // Without a token the subscription is refused in its stream, as on WebSocket.
    let mut response = open_stream(app, None, "text/event-stream", RUNS_CHANGED, json!({})).await;
    let (text, _) = read_until(&mut response, |text| text.contains("event: complete")).await;
    let events = sse_events(&text);
    let body: Value = serde_json::from_str(&events[0].1).expect("JSON");
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body:#}");
}

async fn multipart_streams_a_live_run(app: &TestApp) {
    let token = app.sign_up("multipart").await;
    let team = app.team_of_agents(&token, "Streamers", "1000", 2).await;
    // Subscribed before the run exists: every event arrives live.
    let mut changes = open_stream(
        app,
        Some(&token),
        "multipart/mixed;subscriptionSpec=\"1.0\", application/json",
        RUNS_CHANGED,
        json!({}),
    )
    .await;
    assert_eq!(
        changes.headers()["content-type"],
        "multipart/mixed; boundary=\"graphql\"; subscriptionSpec=\"1.0\""
    );
    let settle = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.state.live.subscriptions.get() == 0 && tokio::time::Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let run = start_run(app, &token, &team).await;
    let (text, ended) =
        read_until(&mut changes, |text| text.contains(r#""kind":"COMPLETED""#)).await;
    assert!(!ended);
    let (parts, closed) = multipart_parts(&text);
    assert!(!closed, "runsChanged goes on");
    let kinds: Vec<&str> = parts
        .iter()
        .filter(|part| part["payload"].is_object())
        .map(|part| {
            let event = &part["payload"]["data"]["runsChanged"];
            assert_eq!(event["runId"], run.as_str());
            event["kind"].as_str().expect("kind")
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "CREATED",
            "STARTED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "COMPLETED"
        ]
    );

    // runUpdates of the finished run: the whole log, then the closing delimiter.
    let mut updates = open_stream(
        app,
        Some(&token),
        "multipart/mixed;subscriptionSpec=1.0",
        RUN_UPDATES,
        json!({ "id": run }),
    )
    .await;
    let (text, _) = read_until(&mut updates, |text| text.ends_with("--graphql--\r\n")).await;
    let (parts, closed) = multipart_parts(&text);
    assert!(closed);
    let events: Vec<Value> = parts
        .iter()
        .filter(|part| part["payload"].is_object())
        .map(|part| part["payload"]["data"]["runUpdates"].clone())
        .collect();
    assert_whole_run(&events, 2);
}

/// A client that goes away without a word is noticed at the next heartbeat.
async fn vanished_stream_clients_are_cleaned_up(app: &TestApp) {
    let token = app.sign_up("vanish").await;
    let mut responses = Vec::new();
    for accept in [
        "text/event-stream",
        "multipart/mixed;subscriptionSpec=\"1.0\"",
    ] {
        for _ in 0..10 {
            responses.push(open_stream(app, Some(&token), accept, RUNS_CHANGED, json!({})).await);
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.state.live.subscriptions.get() < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.state.live.subscriptions.get(), 20);
    // A heartbeat comes while nothing happens.
    let (text, _) = read_until(&mut responses[0], |text| text.contains(":\n\n")).await;
    assert_eq!(text, ":\n\n");
    drop(responses);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.state.live.subscriptions.get() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.state.live.subscriptions.get(), 0);
}

fn quick_heartbeats() -> Limits {
    Limits {
        ws_keepalive_seconds: 1,
        ..Limits::default()
    }
}

backend_tests! {
    sse => sse_streams_a_run_and_completes;
    multipart => multipart_streams_a_live_run;
}

backend_tests! {
    limits = super::quick_heartbeats();
    vanished => vanished_stream_clients_are_cleaned_up;
}

/// Stopping the server ends every subscription with its transport's goodbye: a
/// WebSocket close 1001, the multipart protocol's error part and closing delimiter,
/// and the end of an event stream (its clients reconnect).
async fn stopping_ends_subscriptions_properly(backend: Backend) {
    let Some(mut app) = TestApp::spawn(backend).await else {
        return;
    };
    let token = app.sign_up("drain").await;
    let mut socket = common::ws::subscribed(&app, &token, RUNS_CHANGED).await;
    let mut sse = open_stream(
        &app,
        Some(&token),
        "text/event-stream",
        RUNS_CHANGED,
        json!({}),
    )
    .await;
    let mut multipart = open_stream(
        &app,
        Some(&token),
        "multipart/mixed;subscriptionSpec=\"1.0\"",
        RUNS_CHANGED,
        json!({}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.state.live.subscriptions.get() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.state.live.subscriptions.get(), 3);

    let server = app.server.take().expect("running");
    let stopped = tokio::spawn(server.stop());

    let close = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame in time")
    .expect("with a code");
    assert_eq!(u16::from(close.code), 1001);
    assert_eq!(close.reason.as_str(), "server shutting down");

    let (text, ended) = read_until(&mut multipart, |_| false).await;
    assert!(ended);
    let (parts, closed) = multipart_parts(&text);
    assert!(closed, "{text:?}");
    let last = parts.last().expect("a part");
    assert_eq!(last["payload"], Value::Null);
    assert_eq!(last["errors"][0]["extensions"]["code"], "SHUTTING_DOWN");

    let (text, ended) = read_until(&mut sse, |_| false).await;
    assert!(ended);
    assert!(!text.contains("event: complete"), "{text}");

    tokio::time::timeout(Duration::from_secs(15), stopped)
        .await
        .expect("the server stops in time")
        .expect("task")
        .expect("stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_subscriptions_sqlite() {
    stopping_ends_subscriptions_properly(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_subscriptions_postgres() {
    stopping_ends_subscriptions_properly(Backend::Postgres).await;
}
