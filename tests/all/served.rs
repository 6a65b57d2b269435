//! A `serve` process for the operating tests: its log in a file, its
//! metrics scraped over HTTP, components installed as a deploy would.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use policy_host::contract::CallInput;
use policy_host::transport::proto::python_executor_service_client::PythonExecutorServiceClient;
use tonic::transport::Channel;

use crate::harness::harness;
use crate::server::{exchange, outcome_kind, serve_command, wait_for_socket, wire_request};

/// A `serve` process with its log in a file; killed on drop.
pub struct Served {
    child: Child,
    /// Its client.
    pub client: PythonExecutorServiceClient<Channel>,
    /// Its stderr.
    pub log: PathBuf,
    /// The components it serves.
    pub policies: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Serves the test policies `names` (`<name>-v1.wasm` each) with
    /// `extra` flags at `LOG_LEVEL=level`.
    pub async fn start(names: &[&str], extra: &[&str], level: &str) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let policies = dir.path().join("policies");
        std::fs::create_dir_all(&policies).unwrap();
        for name in names {
            let wasm = tokio::task::block_in_place(|| harness().wasm(name));
            std::fs::write(policies.join(format!("{name}-v1.wasm")), &*wasm).unwrap();
        }
        Self::start_in(dir, policies, extra, level).await
    }

    /// Serves the directory `policies` (inside `dir`).
    pub async fn start_in(
        dir: tempfile::TempDir,
        policies: PathBuf,
        extra: &[&str],
        level: &str,
    ) -> Served {
        let socket = dir.path().join("executor.sock");
        let log = dir.path().join("serve.log");
        let child = serve_command(&policies, &socket, level)
            .args(extra)
            .stderr(std::fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let client = wait_for_socket(&socket).await;
        Served {
            child,
            client,
            log,
            policies,
            _dir: dir,
        }
    }

    /// One call, alone on its stream; its outcome kind and message.
    pub async fn call(&mut self, id: &str, policy: &str, input: &CallInput) -> (String, String) {
        let (responses, status) = exchange(
            &mut self.client,
            vec![wire_request(id, policy, "v1", input)],
        )
        .await;
        assert!(status.is_none(), "{status:?}");
        let response = &responses[0];
        let message = match policy_host::transport::client::decode_response(response.clone()) {
            policy_host::transport::client::WireOutcome::Failed(error) => error.message,
            _ => String::new(),
        };
        (outcome_kind(response), message)
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Sends it `signal`.
    pub fn signal(&self, signal: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `GET /metrics` over HTTP/1.1 with hyper; the body.
pub async fn scrape(port: u16) -> String {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get("/metrics")
        .header("host", "localhost")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The value of the sample `series` (name and labels, exactly) in `text`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

/// Writes `wasm` into `dir` as `name` atomically (a hidden temporary file,
/// then a rename), as an operator's deploy should.
pub fn install(dir: &Path, name: &str, wasm: &[u8]) {
    let staged = dir.join(format!(".{name}.tmp"));
    std::fs::write(&staged, wasm).unwrap();
    std::fs::rename(&staged, dir.join(name)).unwrap();
}
