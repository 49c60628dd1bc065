//! A GraphQL WebSocket client for tests.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::TestApp;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(app: &TestApp, protocol: &str) -> Socket {
    connect_url(&app.url("/graphql"), protocol).await
}

/// Connects to the GraphQL endpoint at `http_url` (http:// or ws://).
pub async fn connect_url(http_url: &str, protocol: &str) -> Socket {
    let url = http_url.replacen("http", "ws", 1);
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    // This client zeroes its whole read buffer before every read (128 KiB by default):
    // 4 KiB fits the messages tests receive (a larger frame grows it), and keeps the
    // fan-out bench's subscribers, which share the machine's cores with the server,
    // from spending most of their time clearing memory.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (socket, response) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), false)
            .await
            .expect("websocket connects");
    assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
    socket
}

/// A `graphql-transport-ws` connection acknowledged for `token`, with `query` sent as
/// subscription `1`.
pub async fn subscribed(app: &TestApp, token: &str, query: &str) -> Socket {
    let mut socket = connect(app, "graphql-transport-ws").await;
    send(
        &mut socket,
        serde_json::json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        serde_json::json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
    socket
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message that is not a keep-alive, if one comes within `wait`.
pub async fn next_within(socket: &mut Socket, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()?
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if !matches!(value["type"].as_str(), Some("ka" | "ping" | "pong")) {
                return Some(value);
            }
        }
    }
}

/// The next JSON message that is not a keep-alive.
pub async fn next(socket: &mut Socket) -> Value {
    next_within(socket, Duration::from_secs(10))
        .await
        .expect("a message within 10 s")
}
