//! The live dashboard: one self-contained page served at `/dashboard`.

use axum::response::Html;

/// The page; it talks to `/graphql` (HTTP and WebSocket) like any client.
pub async fn page() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}
