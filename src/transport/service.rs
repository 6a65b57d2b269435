//! The `PythonExecutorService` implementation: unwraps, delegates, wraps.

use std::sync::Arc;

use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};

use super::proto::python_executor_service_server::PythonExecutorService;
use super::proto::{ExecutionRequest, HealthCheckRequest, HealthCheckResponse};
use super::stream::{self, ResponseStream, StreamOptions};
use crate::dispatch::Dispatcher;

/// The gRPC service the gateway talks to.
pub struct ExecutorService {
    dispatcher: Arc<Dispatcher>,
    options: StreamOptions,
    shutdown: watch::Receiver<bool>,
}

impl ExecutorService {
    /// A service over `dispatcher`; streams end when `shutdown` turns true.
    pub fn new(
        dispatcher: Arc<Dispatcher>,
        options: StreamOptions,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        ExecutorService {
            dispatcher,
            options,
            shutdown,
        }
    }
}

#[tonic::async_trait]
impl PythonExecutorService for ExecutorService {
    type ExecuteStreamStream = ResponseStream;

    async fn execute_stream(
        &self,
        request: Request<Streaming<ExecutionRequest>>,
    ) -> Result<Response<Self::ExecuteStreamStream>, Status> {
        tracing::debug!(remote = ?request.remote_addr(), "stream opened");
        let responses = stream::serve(
            self.dispatcher.clone(),
            request.into_inner(),
            self.options,
            self.shutdown.clone(),
        );
        Ok(Response::new(responses))
    }

    async fn health_check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            ready: !*self.shutdown.borrow(),
            loaded_policies: i32::try_from(self.dispatcher.policy_count()).unwrap_or(i32::MAX),
        }))
    }
}
