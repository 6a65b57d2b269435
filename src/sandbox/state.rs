//! The per-call state that lives inside a `Store`.
//!
//! A new `HostState` is built for every call and dropped with its store:
//! nothing in it outlives the call, so nothing can leak between calls. The
//! one thing calls share is [`PolicyFiles`]: read-only handles on the
//! policy's own directories, which hold no state of a call.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::filesystem::WasiFilesystemCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::host::call_input::CallInputState;
use super::limits::{CallLimiter, Limits};
use crate::bundle::Mount;
use crate::contract::CallInput;

/// Raw guest stderr kept per call; writes past it fail (and the guest traps).
const STDERR_CAPTURE_BYTES: usize = 256 * 1024;

/// Everything a store holds for one call.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory limiter with a record of refusals.
    pub limiter: CallLimiter,
    /// The call's inputs and log budget, served to the guest on demand.
    pub call: CallInputState,
    /// When the call's time is up; sleeps past it trap.
    pub deadline: std::time::Instant,
    /// What the guest wrote to its raw stderr (the Python runtime reports
    /// fatal errors there); shown in crash messages.
    pub stderr: MemoryOutputPipe,
}

/// A policy's own directories (its bundle, see [`crate::bundle`]), opened
/// read-only once when the policy is loaded and handed to every call's
/// WASI context, which would otherwise open each of them again (an `openat`
/// and a `close` per call). A preopened directory is a capability, not
/// state: the guest opens files relative to it, and reading a directory
/// opens a new descriptor, so no call leaves anything in it for the next.
#[derive(Clone)]
pub struct PolicyFiles(WasiFilesystemCtx);

impl PolicyFiles {
    /// Opens every mount's host directory, to appear read-only at its guest
    /// path.
    pub fn open(mounts: &[Mount]) -> wasmtime::Result<Self> {
        let mut builder = WasiCtx::builder();
        for mount in mounts {
            builder.preopened_dir(&mount.host, &mount.guest, FsPerms::ReadOnly)?;
        }
        Ok(PolicyFiles(builder.build().filesystem().clone()))
    }
}

impl HostState {
    /// State for one call: a WASI context with no files but the policy's
    /// own (`files`, read-only), no network, no environment, no arguments
    /// and an empty stdin. The call's input is empty until
    /// [`HostState::begin_call`].
    pub fn new(limits: &Limits, policy_label: std::sync::Arc<str>, files: &PolicyFiles) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        HostState {
            deadline: std::time::Instant::now() + limits.timeout,
            wasi: deny_all_wasi(stderr.clone(), files),
            stderr,
            table: resource_table(),
            limiter: CallLimiter::new(limits),
            call: CallInputState::new(CallInput::placeholder(), policy_label),
        }
    }
}

/// Live WASI resources (streams, descriptors, pollables) one call may hold:
/// a call keeps a handful; a guest opening files in a loop gets an error
/// instead of growing the host's table (Wasmtime's default is 1,000,000).
pub const MAX_RESOURCES: usize = 4096;

/// Component handles one store may hold (Wasmtime's default is 100,000).
pub const MAX_COMPONENT_HANDLES: usize = 8192;

/// Bytes one guest-to-host transfer may carry (a result, a log line, a
/// WASI write: whatever the host lifts out of guest memory), as hostcall
/// fuel; Wasmtime's default is 128 MiB. Above the 50 MiB a wire message
/// may hold, so no result that could be sent is refused by it.
pub const MAX_HOSTCALL_BYTES: usize = 64 << 20;

fn resource_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    table
}

/// A WASI context that grants nothing but reading the policy's own files:
/// `files` preopened read-only, no sockets (the
/// default socket address check denies every address, and name lookup is
/// off), no environment variables, no arguments, stdin empty, stdout and
/// stderr captured for crash reports (the glue routes policy output to
/// `call-input.log`). Clocks and random are real; random is seeded afresh
/// per call.
fn deny_all_wasi(stderr: MemoryOutputPipe, files: &PolicyFiles) -> WasiCtx {
    let mut builder = WasiCtx::builder();
    builder.stderr(stderr);
    builder.allow_ip_name_lookup(false);
    builder.allow_tcp(false);
    builder.allow_udp(false);
    builder.max_random_size(super::host::random::MAX_RANDOM_BYTES);
    let mut wasi = builder.build();
    *wasi.filesystem() = files.0.clone();
    wasi
}

impl HostState {
    /// Hands this store its call: the input the `call-input` imports serve
    /// and the deadline sleeps are held to (counted from now, not from when
    /// the instance was made).
    pub fn begin_call(
        &mut self,
        input: CallInput,
        limits: &Limits,
        policy_label: std::sync::Arc<str>,
    ) {
        self.call = CallInputState::new(input, policy_label);
        self.deadline = std::time::Instant::now() + limits.timeout;
    }

    /// The last lines of the guest's raw stderr, for crash messages.
    pub fn stderr_tail(&self) -> String {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(6)..].join(" | ")
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
