//! Transport: the gateway's gRPC contract over a Unix socket (and optionally
//! TCP). It translates wire messages to call types and back, and holds no
//! business logic: every call goes to the dispatcher.

pub mod client;
pub mod convert;
pub mod metrics_http;
pub mod proto;
pub mod server;
pub mod service;
pub mod status;
pub mod stream;

pub use metrics_http::serve_metrics;
pub use server::{ServeError, ServerConfig, bind_unix_socket, serve};
pub use stream::StreamOptions;
