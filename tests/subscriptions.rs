//! Subscriptions over WebSocket, with both the `graphql-transport-ws` and the legacy
//! `graphql-ws` protocol, authenticated by the `connection_init` payload.

mod common;

use std::time::Duration;

use common::TestApp;
use common::ws::{Socket, connect, next, next_within, send};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const SUBSCRIPTION: &str = "subscription { teamsChanged { kind team { name roleCount } } }";

/// Changes teams (another organization's first, then the caller's) until the
/// subscription, whose registration the protocol does not acknowledge, sees one.
async fn first_event(
    app: &TestApp,
    socket: &mut Socket,
    token: &str,
    other: Option<&str>,
    name: &str,
) -> Value {
    for attempt in 0..50 {
        if let Some(other) = other {
            create_team(app, other, &format!("Not Yours {attempt}")).await;
        }
        create_team(app, token, &format!("{name} {attempt}")).await;
        if let Some(message) = next_within(socket, Duration::from_millis(200)).await {
            return message;
        }
    }
    panic!("the subscription never delivered an event");
}

async fn create_team(app: &TestApp, token: &str, name: &str) {
    app.data(
        Some(token),
        "mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }",
        json!({ "input": { "name": name, "monthlyBudget": "100", "roles": [{ "title": "Agent", "expertise": "SENIOR" }] } }),
    )
    .await;
}

async fn transport_ws_streams_team_changes(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let other = app.sign_up("globex").await;
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } }),
    )
    .await;

    let message = first_event(app, &mut socket, &token, Some(&other), "Marketing").await;
    assert_eq!(message["type"], "next");
    assert_eq!(message["id"], "1");
    let change = &message["payload"]["data"]["teamsChanged"];
    assert_eq!(change["kind"], "CREATED");
    assert_eq!(change["team"]["roleCount"], 1);
    assert!(
        change["team"]["name"]
            .as_str()
            .unwrap()
            .starts_with("Marketing"),
        "only the caller's organization's changes arrive: {change}"
    );
    send(&mut socket, json!({ "id": "1", "type": "complete" })).await;
}

async fn legacy_graphql_ws_streams_team_changes(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let mut socket = connect(app, "graphql-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": token } }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "7", "type": "start", "payload": { "query": SUBSCRIPTION } }),
    )
    .await;

    let message = first_event(app, &mut socket, &token, None, "Research").await;
    assert_eq!(message["type"], "data");
    assert_eq!(message["id"], "7");
    let name = message["payload"]["data"]["teamsChanged"]["team"]["name"]
        .as_str()
        .unwrap();
    assert!(name.starts_with("Research"), "{message}");
    send(&mut socket, json!({ "id": "7", "type": "stop" })).await;
}

async fn subscriptions_need_authentication(app: &TestApp) {
    // A bad token is refused at connection_init.
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer nope" } }),
    )
    .await;
    let refused = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("an answer");
    match refused {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert!(
                frame.reason.contains("token"),
                "the close reason says why: {frame:?}"
            )
        }
        other => panic!("expected the connection to be closed, got {other:?}"),
    }

    // Without credentials, the subscription itself answers UNAUTHENTICATED.
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } }),
    )
    .await;
    let message = next(&mut socket).await;
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{message}"
    );
    assert_eq!(message["payload"]["data"], Value::Null);
}

/// Connects with `protocol` and initialises the connection with `token`.
async fn initialised(app: &TestApp, protocol: &str, token: &str) -> Socket {
    let mut socket = connect(app, protocol).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    socket
}

/// Starts `runsChanged` as operation `id` (`start` for the legacy protocol).
async fn watch_runs(socket: &mut Socket, id: &str, legacy: bool) {
    let kind = if legacy { "start" } else { "subscribe" };
    send(
        socket,
        json!({ "id": id, "type": kind, "payload": { "query": "subscription { runsChanged { kind } }" } }),
    )
    .await;
}

/// Frames that arrive within `wait` (answering ping frames, as reading does): the
/// types of the text messages, the ping frames, and whether the server closed.
async fn frames(socket: &mut Socket, wait: Duration) -> (Vec<String>, usize, bool) {
    let deadline = tokio::time::Instant::now() + wait;
    let (mut types, mut pings) = (Vec::new(), 0);
    while let Ok(frame) = tokio::time::timeout_at(deadline, socket.next()).await {
        match frame {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                types.push(value["type"].as_str().unwrap_or_default().to_string());
            }
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return (types, pings, true),
            Some(Ok(_)) => {}
        }
    }
    (types, pings, false)
}

/// Waits until `count()` is `want`, for at most `wait`.
async fn settles(count: impl Fn() -> usize, want: usize, wait: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + wait;
    while count() != want && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    count()
}

/// The subscriptions running in `app` once they reach `want` (within 5 s).
async fn running(app: &TestApp, want: usize) -> usize {
    settles(
        || app.state.live.subscriptions.get(),
        want,
        Duration::from_secs(5),
    )
    .await
}

/// Pings every second, a client silent for 3 s is gone, 2 subscriptions a connection.
fn live_limits() -> gateway::config::Limits {
    gateway::config::Limits {
        ws_keepalive_seconds: 1,
        ws_idle_timeout_seconds: 3,
        max_subscriptions_per_connection: 2,
        ..Default::default()
    }
}

async fn the_server_keeps_connections_alive(app: &TestApp) {
    let token = app.sign_up("acme").await;
    for (protocol, keepalive) in [("graphql-transport-ws", "ping"), ("graphql-ws", "ka")] {
        let mut socket = initialised(app, protocol, &token).await;
        watch_runs(&mut socket, "1", protocol == "graphql-ws").await;
        // A client that answers the pings outlives the idle timeout many times over.
        let (types, pings, closed) = frames(&mut socket, Duration::from_secs(7)).await;
        assert!(!closed, "{protocol}: an answering client stays connected");
        assert!(
            pings >= 4,
            "{protocol}: a ping frame every second, got {pings}"
        );
        let keepalives = types.iter().filter(|t| *t == keepalive).count();
        assert!(
            keepalives >= 4,
            "{protocol}: `{keepalive}` every second, got {types:?}"
        );
        assert_eq!(app.state.live.subscriptions.get(), 1);
        drop(socket);
        let left = running(app, 0).await;
        assert_eq!(
            left, 0,
            "{protocol}: a closed connection's subscription ends"
        );
    }

    let live = &app.state.live;
    // A client that stays connected but falls silent (it reads nothing, so it answers
    // no ping) is closed after the idle timeout.
    let mut silent = initialised(app, "graphql-ws", &token).await;
    watch_runs(&mut silent, "1", true).await;
    assert_eq!(running(app, 1).await, 1);
    let left = settles(|| live.subscriptions.get(), 0, Duration::from_secs(15)).await;
    assert_eq!(left, 0, "a silent client is timed out");
    let (_, _, closed) = frames(&mut silent, Duration::from_secs(5)).await;
    assert!(closed, "the server closed the silent connection");
}

async fn vanished_clients_are_cleaned_up(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let live = &app.state.live;
    // 1,000 clients subscribe, then vanish without a close frame.
    let mut sockets = Vec::new();
    for _ in 0..1000 {
        let mut socket = initialised(app, "graphql-transport-ws", &token).await;
        watch_runs(&mut socket, "1", false).await;
        sockets.push(socket);
    }
    let subscribed = settles(|| live.subscriptions.get(), 1000, Duration::from_secs(30)).await;
    assert_eq!(subscribed, 1000);
    assert_eq!(live.websockets.get(), 1000);
    drop(sockets);
    let left = settles(|| live.subscriptions.get(), 0, Duration::from_secs(30)).await;
    assert_eq!(left, 0, "every subscription of a vanished client ends");
    assert_eq!(
        settles(|| live.websockets.get(), 0, Duration::from_secs(5)).await,
        0
    );
}

async fn subscriptions_per_connection_are_capped(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let mut socket = initialised(app, "graphql-transport-ws", &token).await;
    watch_runs(&mut socket, "1", false).await;
    watch_runs(&mut socket, "2", false).await;
    watch_runs(&mut socket, "3", false).await;
    let refused = next(&mut socket).await;
    assert_eq!(refused["id"], "3", "{refused}");
    let error = &refused["payload"]["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS",
        "{refused}"
    );
    assert_eq!(
        error["extensions"]["limit"], "MAX_SUBSCRIPTIONS_PER_CONNECTION",
        "{refused}"
    );
    assert_eq!(app.state.live.subscriptions.get(), 2);
    // Ending one makes room on the same connection.
    send(&mut socket, json!({ "id": "1", "type": "complete" })).await;
    assert_eq!(running(app, 1).await, 1);
    watch_runs(&mut socket, "4", false).await;
    assert_eq!(running(app, 2).await, 2);
    // Another connection has its own allowance.
    let mut other = initialised(app, "graphql-transport-ws", &token).await;
    watch_runs(&mut other, "1", false).await;
    assert_eq!(running(app, 3).await, 3);
}

backend_tests! {
    limits = super::live_limits();
    keepalive => the_server_keeps_connections_alive;
    capped => subscriptions_per_connection_are_capped;
}

/// No idle timeout within the test: only the closed TCP connections end the
/// subscriptions of vanished clients.
fn patient_limits() -> gateway::config::Limits {
    gateway::config::Limits {
        ws_idle_timeout_seconds: 600,
        ..Default::default()
    }
}

backend_tests! {
    limits = super::patient_limits();
    vanished => vanished_clients_are_cleaned_up;
}

/// Nothing executes runs: they stay pending until cancelled.
fn idle_engine() -> gateway::engine::EngineConfig {
    gateway::engine::EngineConfig {
        run_workers: 0,
        run_schedule_poll_ms: 0,
        ..common::test_engine()
    }
}

/// Cancels `run` and waits until each of `sockets` has its two events (the run's and
/// its team's): the statements executed meanwhile, and each socket's two payloads.
/// (A cancellation changes the organization, which makes the next request read the
/// session again: each starts settled.)
async fn cancel_watched(
    app: &TestApp,
    token: &str,
    run: &str,
    sockets: &mut [Socket],
) -> (u64, Vec<(Value, Value)>) {
    app.sessions_settled(token).await;
    let before = app.state.statements.get();
    app.data(
        Some(token),
        "mutation($input: CancelRunInput!) { cancelRun(input: $input) { run { id } } }",
        json!({ "input": { "id": run } }),
    )
    .await;
    let mut received = Vec::new();
    for socket in sockets.iter_mut() {
        let (mut run_event, mut team_event) = (Value::Null, Value::Null);
        while run_event.is_null() || team_event.is_null() {
            let message = next(socket).await;
            assert_eq!(message["type"], "next", "{message}");
            match message["id"].as_str() {
                Some("runs") => run_event = message["payload"].clone(),
                Some("teams") => team_event = message["payload"].clone(),
                _ => panic!("unexpected message {message}"),
            }
        }
        received.push((run_event, team_event));
    }
    (app.state.statements.get() - before, received)
}

async fn a_live_event_is_read_once_for_all_its_subscribers(app: &TestApp) {
    let token = app.sign_up("acme").await;
    let team = app.team_of_agents(&token, "Crew", "100", 1).await;
    let mut runs = Vec::new();
    for job in 0..6 {
        let data = app
            .data(
                Some(&token),
                "mutation($input: StartRunInput!) { startRun(input: $input) { run { id } } }",
                json!({ "input": { "teamId": team, "inputs": { "job": job } } }),
            )
            .await;
        runs.push(data["startRun"]["run"]["id"].as_str().unwrap().to_string());
    }
    // A background flush may land in any window: each figure is the least of three.
    let mut alone = u64::MAX;
    for run in &runs[..3] {
        alone = alone.min(cancel_watched(app, &token, run, &mut []).await.0);
    }

    let subscribers = 12;
    let mut sockets = Vec::new();
    for _ in 0..subscribers {
        let mut socket = initialised(app, "graphql-transport-ws", &token).await;
        for (id, query) in [
            (
                "runs",
                "subscription { runsChanged { kind run { id status } } }",
            ),
            (
                "teams",
                "subscription { teamsChanged { kind team { name } } }",
            ),
        ] {
            send(
                &mut socket,
                json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
            )
            .await;
        }
        sockets.push(socket);
    }
    assert_eq!(running(app, 2 * subscribers).await, 2 * subscribers);

    let mut watched = u64::MAX;
    for run in &runs[3..] {
        let (statements, received) = cancel_watched(app, &token, run, &mut sockets).await;
        watched = watched.min(statements);
        for (run_event, team_event) in received {
            let change = &run_event["data"]["runsChanged"];
            assert_eq!(change["kind"], "CANCELLED");
            assert_eq!(change["run"]["id"], run.as_str());
            assert_eq!(
                change["run"]["status"], "CANCELLED",
                "the run after the event"
            );
            let change = &team_event["data"]["teamsChanged"];
            assert_eq!(change["kind"], "UPDATED");
            assert_eq!(change["team"]["name"], "Crew");
        }
    }
    assert_eq!(
        watched - alone,
        2,
        "one read of the run and one of the team, however many subscribers"
    );
}

backend_tests! {
    engine = super::idle_engine();
    read_once => a_live_event_is_read_once_for_all_its_subscribers;
}

backend_tests! {
    transport_ws => transport_ws_streams_team_changes;
    legacy_ws => legacy_graphql_ws_streams_team_changes;
    auth => subscriptions_need_authentication;
}
