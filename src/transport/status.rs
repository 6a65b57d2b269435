//! The one place errors become wire messages.
//!
//! Every per-request failure is an `ExecutionError` for that request id:
//! on a multiplexed stream a gRPC `Status` would end the stream for every
//! caller. A `Status` is kept for what really ends a stream: an undecodable
//! frame (`INVALID_ARGUMENT`) and shutdown (`UNAVAILABLE`).

use tonic::Status;

use super::proto;
use crate::error::CallError;

/// `error_type` for a response over the size cap.
pub const RESPONSE_TOO_LARGE: &str = "response_too_large";

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
        error.error_type(),
        error.to_string(),
    )
}

/// An `ExecutionError` response with an explicit type and message.
pub fn execution_error(
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
        let response = error_response("r1".into(), "p", "v1", &CallError::UnknownPhase("x".into()));
        assert_eq!(response.request_id, "r1");
        let Some(proto::execution_response::Result::Error(error)) = response.result else {
            panic!()
        };
        assert_eq!(error.error_type, "unknown_phase");
        assert_eq!(error.policy_name, "p");
        assert_eq!(error.policy_version, "v1");
        assert!(error.message.contains("\"x\""));
    }
}
