//! Operations answered as a stream over plain HTTP, for networks and proxies where
//! WebSockets do not pass: GraphQL over Server-Sent Events (the `graphql-sse`
//! protocol, distinct connections mode) and `multipart/mixed` subscriptions (the
//! multipart HTTP subscription protocol of Apollo clients). Any operation may be sent
//! this way; a query or mutation streams its one result and ends.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_graphql::{Executor, Response as GraphQLResponse};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{BoxStream, Stream, StreamExt};

use super::{
    Server, address_refusal, admit, bearer_from_headers, caller_of, forged_upload,
    forged_upload_refused, refusal_response, request_info_of, unexecuted,
};
use crate::api_usage::CallStatus;
use crate::graphql::errors::REQUEST_ID;
use crate::graphql::loaders::Batching;

/// The boundary of multipart responses, as the protocol's clients expect it.
const BOUNDARY: &str = "graphql";

/// How a streamed operation is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// `text/event-stream`: `next` events, then `complete`.
    Sse,
    /// `multipart/mixed; subscriptionSpec="1.0"`: one JSON part per result.
    Multipart,
}

impl Framing {
    /// The streamed framing the `Accept` header asks for, if any.
    pub(super) fn wanted(headers: &HeaderMap) -> Option<Framing> {
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
            .to_ascii_lowercase();
        if accept.contains("text/event-stream") {
            Some(Framing::Sse)
        } else if accept.contains("multipart/mixed") && accept.contains("subscriptionspec") {
            Some(Framing::Multipart)
        } else {
            None
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Framing::Sse => "text/event-stream; charset=utf-8",
            Framing::Multipart => "multipart/mixed; boundary=\"graphql\"; subscriptionSpec=\"1.0\"",
        }
    }

    fn result(self, response: &GraphQLResponse) -> Bytes {
        let json = serde_json::to_string(response).unwrap_or_else(|error| {
            tracing::error!(%error, "serialising a streamed result failed");
            r#"{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#.to_string()
        });
        match self {
            // Serialised JSON holds no raw newline, so one `data:` line carries it.
            Framing::Sse => format!("event: next\ndata: {json}\n\n").into(),
            Framing::Multipart => part(&format!("{{\"payload\":{json}}}")),
        }
    }

    /// Keeps proxies from timing out a quiet stream.
    fn heartbeat(self) -> Bytes {
        match self {
            Framing::Sse => Bytes::from_static(b":\n\n"),
            Framing::Multipart => part("{}"),
        }
    }

    /// The stream's normal end.
    fn complete(self) -> Bytes {
        match self {
            Framing::Sse => Bytes::from_static(b"event: complete\ndata:\n\n"),
            Framing::Multipart => closing(),
        }
    }

    /// The end when the server stops: SSE clients see the stream cut and reconnect;
    /// multipart clients get the protocol's transport error, then the end.
    fn shutdown(self) -> Option<Bytes> {
        match self {
            Framing::Sse => None,
            Framing::Multipart => {
                let error = serde_json::json!({ "payload": null, "errors": [{
                    "message": "the server is shutting down; subscribe again",
                    "extensions": { "code": "SHUTTING_DOWN" } }] });
                let mut bytes = part(&error.to_string()).to_vec();
                bytes.extend_from_slice(&closing());
                Some(bytes.into())
            }
        }
    }
}

fn part(json: &str) -> Bytes {
    format!("\r\n--{BOUNDARY}\r\ncontent-type: application/json; charset=utf-8\r\n\r\n{json}")
        .into()
}

fn closing() -> Bytes {
    format!("\r\n--{BOUNDARY}--\r\n").into()
}

/// Executes `request` and answers its results as a stream framed by `framing`.
pub(super) async fn serve(
    server: &Server,
    parts: &axum::http::request::Parts,
    request: async_graphql::Request,
    framing: Framing,
) -> Response {
    if forged_upload(&request) {
        return forged_upload_refused();
    }
    let info = request_info_of(parts);
    let now = std::time::Instant::now();
    if let Some(refused) = address_refusal(server, &info, now) {
        return refused;
    }
    let request_id = info.request_id.clone();
    let credential = bearer_from_headers(&parts.headers);
    let (context, admitted) = REQUEST_ID
        .scope(
            request_id.clone(),
            admit(
                server,
                &server.state,
                credential.as_deref(),
                info,
                // The stream outlives any one poll: loaders batch on runtime tasks.
                Batching::Spawned,
                now,
            ),
        )
        .await;
    if let Err(refused) = admitted {
        let caller = std::sync::OnceLock::new();
        if let Some(known) = caller_of(&context) {
            let _ = caller.set(known);
        }
        unexecuted(
            server,
            &caller,
            request.operation_name.clone(),
            CallStatus::Refused,
            now,
            &request_id,
        );
        return refusal_response(refused);
    }
    let results = REQUEST_ID.sync_scope(request_id.clone(), || {
        server.gateway.execute_stream(request.data(context), None)
    });
    let frames = Frames {
        framing,
        results,
        heartbeat: tokio::time::interval_at(
            tokio::time::Instant::now() + server.keepalive(),
            server.keepalive(),
        ),
        draining: Box::pin(server.state.draining.begun()),
        request_id,
        ended: false,
    };
    let mut response = Response::new(Body::from_stream(frames));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(framing.content_type()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) would otherwise hold the events back in their buffers.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response.into_response()
}

/// The body of a streamed operation: its results framed, heartbeats while it is quiet,
/// and its end; polled within the request's id, so what it logs carries it.
struct Frames {
    framing: Framing,
    results: BoxStream<'static, GraphQLResponse>,
    heartbeat: tokio::time::Interval,
    draining: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    request_id: String,
    ended: bool,
}

impl Stream for Frames {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if this.draining.as_mut().poll(cx).is_ready() {
            this.ended = true;
            // Dropping the results ends the subscription.
            this.results = futures_util::stream::empty().boxed();
            return Poll::Ready(this.framing.shutdown().map(Ok));
        }
        let polled =
            REQUEST_ID.sync_scope(this.request_id.clone(), || this.results.poll_next_unpin(cx));
        match polled {
            Poll::Ready(Some(result)) => {
                this.heartbeat.reset();
                Poll::Ready(Some(Ok(this.framing.result(&result))))
            }
            Poll::Ready(None) => {
                this.ended = true;
                Poll::Ready(Some(Ok(this.framing.complete())))
            }
            Poll::Pending => match this.heartbeat.poll_tick(cx) {
                Poll::Ready(_) => Poll::Ready(Some(Ok(this.framing.heartbeat()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl Server {
    /// How often a quiet stream (or WebSocket) is pinged.
    pub(super) fn keepalive(&self) -> Duration {
        // A zero interval would spin; pings at least every second.
        Duration::from_secs(self.limits.ws_keepalive_seconds.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_each_protocol() {
        let response = GraphQLResponse::new(
            async_graphql::Value::from_json(serde_json::json!({ "a": "x\ny" })).expect("value"),
        );
        assert_eq!(
            Framing::Sse.result(&response),
            "event: next\ndata: {\"data\":{\"a\":\"x\\ny\"}}\n\n"
        );
        assert_eq!(
            Framing::Multipart.result(&response),
            "\r\n--graphql\r\ncontent-type: application/json; charset=utf-8\r\n\r\n{\"payload\":{\"data\":{\"a\":\"x\\ny\"}}}"
        );
        assert_eq!(Framing::Multipart.complete(), "\r\n--graphql--\r\n");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("multipart/mixed;subscriptionSpec=\"1.0\",application/json"),
        );
        assert_eq!(Framing::wanted(&headers), Some(Framing::Multipart));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("multipart/mixed;deferSpec=20220824"),
        );
        assert_eq!(
            Framing::wanted(&headers),
            None,
            "defer is not a stream of results here"
        );
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        assert_eq!(Framing::wanted(&headers), Some(Framing::Sse));
    }
}
