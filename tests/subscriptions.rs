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

backend_tests! {
    transport_ws => transport_ws_streams_team_changes;
    legacy_ws => legacy_graphql_ws_streams_team_changes;
    auth => subscriptions_need_authentication;
}
