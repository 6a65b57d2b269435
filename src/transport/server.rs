//! Listening: the Unix socket (and optional TCP), both health services, and
//! graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::Server;
use tonic::transport::server::Router;

use super::proto::python_executor_service_server::PythonExecutorServiceServer;
use super::service::ExecutorService;
use super::stream::StreamOptions;
use crate::dispatch::Dispatcher;

/// Messages up to 50 MiB are accepted both ways (SPEC §1).
pub const MAX_MESSAGE_BYTES: usize = 50 * 1024 * 1024;

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The Unix socket path.
    pub socket: PathBuf,
    /// An optional TCP address as well.
    pub tcp: Option<SocketAddr>,
    /// An optional TCP address serving only `grpc.health.v1` (for
    /// Kubernetes probes, without exposing the executor on the network).
    pub health_tcp: Option<SocketAddr>,
    /// Per-stream limits.
    pub stream: StreamOptions,
    /// How long in-flight calls may take to finish after a stop signal.
    pub grace: Duration,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Another process is serving on the socket.
    #[error("{0}: another server is already listening on this socket")]
    SocketInUse(String),
    /// The socket path exists and is not a socket.
    #[error("{0}: exists and is not a socket; refusing to replace it")]
    NotASocket(String),
    /// Binding or socket housekeeping failed.
    #[error("{path}: {source}")]
    Io {
        /// The path or address.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ServeError + '_ {
    move |source| ServeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Binds the Unix socket: creates the parent directory, replaces a stale
/// socket file, refuses one a live server holds.
pub fn bind_unix_socket(path: &Path) -> Result<UnixListener, ServeError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if !metadata.file_type().is_socket() => {
            return Err(ServeError::NotASocket(path.display().to_string()));
        }
        Ok(_) => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ServeError::SocketInUse(path.display().to_string()));
            }
            tracing::info!(socket = %path.display(), "replacing stale socket file");
            std::fs::remove_file(path).map_err(io_error(path))?;
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error(path)(error)),
    }
    UnixListener::bind(path).map_err(io_error(path))
}

fn router<H>(service: ExecutorService, health: H) -> Router
where
    H: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    H::Future: Send + 'static,
{
    let executor = PythonExecutorServiceServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    Server::builder().add_service(health).add_service(executor)
}

async fn bind_tcp(address: SocketAddr) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Io {
            path: address.to_string(),
            source,
        })
}

/// Serves `health_only` (a router holding only `grpc.health.v1`) on
/// `address` until `shutdown` is set.
async fn serve_health_only(
    address: SocketAddr,
    health_only: Router,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let listener = bind_tcp(address).await?;
    tracing::info!(%address, "serving grpc.health.v1 on TCP");
    let health_only = health_only
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), wait_until(shutdown));
    tokio::spawn(async move {
        if let Err(error) = health_only.await {
            tracing::error!("the health endpoint stopped: {error}");
        }
    });
    Ok(())
}

/// Waits for `stop`, then tells health checkers and every stream that the
/// server is draining.
async fn announce_stop(
    stop: impl Future<Output = ()>,
    health: tonic_health::server::HealthReporter,
    stopping: watch::Sender<bool>,
) {
    stop.await;
    tracing::info!("stopping: no new streams; draining in-flight calls");
    health
        .set_not_serving::<PythonExecutorServiceServer<ExecutorService>>()
        .await;
    health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    let _ = stopping.send(true);
}

async fn wait_until(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

/// Serves until `stop` resolves, then drains: no new connections, streams
/// stop reading, answer their in-flight calls and end. Whatever is still
/// running `grace` after the stop is cut. The socket file is removed on the
/// way out.
pub async fn serve(
    dispatcher: Arc<Dispatcher>,
    config: ServerConfig,
    listener: UnixListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (stopping, shutdown) = watch::channel(false);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<PythonExecutorServiceServer<ExecutorService>>()
        .await;
    let service = || ExecutorService::new(dispatcher.clone(), config.stream, shutdown.clone());
    let unix = router(service(), health_service.clone()).serve_with_incoming_shutdown(
        UnixListenerStream::new(listener),
        wait_until(shutdown.clone()),
    );
    let tcp = match config.tcp {
        Some(address) => {
            let listener = bind_tcp(address).await?;
            tracing::info!(%address, "listening on TCP");
            let incoming = TcpListenerStream::new(listener);
            Some(
                router(service(), health_service.clone())
                    .serve_with_incoming_shutdown(incoming, wait_until(shutdown.clone())),
            )
        }
        None => None,
    };
    if let Some(address) = config.health_tcp {
        let health_only = Server::builder().add_service(health_service.clone());
        serve_health_only(address, health_only, shutdown.clone()).await?;
    }
    let controller = tokio::spawn(announce_stop(stop, health, stopping));
    let servers = async move {
        match tcp {
            Some(tcp) => tokio::try_join!(unix, tcp).map(|_| ()),
            None => unix.await,
        }
    };
    let grace = config.grace;
    let deadline = async move {
        wait_until(shutdown).await;
        tokio::time::sleep(grace).await;
    };
    let result = tokio::select! {
        result = servers => result.map_err(ServeError::from),
        () = deadline => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "grace period over: cutting remaining streams");
            Ok(())
        }
    };
    controller.abort();
    let _ = std::fs::remove_file(&config.socket);
    tracing::info!(socket = %config.socket.display(), "stopped");
    result
}
