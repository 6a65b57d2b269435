//! `policy-host call`: one request over the wire, the response printed.

use anyhow::Context as _;
use serde_json::{Value, json};

use super::args::CallArgs;
use super::exit::Exit;
use super::json_io::{self, ContextFile};
use crate::contract::{JsonObject, Phase};
use crate::transport::client::{WireOutcome, connect_unix, decode_response, request_to_proto};

/// Sends the call and prints what came back.
pub fn run(args: CallArgs) -> anyhow::Result<Exit> {
    let text = std::fs::read_to_string(&args.context)
        .with_context(|| format!("reading {}", args.context.display()))?;
    let context: ContextFile = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", args.context.display()))?;
    let params: JsonObject = match &args.params {
        Some(path) => serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("parsing {}", path.display()))?,
        None => JsonObject::new(),
    };
    // The context file's shape follows the phase; an unknown phase is sent
    // as given (with a request context) so the server can answer it.
    let shape = args.phase.parse().unwrap_or(Phase::OnRequest);
    let input = context
        .into_input(shape, params)
        .map_err(anyhow::Error::msg)?;
    let mut request = request_to_proto(&args.request_id, &args.policy, &args.version, &input);
    request.phase = args.phase.clone();
    let response = send(&args.socket, request)?;
    let request_id = response.request_id.clone();
    let (printed, code) = match decode_response(response) {
        WireOutcome::Done {
            action,
            updated_metadata,
        } => (
            json!({
                "request_id": request_id,
                "action": action.as_ref().map_or(Value::Null, json_io::action_json),
                "updated_metadata": updated_metadata,
            }),
            Exit::Success,
        ),
        WireOutcome::Failed(error) => (
            json!({"request_id": request_id, "error": {"type": error.error_type, "message": error.message}}),
            Exit::Failed,
        ),
        WireOutcome::Empty => (
            json!({"request_id": request_id, "error": {"type": "empty_response"}}),
            Exit::Failed,
        ),
    };
    println!("{}", serde_json::to_string_pretty(&printed)?);
    Ok(code)
}

/// Sends `request` on one stream to the server at `socket` and waits for
/// its one response.
fn send(
    socket: &std::path::Path,
    request: crate::transport::proto::ExecutionRequest,
) -> anyhow::Result<crate::transport::proto::ExecutionResponse> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut client = connect_unix(socket)
            .await
            .with_context(|| format!("connecting to {}", socket.display()))?;
        let mut responses = client
            .execute_stream(tokio_stream::iter([request]))
            .await?
            .into_inner();
        responses
            .message()
            .await?
            .context("the server closed the stream without answering")
    })
}
