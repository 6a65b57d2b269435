//! A client for the executor service: the `call` subcommand, the tests and
//! the load benchmark use it to speak the same wire contract as the gateway.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

pub use super::convert::{WireOutcome, decode_response, request_to_proto};
use super::proto::python_executor_service_client::PythonExecutorServiceClient;
use super::server::MAX_MESSAGE_BYTES;

/// A channel to a server's Unix socket (for any service on it).
pub async fn connect_channel(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let socket: PathBuf = socket.to_path_buf();
    // The URI is required by the API but unused: the connector dials the socket.
    Endpoint::from_static("http://policy-host.invalid")
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                tokio::net::UnixStream::connect(socket)
                    .await
                    .map(TokioIo::new)
            }
        }))
        .await
}

/// An executor client on a server's Unix socket.
pub async fn connect_unix(
    socket: &Path,
) -> Result<PythonExecutorServiceClient<Channel>, tonic::transport::Error> {
    let channel = connect_channel(socket).await?;
    Ok(PythonExecutorServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}
