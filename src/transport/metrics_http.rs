//! `GET /metrics` on `--metrics-listen`: the dispatcher's series in the
//! OpenMetrics text format, which Prometheus scrapes.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::dispatch::Dispatcher;

/// The content type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn metrics(State(dispatcher): State<Arc<Dispatcher>>) -> impl IntoResponse {
    match dispatcher.metrics_text() {
        Some(text) => (StatusCode::OK, [(header::CONTENT_TYPE, OPENMETRICS)], text),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "metrics are off\n".to_string(),
        ),
    }
}

/// Serves `/metrics` on `listener` until the task is dropped.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    dispatcher: Arc<Dispatcher>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(dispatcher);
    axum::serve(listener, app).await
}
