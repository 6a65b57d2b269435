//! Caps on what one call may carry, checked before any sandbox work.

use crate::contract::{CallInput, Exchange, JsonObject};
use crate::dispatch::CallError;

/// Caps on what one call may carry, checked before any sandbox work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputCaps {
    /// Total body bytes (request plus response).
    pub max_body_bytes: usize,
    /// Header entries across every header map.
    pub max_headers: usize,
    /// Bytes of header names and values together.
    pub max_header_bytes: usize,
    /// Bytes of params and shared metadata as JSON.
    pub max_json_bytes: usize,
}

impl Default for InputCaps {
    /// 16 MiB of body (a guest must hold a body in its 64 MiB memory to read
    /// it), 1,024 headers / 1 MiB of header text, 1 MiB of params+metadata JSON.
    fn default() -> Self {
        InputCaps {
            max_body_bytes: 16 * 1024 * 1024,
            max_headers: 1024,
            max_header_bytes: 1024 * 1024,
            max_json_bytes: 1024 * 1024,
        }
    }
}

fn headers_of(exchange: &Exchange) -> Vec<&crate::contract::Headers> {
    match exchange {
        Exchange::Request(view) => vec![&view.headers],
        Exchange::Response(view) => vec![&view.request_headers, &view.response_headers],
    }
}

/// Rejects inputs over the caps with a message naming the cap.
pub fn check_caps(input: &CallInput, caps: &InputCaps) -> Result<(), CallError> {
    let too_big = |what: &str, size: usize, cap: usize| {
        Err(CallError::InvalidInput(format!(
            "{what} is {size} bytes, over the {cap}-byte cap"
        )))
    };
    let body = input.body_bytes();
    if body > caps.max_body_bytes {
        return too_big("the body", body, caps.max_body_bytes);
    }
    let maps = headers_of(&input.exchange);
    let count: usize =
        maps.iter().map(|map| map.len()).sum::<usize>() + input.shared.auth_context.len();
    if count > caps.max_headers {
        return Err(CallError::InvalidInput(format!(
            "{count} headers, over the cap of {}",
            caps.max_headers
        )));
    }
    let header_bytes: usize = maps
        .iter()
        .flat_map(|map| map.iter())
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if header_bytes > caps.max_header_bytes {
        return too_big("header text", header_bytes, caps.max_header_bytes);
    }
    let json_bytes = json_size(&input.params) + json_size(&input.shared.metadata);
    if json_bytes > caps.max_json_bytes {
        return too_big("params and metadata", json_bytes, caps.max_json_bytes);
    }
    Ok(())
}

fn json_size(object: &JsonObject) -> usize {
    serde_json::to_vec(object).map_or(usize::MAX, |bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::RequestView;

    fn input(body: usize, headers: usize) -> CallInput {
        let mut view = RequestView {
            body: Some(vec![0u8; body].into()),
            ..Default::default()
        };
        for index in 0..headers {
            view.headers.insert(format!("h{index}"), "v".into());
        }
        CallInput {
            exchange: Exchange::Request(view),
            ..CallInput::placeholder()
        }
    }

    #[test]
    fn caps_reject_oversized_inputs_with_a_clear_message() {
        let caps = InputCaps {
            max_body_bytes: 10,
            max_headers: 2,
            ..Default::default()
        };
        assert!(check_caps(&input(10, 2), &caps).is_ok());
        let error = check_caps(&input(11, 0), &caps).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid request: the body is 11 bytes, over the 10-byte cap"
        );
        assert_eq!(error.kind(), "invalid_request");
        assert!(
            check_caps(&input(0, 3), &caps)
                .unwrap_err()
                .to_string()
                .contains("3 headers")
        );
    }
}
