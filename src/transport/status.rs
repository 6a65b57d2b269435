//! The one place errors become wire messages.
//!
//! Every per-request failure is an `ExecutionError` for that request id:
//! on a multiplexed stream a gRPC `Status` would end the stream for every
//! caller. A `Status` is kept for what really ends a stream: an undecodable
//! frame (`INVALID_ARGUMENT`) and shutdown (`UNAVAILABLE`).

use tonic::Status;

use super::proto;
use crate::dispatch::CallError;
use crate::sandbox::SandboxError;

/// The `error_type` the wire contract carries for `error` (SPEC §1): the
/// call's kind ([`CallError::kind`]), except where the old executor's
/// clients expect its names: `execution_error` for a raise, `timeout` for a
/// deadline whether it passed in the sandbox or in the queue; `overloaded`
/// for a full instance pool as for a full queue.
pub fn error_type(error: &CallError) -> &'static str {
    match error {
        CallError::Sandbox(SandboxError::PolicyRaised { .. }) => "execution_error",
        CallError::Sandbox(SandboxError::DeadlineExceeded { .. })
        | CallError::QueueTimeout { .. } => "timeout",
        CallError::Sandbox(SandboxError::PoolFull(_)) => "overloaded",
        other => other.kind(),
    }
}

/// The wire response for a failed call.
pub fn error_response(
    request_id: String,
    policy_name: &str,
    policy_version: &str,
    error: &CallError,
) -> proto::ExecutionResponse {
    execution_error(
        request_id,
        policy_name,
        policy_version,
        error_type(error),
        error.to_string(),
    )
}

/// An `ExecutionError` response with an explicit type and message.
fn execution_error(
    request_id: String,
    policy_name: &str,
    policy_version: &str,
    error_type: &str,
    message: String,
) -> proto::ExecutionResponse {
    proto::ExecutionResponse {
        request_id,
        result: Some(proto::execution_response::Result::Error(
            proto::ExecutionError {
                message,
                policy_name: policy_name.to_string(),
                policy_version: policy_version.to_string(),
                error_type: error_type.to_string(),
            },
        )),
        updated_metadata: None,
    }
}

/// The status that ends a stream whose next frame could not be decoded.
pub fn undecodable_frame(cause: &Status) -> Status {
    Status::invalid_argument(format!(
        "a frame on this stream could not be decoded as an ExecutionRequest ({}); requests read before it were answered",
        cause.message()
    ))
}

/// The status that ends streams when the server stops.
pub fn shutting_down() -> Status {
    Status::unavailable("policy-host is shutting down")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_type_message_and_policy() {
        let response = error_response(
            "r1".into(),
            "p",
            "v1",
            &crate::contract::UnknownPhase("x".into()).into(),
        );
        assert_eq!(response.request_id, "r1");
        let Some(proto::execution_response::Result::Error(error)) = response.result else {
            panic!()
        };
        assert_eq!(error.error_type, "unknown_phase");
        assert_eq!(error.policy_name, "p");
        assert_eq!(error.policy_version, "v1");
        assert!(error.message.contains("\"x\""));
    }

    #[test]
    fn legacy_names_are_kept_for_legacy_cases() {
        let raised = CallError::from(SandboxError::PolicyRaised {
            kind: "KeyError".into(),
            message: "'x'".into(),
            location: String::new(),
            traceback: String::new(),
        });
        assert_eq!(error_type(&raised), "execution_error");
        let deadline = CallError::from(SandboxError::DeadlineExceeded {
            timeout: std::time::Duration::from_millis(250),
        });
        assert_eq!(error_type(&deadline), "timeout");
        let queued = CallError::QueueTimeout {
            waited: std::time::Duration::from_millis(300),
            timeout: std::time::Duration::from_millis(250),
        };
        assert_eq!(error_type(&queued), "timeout");
        let large = CallError::ResponseTooLarge { size: 9, cap: 8 };
        assert_eq!(error_type(&large), "response_too_large");
        let full = CallError::from(SandboxError::PoolFull("limit reached".into()));
        assert_eq!(error_type(&full), "overloaded");
        assert_eq!(full.kind(), "pool_full");
    }
}
