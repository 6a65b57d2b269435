//! The `call-input` interface: the per-call context, params, bodies and log.
//!
//! The guest pulls each input when policy code needs it. Nothing here traps:
//! every input is the host's own data, and log lines beyond the per-call
//! budget are dropped and counted.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::contract::guest_json;
use crate::contract::{CallInput, Exchange};
use crate::sandbox::bindings::{BodyKind, CallInputHost, LogLevel, add_call_input_to_linker};
use crate::sandbox::state::HostState;

/// Longest log message kept, in bytes; longer ones are cut.
pub const MAX_LOG_MESSAGE_BYTES: usize = 8 * 1024;
/// Most log lines a call may write; more are dropped and counted.
pub const MAX_LOG_LINES_PER_CALL: u32 = 256;

/// The inputs of one call and its log budget.
pub struct CallInputState {
    input: CallInput,
    policy_label: Arc<str>,
    log_lines: u32,
    log_dropped: u32,
}

impl CallInputState {
    /// State serving `input` to a policy known in logs as `policy_label`.
    pub fn new(input: CallInput, policy_label: Arc<str>) -> Self {
        CallInputState {
            input,
            policy_label,
            log_lines: 0,
            log_dropped: 0,
        }
    }

    /// Log lines the policy wrote and the host kept.
    pub fn log_lines(&self) -> u32 {
        self.log_lines
    }

    /// Log lines dropped because the call went over its budget.
    pub fn log_dropped(&self) -> u32 {
        self.log_dropped
    }

    /// The `name@version` label the policy logs under.
    pub fn policy_label(&self) -> &str {
        &self.policy_label
    }

    /// The request id the gateway gave this call, for log correlation.
    pub fn request_id(&self) -> &str {
        &self.input.shared.request_id
    }
}

impl CallInputHost for CallInputState {
    fn context(&mut self) -> String {
        guest_json::context_json(&self.input)
    }

    fn params(&mut self) -> String {
        serde_json::to_string(&self.input.params).expect("a JSON object serializes")
    }

    fn body(&mut self, which: BodyKind) -> Option<Vec<u8>> {
        let body = match (&self.input.exchange, which) {
            (Exchange::Request(view), BodyKind::Request) => &view.body,
            (Exchange::Response(view), BodyKind::Request) => &view.request_body,
            (Exchange::Response(view), BodyKind::Response) => &view.response_body,
            (Exchange::Request(_), BodyKind::Response) => return None,
        };
        body.as_ref().map(|bytes| bytes.to_vec())
    }

    fn log(&mut self, level: LogLevel, message: String) {
        if self.log_lines >= MAX_LOG_LINES_PER_CALL {
            self.log_dropped += 1;
            return;
        }
        self.log_lines += 1;
        let message = truncate_on_char_boundary(&message, MAX_LOG_MESSAGE_BYTES);
        let policy = &*self.policy_label;
        let request_id = self.input.shared.request_id.as_str();
        match level {
            LogLevel::Debug => tracing::debug!(target: "policy", policy, request_id, "{message}"),
            LogLevel::Info => tracing::info!(target: "policy", policy, request_id, "{message}"),
            LogLevel::Warning => tracing::warn!(target: "policy", policy, request_id, "{message}"),
            LogLevel::Error => tracing::error!(target: "policy", policy, request_id, "{message}"),
        }
    }
}

fn truncate_on_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Adds the `call-input` imports to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    add_call_input_to_linker::<HostState, HasSelf<CallInputState>>(linker, |state| &mut state.call)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_never_splits_a_character() {
        let text = "aé".repeat(10);
        assert_eq!(truncate_on_char_boundary(&text, 2), "a");
        assert_eq!(truncate_on_char_boundary(&text, 4), "aéa");
        assert_eq!(truncate_on_char_boundary("short", 100), "short");
    }
}
