//! GraphQL over WebSocket (`graphql-transport-ws`, and the legacy `graphql-ws` of
//! subscriptions-transport-ws): the caller from `connection_init`, keep-alive pings
//! from the server, and an idle timeout that ends the connection (and its
//! subscriptions) of a client that vanished without closing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocket, WebSocketProtocols, WsMessage};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket as Socket};
use axum::extract::{FromRequestParts, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt, future};
use tracing::Instrument as _;

use super::{Shared, authenticate, bearer_from_headers, request_info_of};
use crate::audit::RequestInfo;
use crate::graphql::context::Auth;
use crate::graphql::errors::REQUEST_ID;
use crate::graphql::executor::{ConnectionSubscriptions, Gateway};
use crate::graphql::loaders::Batching;
use crate::state::AppState;

/// The close code of a connection that timed out (registered as "Timeout").
const TIMEOUT_CLOSE: u16 = 3008;
/// graphql-transport-ws: no `connection_init` in time.
const INIT_TIMEOUT_CLOSE: u16 = 4408;
/// The server is stopping ("Going Away"): reconnect, to another instance.
const GOING_AWAY_CLOSE: u16 = 1001;
/// At most this much of ready messages is gathered into one write. A connection's
/// write buffer keeps the capacity its largest write needed, so this also bounds what
/// a connection keeps after a burst.
const WRITE_BATCH_BYTES: usize = 1024;

/// How often the server pings, and how long a silent client is kept.
#[derive(Debug, Clone, Copy)]
struct Timing {
    keepalive: Duration,
    idle: Duration,
}

/// Upgrades to a GraphQL WebSocket. The token comes from the `connection_init`
/// payload (`Authorization` or `token`), or else from the upgrade request's
/// `Authorization` header.
pub(super) async fn upgrade(server: Shared, parts: &mut axum::http::request::Parts) -> Response {
    // The first protocol offered that is one of the two.
    let Some(protocol) = parts
        .headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|offered| {
            offered
                .split(',')
                .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
        })
    else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(e) => return e.into_response(),
    };
    let handshake = Handshake {
        header_credential: bearer_from_headers(&parts.headers),
        info: request_info_of(parts),
    };
    let request_id = handshake.info.request_id.clone();
    // Boxed: an idle connection's task keeps only what it still needs inline.
    let connection = Box::new(Connection {
        gateway: server.gateway.clone(),
        state: server.state.clone(),
        protocol,
        timing: Timing {
            keepalive: server.keepalive(),
            idle: Duration::from_secs(server.limits.ws_idle_timeout_seconds.max(1)),
        },
        handshake,
    });
    upgrade
        // GraphQL messages are small and most connections idle: 1 KiB of read buffer
        // instead of 128 (it grows to fit a larger frame); messages are gathered up to
        // `WRITE_BATCH_BYTES` and written when `send_ready` flushes them.
        .read_buffer_size(1024)
        .write_buffer_size(WRITE_BATCH_BYTES)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            // The connection outlives the upgrade request: its own span and request id
            // carry that request's id into every line it logs.
            let span = tracing::info_span!("ws", request_id = %request_id);
            REQUEST_ID
                .scope(request_id, serve(socket, connection))
                .instrument(span)
        })
        .into_response()
}

/// What the upgrade request said about the caller.
struct Handshake {
    header_credential: Option<String>,
    info: RequestInfo,
}

/// What a connection starts from.
struct Connection {
    gateway: Gateway,
    state: AppState,
    protocol: WebSocketProtocols,
    timing: Timing,
    handshake: Handshake,
}

async fn serve(socket: Socket, connection: Box<Connection>) {
    let Connection {
        gateway,
        state,
        protocol,
        timing,
        handshake,
    } = *connection;
    let _open = state.live.websockets.hold();
    let mut draining = std::pin::pin!(state.draining.begun());
    let (mut sink, incoming) = socket.split();
    let opened = Instant::now();
    // When the client was last heard from (any frame), in milliseconds since `opened`.
    let heard = Arc::new(AtomicU64::new(0));
    let initialized = Arc::new(AtomicBool::new(false));

    let heard_in = Arc::clone(&heard);
    let input = incoming
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(move |message| {
            heard_in.store(millis(opened.elapsed()), Ordering::Relaxed);
            future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    let mut connection = Data::default();
    connection.insert(ConnectionSubscriptions::default());
    // Only `connection_init` needs these: on the heap, and gone once it has run.
    let for_init = Box::new((state, handshake));
    let on_init = {
        let initialized = Arc::clone(&initialized);
        move |payload: serde_json::Value| async move {
            let (state, handshake) = *for_init;
            let credential = credential_from_payload(&payload).or(handshake.header_credential);
            let context = authenticate(
                &state,
                credential.as_deref(),
                handshake.info,
                Batching::Spawned,
            )
            .await;
            match &context.auth {
                Auth::Refused { reason, .. } => {
                    return Err(async_graphql::Error::new(reason.clone()));
                }
                Auth::Unavailable => {
                    return Err(async_graphql::Error::new(
                        crate::graphql::context::UNAVAILABLE,
                    ));
                }
                _ => {}
            }
            if let Auth::Authenticated { actor, .. } = &context.auth
                && let Some(quota) = actor.quota
                && let Err(refused) = state.quota.admit(actor.organization_id, quota)
            {
                return Err(async_graphql::Error::new(refused.public_message()));
            }
            let mut data = Data::default();
            data.insert(Arc::new(context));
            initialized.store(true, Ordering::Relaxed);
            Ok(data)
        }
    };
    let messages = WebSocket::new(gateway, input, protocol)
        .connection_data(connection)
        .on_connection_init(on_init)
        .map(|message| match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        });
    let mut messages = std::pin::pin!(messages);

    let mut ticker = tokio::time::interval(timing.keepalive);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate.
    ticker.tick().await;
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => match send_ready(&mut sink, messages.as_mut(), message).await {
                    Ok(Open::Yes) => {}
                    Ok(Open::No) | Err(_) => break,
                },
                None => break,
            },
            () = &mut draining => {
                let frame = CloseFrame { code: GOING_AWAY_CLOSE, reason: "server shutting down".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
            _ = ticker.tick() => {
                let now = opened.elapsed();
                let silent = now.saturating_sub(Duration::from_millis(heard.load(Ordering::Relaxed)));
                let closing = if silent >= timing.idle {
                    Some((TIMEOUT_CLOSE, "idle timeout"))
                } else if !initialized.load(Ordering::Relaxed) && now >= timing.idle {
                    Some((INIT_TIMEOUT_CLOSE, "Connection initialisation timeout"))
                } else {
                    None
                };
                if let Some((code, reason)) = closing {
                    let frame = CloseFrame { code, reason: reason.into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                if keepalive(&mut sink, protocol, initialized.load(Ordering::Relaxed)).await.is_err() {
                    break;
                }
            }
        }
    }
    // Dropping `messages` ends this connection's subscriptions.
}

/// Whether a connection's messages go on after a write.
enum Open {
    Yes,
    /// The messages ended (the connection is closing).
    No,
}

/// Sends `first` and the messages already waiting behind it in one write, up to
/// [`WRITE_BATCH_BYTES`]. Sockets send each write at once (`TCP_NODELAY`), so when
/// events come faster than a connection is served (a burst fanned out to thousands of
/// subscribers) this is what still puts several messages in one system call and one
/// TCP segment. Nothing waits for more: a message alone is written at once.
async fn send_ready<M>(
    sink: &mut futures_util::stream::SplitSink<Socket, Message>,
    mut messages: std::pin::Pin<&mut M>,
    first: Message,
) -> Result<Open, axum::Error>
where
    M: futures_util::Stream<Item = Message>,
{
    let mut gathered = message_len(&first);
    sink.feed(first).await?;
    let mut open = Open::Yes;
    while gathered < WRITE_BATCH_BYTES {
        let ready = future::poll_fn(|cx| Poll::Ready(messages.as_mut().poll_next(cx))).await;
        match ready {
            Poll::Ready(Some(message)) => {
                gathered += message_len(&message);
                sink.feed(message).await?;
            }
            Poll::Ready(None) => {
                open = Open::No;
                break;
            }
            Poll::Pending => break,
        }
    }
    sink.flush().await?;
    Ok(open)
}

fn message_len(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes.len(),
        Message::Close(_) => 0,
    }
}

/// A WebSocket ping frame (browsers answer it on their own), then once the connection
/// is initialised the protocol's keep-alive: `ping` (answered with `pong`) for
/// graphql-transport-ws, `ka` for the legacy protocol, whose clients expect it.
async fn keepalive(
    sink: &mut futures_util::stream::SplitSink<Socket, Message>,
    protocol: WebSocketProtocols,
    initialized: bool,
) -> Result<(), axum::Error> {
    sink.send(Message::Ping(Bytes::new())).await?;
    if initialized {
        let text = match protocol {
            WebSocketProtocols::GraphQLWS => r#"{"type":"ping"}"#,
            WebSocketProtocols::SubscriptionsTransportWS => r#"{"type":"ka"}"#,
        };
        sink.send(Message::Text(text.into())).await?;
    }
    Ok(())
}

fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

fn credential_from_payload(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    for (key, value) in object {
        let Some(text) = value.as_str() else { continue };
        if key.eq_ignore_ascii_case("authorization") {
            return crate::auth::bearer(text).map(str::to_string);
        }
        if key.eq_ignore_ascii_case("token")
            || key.eq_ignore_ascii_case("x-api-key")
            || key.eq_ignore_ascii_case("apiKey")
        {
            return Some(text.to_string());
        }
    }
    None
}
