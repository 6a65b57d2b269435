//! Shared test fixture: one engine, one artifact cache, and each policy built
//! once per test run (from the cache when unchanged).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use bytes::Bytes;
use policy_host::build::{BuildError, BuildOptions, Builder, Toolchain};
use policy_host::cache::ArtifactCache;
use policy_host::contract::{
    Action, CallInput, CallOutput, Exchange, Headers, JsonObject, Phase, PolicyMetadata,
    RequestChanges, RequestView, ResponseView, SharedContext,
};
use policy_host::dispatch::CallError;
use policy_host::dispatch::load_policy;
use policy_host::sandbox::SandboxError;
use policy_host::sandbox::{CompiledPolicy, EngineOptions, LimitOverrides, Limits, SandboxEngine};
use serde_json::Value;
use wasmtime::Store;

/// Builds that may run at once: the machine has two cores.
pub const PARALLEL_BUILDS: usize = 2;

/// One of the [`PARALLEL_BUILDS`] build slots, held while building.
struct BuildSlot;

static BUILDS_RUNNING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

impl BuildSlot {
    fn take() -> Self {
        let (running, freed) = &BUILDS_RUNNING;
        let mut running = running.lock().unwrap_or_else(|e| e.into_inner());
        while *running >= PARALLEL_BUILDS {
            running = freed.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        BuildSlot
    }
}

impl Drop for BuildSlot {
    fn drop(&mut self) {
        let (running, freed) = &BUILDS_RUNNING;
        *running.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        freed.notify_one();
    }
}

/// The repository root.
pub fn project_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A policy directory: `sample-policies/<name>` or `tests/policies/<name>`.
pub fn policy_dir(name: &str) -> PathBuf {
    let sample = project_root().join("sample-policies").join(name);
    if sample.is_dir() {
        sample
    } else {
        project_root().join("tests/policies").join(name)
    }
}

/// The shared engine, cache and build memo.
pub struct Harness {
    /// The engine every test policy runs in.
    pub engine: Arc<SandboxEngine>,
    /// The artifact cache (the user's default, so warm runs are fast).
    pub cache: ArtifactCache,
    builds: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    policies: Mutex<HashMap<String, Arc<CompiledPolicy>>>,
}

/// The process-wide harness.
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| Harness {
        engine: Arc::new(
            SandboxEngine::new(EngineOptions {
                max_concurrent_calls: 16,
                incremental_compilation: true,
                ..Default::default()
            })
            .expect("engine"),
        ),
        cache: ArtifactCache::open(&ArtifactCache::default_path()).expect("cache"),
        builds: Mutex::new(HashMap::new()),
        policies: Mutex::new(HashMap::new()),
    })
}

impl Harness {
    /// Builds `dir`, at most [`PARALLEL_BUILDS`] at once across the test
    /// run (componentize-py runs mostly on one core).
    pub fn try_build(&self, dir: &Path) -> Result<Vec<u8>, BuildError> {
        self.try_build_with(dir, BuildOptions::default())
    }

    /// [`Harness::try_build`] with `options`.
    pub fn try_build_with(&self, dir: &Path, options: BuildOptions) -> Result<Vec<u8>, BuildError> {
        let _slot = BuildSlot::take();
        let builder = Builder::new(
            Toolchain::new(Toolchain::default_venv()),
            &self.cache,
            options,
        );
        builder
            .build(dir, &|line| eprintln!("{}: {line}", dir.display()))
            .map(|built| built.wasm)
    }

    /// The component for policy `name`, built once.
    pub fn wasm(&self, name: &str) -> Arc<Vec<u8>> {
        if let Some(wasm) = self.builds.lock().unwrap().get(name) {
            return wasm.clone();
        }
        let wasm = Arc::new(
            self.try_build(&policy_dir(name))
                .unwrap_or_else(|e| panic!("building {name}: {e}")),
        );
        self.builds
            .lock()
            .unwrap()
            .insert(name.to_string(), wasm.clone());
        wasm
    }

    /// Policy `name` with its own limits, loaded once.
    pub fn policy(&self, name: &str) -> Arc<CompiledPolicy> {
        if let Some(policy) = self.policies.lock().unwrap().get(name) {
            return policy.clone();
        }
        let policy = Arc::new(self.policy_with(name, LimitOverrides::default()));
        self.policies
            .lock()
            .unwrap()
            .insert(name.to_string(), policy.clone());
        policy
    }

    /// Policy `name` with `overrides` on top of its limits.
    pub fn policy_with(&self, name: &str, overrides: LimitOverrides) -> CompiledPolicy {
        let wasm = self.wasm(name);
        let loaded = load_policy(
            &self.engine,
            &self.cache,
            &wasm,
            name,
            Limits::default(),
            overrides,
        )
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
        Arc::try_unwrap(loaded.policy).unwrap_or_else(|_| panic!("policy is shared"))
    }

    /// Compiles `wasm` into the artifact cache (and checks it loads), so a
    /// server process started afterwards finds its machine code there.
    pub fn load_wasm(&self, name: &str, wasm: &[u8]) {
        load_policy(
            &self.engine,
            &self.cache,
            wasm,
            name,
            Limits::default(),
            LimitOverrides::default(),
        )
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    }

    /// Calls `name` with `input`.
    pub fn call(&self, name: &str, input: CallInput) -> Result<CallOutput, SandboxError> {
        self.policy(name).call(&self.engine, input)
    }
}

/// Params from a JSON literal.
pub fn params(json: Value) -> JsonObject {
    match json {
        Value::Object(map) => map,
        other => panic!("params must be an object, got {other}"),
    }
}

/// Headers from pairs.
pub fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A request-phase input.
pub fn request(headers: Headers, body: Option<&[u8]>, params: JsonObject) -> CallInput {
    CallInput {
        phase: Phase::OnRequest,
        exchange: Exchange::Request(RequestView {
            headers,
            body: body.map(Bytes::copy_from_slice),
            end_of_stream: true,
            path: "/orders?id=7".into(),
            method: "POST".into(),
            authority: "api.example.test".into(),
            scheme: "https".into(),
        }),
        shared: SharedContext {
            request_id: "req-1".into(),
            api_name: "orders".into(),
            ..Default::default()
        },
        policy: PolicyMetadata {
            route_name: "route-1".into(),
            ..Default::default()
        },
        params,
    }
}

/// A response-phase input.
pub fn response(body: Option<&[u8]>, params: JsonObject) -> CallInput {
    CallInput {
        phase: Phase::OnResponse,
        exchange: Exchange::Response(ResponseView {
            request_headers: headers(&[("host", "api.example.test")]),
            request_body: None,
            request_path: "/orders".into(),
            request_method: "GET".into(),
            response_headers: headers(&[("content-type", "application/json")]),
            response_body: body.map(Bytes::copy_from_slice),
            response_status: 200,
        }),
        shared: SharedContext {
            request_id: "req-2".into(),
            ..Default::default()
        },
        policy: PolicyMetadata::default(),
        params,
    }
}

/// The request changes of a result that must be `ContinueRequest`.
pub fn request_changes(output: &CallOutput) -> &RequestChanges {
    match &output.action {
        Some(Action::ContinueRequest(changes)) => changes,
        other => panic!("expected UpstreamRequestModifications, got {other:?}"),
    }
}

/// One header the policy set.
pub fn set_header<'a>(output: &'a CallOutput, name: &str) -> &'a str {
    request_changes(output)
        .headers
        .set_headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name} not set in {output:?}"))
}

/// A request for the probe policy's `counter` action: it counts calls in a
/// module global (`x-counter`) and lists the `x-secret` headers it has seen
/// (`x-seen`), so a fresh instance answers 1 and only `secret`.
pub fn counter_request(secret: &str) -> CallInput {
    request(
        headers(&[("x-secret", secret)]),
        None,
        params(serde_json::json!({"do": "counter"})),
    )
}

/// A request for the probe policy's `random` action (it sets `x-random`
/// from Python's `random` and `x-uuid` from `uuid4`).
pub fn random_request() -> CallInput {
    request(
        Default::default(),
        None,
        params(serde_json::json!({"do": "random"})),
    )
}

/// Asserts that header `name` of `output` is not in `seen`, and adds it.
pub fn assert_unseen(
    seen: &mut std::collections::HashSet<String>,
    output: &CallOutput,
    name: &str,
) {
    let value = set_header(output, name);
    assert!(seen.insert(value.to_string()), "{name} repeated: {value}");
}

/// Runs the probe policy's `do` action and returns the `x-result` header.
pub fn probe_attempt(what: &str) -> String {
    let output = harness()
        .call(
            "probe",
            request(
                Headers::new(),
                None,
                params(serde_json::json!({ "do": what })),
            ),
        )
        .unwrap_or_else(|e| panic!("probe {what}: {e}"));
    set_header(&output, "x-result").to_string()
}

/// An engine with this project's configuration (pooling, fuel, deadlines), for
/// tests that run small core modules instead of policy components.
pub fn core_engine() -> SandboxEngine {
    SandboxEngine::new(EngineOptions::default()).expect("engine")
}

/// A store on `engine` with fuel and a deadline, as calls get.
pub fn core_store(engine: &SandboxEngine) -> Store<()> {
    let mut store = Store::new(engine.engine(), ());
    store.set_fuel(10_000_000).unwrap();
    engine
        .arm_deadline(&mut store, std::time::Duration::from_secs(10))
        .unwrap();
    store
}

/// The wire's `error_type` for an error, as the transport names it.
pub trait WireType {
    /// `error_type` in the wire contract (SPEC §1).
    fn error_type(&self) -> &'static str;
}

impl WireType for CallError {
    fn error_type(&self) -> &'static str {
        policy_host::transport::status::error_type(self)
    }
}

impl WireType for SandboxError {
    fn error_type(&self) -> &'static str {
        policy_host::transport::status::error_type(&CallError::Sandbox(self.clone()))
    }
}
