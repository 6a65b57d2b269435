//! A real server on a real Unix socket in a temporary directory, and a
//! client generated from `proto/`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use policy_host::contract::CallInput;
use policy_host::dispatch::{Dispatcher, InputCaps, PolicyRegistry, WorkerOptions};
use policy_host::transport::client::{
    WireOutcome, connect_unix, decode_response, request_to_proto,
};
use policy_host::transport::proto::python_executor_service_client::PythonExecutorServiceClient;
use policy_host::transport::proto::{ExecutionRequest, ExecutionResponse};
use policy_host::transport::{ServerConfig, StreamOptions, bind_unix_socket, serve};
use tokio::sync::oneshot;
use tonic::transport::Channel;

use crate::harness::harness;

/// Server settings a test may change.
#[derive(Clone)]
pub struct Settings {
    /// Policies to load, by test-policy name.
    pub policies: Vec<&'static str>,
    /// Sandbox worker threads.
    pub workers: usize,
    /// Per-stream in-flight cap.
    pub max_in_flight: usize,
    /// Response size cap.
    pub max_response_bytes: usize,
    /// Input caps.
    pub caps: InputCaps,
    /// More registrations: (test policy, name, version) each.
    pub aliases: Vec<(&'static str, &'static str, &'static str)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            policies: vec![
                "add-python-header",
                "add-python-response-header",
                "python-body-validator",
                "python-json-body-transform",
                "probe",
                "request-only",
            ],
            workers: 4,
            max_in_flight: 100,
            max_response_bytes: 4 * 1024 * 1024,
            caps: InputCaps::default(),
            aliases: Vec::new(),
        }
    }
}

impl Settings {
    /// The defaults, with no policy loaded.
    pub fn no_policies() -> Self {
        Settings {
            policies: vec![],
            ..Settings::default()
        }
    }
}

/// A running in-process server.
pub struct TestServer {
    /// The socket it listens on.
    pub socket: PathBuf,
    /// The dispatcher behind it (for its counters).
    pub dispatcher: Arc<Dispatcher>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with `settings` (call from a tokio runtime).
    pub async fn start(settings: Settings) -> TestServer {
        let h = harness();
        let mut registry = PolicyRegistry::new();
        for name in &settings.policies {
            let policy = tokio::task::block_in_place(|| h.policy(name));
            let version = if name.starts_with("python-") || name.starts_with("add-") {
                "v1.0.0"
            } else {
                "v1"
            };
            registry.insert(name, version, policy).unwrap();
        }
        for (policy, name, version) in &settings.aliases {
            let policy = tokio::task::block_in_place(|| h.policy(policy));
            registry.insert(name, version, policy).unwrap();
        }
        let dispatcher = Arc::new(Dispatcher::new(
            h.engine.clone(),
            registry,
            WorkerOptions::new(settings.workers),
            settings.caps,
        ));
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run/executor.sock");
        let listener = bind_unix_socket(&socket).unwrap();
        let config = ServerConfig {
            socket: socket.clone(),
            tcp: None,
            health_tcp: None,
            stream: StreamOptions {
                max_in_flight: settings.max_in_flight,
                max_response_bytes: settings.max_response_bytes,
            },
            grace: Duration::from_secs(10),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let served = dispatcher.clone();
        let task = tokio::spawn(async move {
            serve(served, config, listener, async move {
                let _ = stopped.await;
            })
            .await
            .expect("server ran");
        });
        TestServer {
            socket,
            dispatcher,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// A new client connection.
    pub async fn client(&self) -> PythonExecutorServiceClient<Channel> {
        connect_unix(&self.socket).await.expect("connect")
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
}

/// A request for `policy` v1.0.0 / v1 carrying `input`.
pub fn wire_request(
    request_id: &str,
    policy: &str,
    version: &str,
    input: &CallInput,
) -> ExecutionRequest {
    request_to_proto(request_id, policy, version, input)
}

/// Sends `requests` on one stream (then half-closes) and collects every response.
pub async fn exchange(
    client: &mut PythonExecutorServiceClient<Channel>,
    requests: Vec<ExecutionRequest>,
) -> (Vec<ExecutionResponse>, Option<tonic::Status>) {
    let mut stream = client
        .execute_stream(tokio_stream::iter(requests))
        .await
        .expect("stream opened")
        .into_inner();
    let mut responses = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(response)) => responses.push(response),
            Ok(None) => return (responses, None),
            Err(status) => return (responses, Some(status)),
        }
    }
}

/// `count` calls of the probe policy that each sleep `seconds`, with ids
/// `prefix-0`, `prefix-1`, …
pub fn sleeping_probes(prefix: &str, count: usize, seconds: f64) -> Vec<ExecutionRequest> {
    let input = crate::harness::request(
        policy_host::contract::Headers::new(),
        None,
        crate::harness::params(serde_json::json!({"do": "sleep", "seconds": seconds})),
    );
    (0..count)
        .map(|i| wire_request(&format!("{prefix}-{i}"), "probe", "v1", &input))
        .collect()
}

/// Sends `requests` on a new stream that stays open while the returned
/// sender lives (dropping it half-closes), and returns the responses' stream.
pub async fn open_stream(
    client: &mut PythonExecutorServiceClient<Channel>,
    requests: Vec<ExecutionRequest>,
) -> (
    tokio::sync::mpsc::Sender<ExecutionRequest>,
    tonic::Streaming<ExecutionResponse>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel(requests.len().max(1));
    for request in requests {
        sender.send(request).await.expect("stream open");
    }
    let stream = client
        .execute_stream(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .expect("stream opened")
        .into_inner();
    (sender, stream)
}

/// The server's answer to the contract's `HealthCheck`.
pub async fn health(
    client: &mut PythonExecutorServiceClient<Channel>,
) -> policy_host::transport::proto::HealthCheckResponse {
    client
        .health_check(policy_host::transport::proto::HealthCheckRequest {})
        .await
        .expect("health check")
        .into_inner()
}

/// The headers a response's request-phase action sets (panics on any
/// other outcome).
pub fn set_headers(response: &ExecutionResponse) -> std::collections::HashMap<String, String> {
    match decode_response(response.clone()) {
        WireOutcome::Done {
            action: Some(policy_host::contract::Action::ContinueRequest(changes)),
            ..
        } => changes.headers.set_headers.into_iter().collect(),
        other => panic!(
            "{}: expected header changes, got {other:?}",
            response.request_id
        ),
    }
}

/// The error type of a response, or "ok".
pub fn outcome_kind(response: &ExecutionResponse) -> String {
    match decode_response(response.clone()) {
        WireOutcome::Failed(error) => error.error_type,
        WireOutcome::Done { .. } => "ok".into(),
        WireOutcome::Empty => "empty".into(),
    }
}

/// The `policy-host` binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_policy-host")
}

/// `policy-host serve` on `socket` with 2 workers, the components in
/// `policies`, the shared artifact cache and `LOG_LEVEL=log_level`; stdin
/// closed, other streams left to the caller.
pub fn serve_command(
    policies: &std::path::Path,
    socket: &std::path::Path,
    log_level: &str,
) -> std::process::Command {
    serve_command_with_workers(policies, socket, log_level, 2)
}

/// [`serve_command`] with `workers` sandbox workers.
pub fn serve_command_with_workers(
    policies: &std::path::Path,
    socket: &std::path::Path,
    log_level: &str,
    workers: usize,
) -> std::process::Command {
    let mut command = std::process::Command::new(binary());
    command
        .args(["serve", "--workers", &workers.to_string(), "--policies"])
        .arg(policies)
        .arg("--socket")
        .arg(socket)
        .env("LOG_LEVEL", log_level)
        .env(
            "POLICY_HOST_CACHE_DIR",
            policy_host::cache::ArtifactCache::default_path(),
        )
        .stdin(std::process::Stdio::null());
    command
}

/// `dir/policies` holding the probe component as `probe-v1.wasm`, for a
/// server process (call from a multi-threaded tokio runtime).
pub fn probe_policies(dir: &std::path::Path) -> PathBuf {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let wasm = tokio::task::block_in_place(|| harness().wasm("probe"));
    std::fs::write(policies.join("probe-v1.wasm"), &*wasm).unwrap();
    policies
}

/// A client of the server that is starting on `socket` (waits up to 2 min).
pub async fn wait_for_socket(socket: &std::path::Path) -> PythonExecutorServiceClient<Channel> {
    for _ in 0..1200 {
        if let Ok(client) = connect_unix(socket).await {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server never listened on {}", socket.display());
}

/// Rounds of the soak-style tests (`make soak` sets SOAK_ROUNDS).
pub fn soak_rounds(default: usize) -> usize {
    std::env::var("SOAK_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
