//! One `ExecuteStream`: read requests eagerly, run them concurrently, answer
//! each exactly once, in completion order.
//!
//! - At most `max_in_flight` calls per stream ([`StreamPermits`]): the reader
//!   takes a permit before reading the next frame, so past the cap reading
//!   pauses and HTTP/2 flow control pushes back on the client; requests are
//!   submitted in arrival order. Admission past that (the server-wide queue
//!   bound, the breaker) is the dispatcher's.
//! - Half-close: in-flight calls finish and are answered, then the stream ends.
//! - An undecodable frame: the same, then `INVALID_ARGUMENT`.
//! - Client gone (the response stream is dropped): waiting calls are
//!   cancelled; calls already on a sandbox thread finish within their deadline
//!   and their results are discarded.
//! - Server shutdown: stop reading, answer in-flight calls, end with `UNAVAILABLE`.

use std::sync::Arc;
use std::time::Instant;

use prost::Message;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::proto::{ExecutionRequest, ExecutionResponse};
use super::{convert, status};
use crate::contract::{CallOutput, Phase};
use crate::dispatch::CallError;
use crate::dispatch::{Dispatcher, StreamPermits};

/// Per-stream limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Calls in flight per stream (`PYTHON_POLICY_MAX_CONCURRENT`).
    pub max_in_flight: usize,
    /// Largest encoded response sent; larger results become an error (the
    /// Go client reads at most 4 MiB per message by default).
    pub max_response_bytes: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            max_in_flight: 100,
            max_response_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The response stream a handler returns.
pub type ResponseStream = ReceiverStream<Result<ExecutionResponse, Status>>;

/// Starts serving one stream; returns the response side.
pub fn serve(
    dispatcher: Arc<Dispatcher>,
    inbound: Streaming<ExecutionRequest>,
    options: StreamOptions,
    shutdown: watch::Receiver<bool>,
) -> ResponseStream {
    let (responses, receiver) = mpsc::channel(options.max_in_flight.max(1));
    tokio::spawn(run(dispatcher, inbound, responses, options, shutdown));
    ReceiverStream::new(receiver)
}

type Responses = mpsc::Sender<Result<ExecutionResponse, Status>>;

/// Why the reading loop stopped.
enum StreamEnd {
    HalfClosed,
    BadFrame(Status),
    ShuttingDown,
    ClientGone,
}

async fn run(
    dispatcher: Arc<Dispatcher>,
    mut inbound: Streaming<ExecutionRequest>,
    responses: Responses,
    options: StreamOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = StreamPermits::new(options.max_in_flight);
    let mut calls = JoinSet::new();
    let end = loop {
        let permit = tokio::select! {
            permit = permits.acquire() => permit,
            () = responses.closed() => break StreamEnd::ClientGone,
            _ = shutdown.wait_for(|stopping| *stopping) => break StreamEnd::ShuttingDown,
        };
        let next = tokio::select! {
            next = inbound.message() => next,
            () = responses.closed() => break StreamEnd::ClientGone,
            _ = shutdown.wait_for(|stopping| *stopping) => break StreamEnd::ShuttingDown,
        };
        while calls.try_join_next().is_some() {}
        match next {
            Ok(Some(request)) => {
                // Validation and queueing happen here, in arrival order; the
                // task only waits for the result and sends it.
                calls.spawn(answer(
                    &dispatcher,
                    request,
                    responses.clone(),
                    permit,
                    options,
                ));
            }
            Ok(None) => break StreamEnd::HalfClosed,
            Err(cause) if connection_lost(&cause) => break StreamEnd::ClientGone,
            Err(cause) => break StreamEnd::BadFrame(cause),
        }
    };
    finish(end, calls, &responses).await;
}

/// Ends a stream whose reading loop stopped: cancels the waiting calls if
/// the client went away, else lets every call answer, then sends the
/// closing status (an undecodable frame, shutdown) if there is one.
async fn finish(end: StreamEnd, mut calls: JoinSet<()>, responses: &Responses) {
    if matches!(end, StreamEnd::ClientGone) {
        tracing::debug!(
            cancelled = calls.len(),
            "client went away; cancelling its waiting calls"
        );
        calls.abort_all();
        return;
    }
    tokio::select! {
        () = async { while calls.join_next().await.is_some() {} } => {}
        () = responses.closed() => {
            calls.abort_all();
            return;
        }
    }
    let closing = match end {
        StreamEnd::BadFrame(cause) => {
            tracing::warn!(%cause, "ending stream: undecodable frame");
            Some(status::undecodable_frame(&cause))
        }
        StreamEnd::ShuttingDown => Some(status::shutting_down()),
        StreamEnd::HalfClosed | StreamEnd::ClientGone => None,
    };
    if let Some(closing) = closing {
        let _ = responses.send(Err(closing)).await;
    }
}

/// Whether reading the next request failed because the connection broke
/// (an I/O error under the HTTP/2 layer: the client went away), not because
/// a frame did not decode.
fn connection_lost(cause: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(cause);
    while let Some(error) = source {
        let io = error.downcast_ref::<std::io::Error>().is_some()
            || error
                .downcast_ref::<h2::Error>()
                .is_some_and(h2::Error::is_io)
            || error
                .downcast_ref::<hyper::Error>()
                .is_some_and(|e| e.is_closed() || e.is_incomplete_message());
        if io {
            return true;
        }
        source = error.source();
    }
    false
}

/// What a response needs to know about its request, kept while it runs.
struct CallTag {
    request_id: String,
    policy_name: String,
    policy_version: String,
    phase: Option<Phase>,
    started: Instant,
}

impl CallTag {
    fn of(request: &ExecutionRequest) -> Self {
        CallTag {
            request_id: request.request_id.clone(),
            policy_name: request.policy_name.clone(),
            policy_version: request.policy_version.clone(),
            phase: request.phase.parse().ok(),
            started: Instant::now(),
        }
    }

    /// The one wire response for this request (the dispatcher has logged
    /// and counted the outcome).
    fn response(
        self,
        result: Result<CallOutput, CallError>,
        max_bytes: usize,
    ) -> ExecutionResponse {
        let us = self.started.elapsed().as_micros() as u64;
        let (request_id, name, version) = (self.request_id, self.policy_name, self.policy_version);
        let encoded = result.map(|output| {
            // The dispatcher rejects unknown phases, so a completed call has one.
            let phase = self.phase.ok_or_else(|| {
                CallError::Internal("a call completed without a known phase".into())
            })?;
            tracing::trace!(%request_id, us, "answered");
            convert::success(request_id.clone(), phase, output).inspect_err(|error| {
                tracing::warn!(%request_id, policy = %name, %version, error_type = status::error_type(error), "the call's result cannot be sent: {error}");
            })
        });
        let response = match encoded {
            Ok(Ok(response)) => response,
            Ok(Err(error)) | Err(error) => {
                status::error_response(request_id, &name, &version, &error)
            }
        };
        within_size_cap(response, &name, &version, max_bytes)
    }
}

/// Submits one request to the dispatcher now (so calls queue in arrival
/// order) and returns the task that sends its one response. The admission
/// permit is held until the response is queued.
fn answer(
    dispatcher: &Dispatcher,
    request: ExecutionRequest,
    responses: Responses,
    permit: OwnedSemaphorePermit,
    options: StreamOptions,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let tag = CallTag::of(&request);
    let submitted = dispatcher.submit(convert::invocation(request));
    async move {
        let result = match submitted {
            Ok(pending) => pending.await,
            Err(error) => Err(error),
        };
        let _ = responses
            .send(Ok(tag.response(result, options.max_response_bytes)))
            .await;
        drop(permit);
    }
}

fn within_size_cap(
    response: ExecutionResponse,
    name: &str,
    version: &str,
    cap: usize,
) -> ExecutionResponse {
    let size = response.encoded_len();
    if size <= cap {
        return response;
    }
    tracing::warn!(request_id = %response.request_id, policy = %name, size, cap, "response over the size cap");
    let error = CallError::ResponseTooLarge { size, cap };
    status::error_response(response.request_id, name, version, &error)
}
