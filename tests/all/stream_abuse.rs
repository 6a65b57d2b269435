//! Clients that misbehave at the transport level: killed mid-stream, sending
//! garbage frames or bytes that are not HTTP/2 at all, opening and dropping
//! many streams. The server must stay healthy, answer normal calls, and
//! release every call slot. `make soak` repeats it (SOAK_ROUNDS).

use std::time::Duration;

use bytes::BufMut;
use policy_host::contract::Headers;
use policy_host::transport::client::connect_channel;
use policy_host::transport::proto;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

use crate::harness::{params, request};
use crate::server::{
    Settings, TestServer, exchange, health, outcome_kind, soak_rounds, wire_request,
};

/// A step that must finish; a hang fails the test instead of stalling it.
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// Sends raw byte frames and decodes responses as `ExecutionResponse`.
#[derive(Default)]
struct GarbageCodec;

struct GarbageEncoder;

impl Encoder for GarbageEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Codec for GarbageCodec {
    type Encode = Vec<u8>;
    type Decode = proto::ExecutionResponse;
    type Encoder = GarbageEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> GarbageEncoder {
        GarbageEncoder
    }

    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

struct ResponseDecoder;

impl Decoder for ResponseDecoder {
    type Item = proto::ExecutionResponse;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<proto::ExecutionResponse>, tonic::Status> {
        use prost::Message;
        proto::ExecutionResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// Pseudo-random bytes (xorshift), different per seed.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Sends garbage gRPC frames on one stream; the server answers or ends the
/// stream, never hangs.
async fn send_garbage_frames(server: &TestServer, seed: u64) {
    let channel = connect_channel(&server.socket).await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let frames: Vec<Vec<u8>> = (0..8)
        .map(|i| garbage(seed * 31 + i, 16 + 97 * i as usize))
        .collect();
    let path =
        PathAndQuery::from_static("/wso2.gateway.python.v1.PythonExecutorService/ExecuteStream");
    let response = grpc
        .streaming(
            tonic::Request::new(tokio_stream::iter(frames)),
            path,
            GarbageCodec,
        )
        .await;
    if let Ok(response) = response {
        let mut stream = response.into_inner();
        while let Ok(Some(_)) = stream.message().await {}
    }
}

/// Writes bytes that are not HTTP/2 (and a preface followed by garbage)
/// straight to the socket, then hangs up.
async fn send_raw_garbage(server: &TestServer, seed: u64) {
    for prefix in [&b""[..], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"] {
        let mut socket = tokio::net::UnixStream::connect(&server.socket)
            .await
            .unwrap();
        let mut bytes = prefix.to_vec();
        bytes.extend(garbage(seed, 4096));
        let _ = socket.write_all(&bytes).await;
        let _ = socket.shutdown().await;
    }
}

/// Opens many streams with slow calls in flight and drops them all unread,
/// then a connection whose client goes away mid-stream.
async fn open_and_drop_streams(server: &TestServer, count: usize) {
    let slow = request(
        Headers::new(),
        None,
        params(json!({"do": "sleep", "seconds": 0.05})),
    );
    let mut client = server.client().await;
    let mut held = Vec::new();
    for i in 0..count {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        sender
            .send(wire_request(&format!("dropped-{i}"), "probe", "v1", &slow))
            .await
            .unwrap();
        let stream = client
            .execute_stream(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
            .unwrap();
        held.push((sender, stream));
    }
    drop(held);
    drop(client);
}

async fn assert_healthy(server: &TestServer) {
    let mut client = server.client().await;
    assert!(health(&mut client).await.ready);
    let echo = request(Headers::new(), None, params(json!({"do": "echo"})));
    let requests = (0..4)
        .map(|i| wire_request(&format!("normal-{i}"), "probe", "v1", &echo))
        .collect();
    let (responses, status) = exchange(&mut client, requests).await;
    assert!(status.is_none(), "{status:?}");
    assert_eq!(responses.len(), 4);
    assert!(responses.iter().all(|r| outcome_kind(r) == "ok"));
}

/// Waits until no call is in flight: abandoned calls were cancelled or
/// finished and released their slots.
async fn wait_until_idle(server: &TestServer) {
    for _ in 0..1200 {
        if server.dispatcher.in_flight() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} calls still in flight", server.dispatcher.in_flight());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_abuse_leaves_the_server_healthy() {
    let server = TestServer::start(Settings::default()).await;
    for round in 0..soak_rounds(2) as u64 {
        let steps = async {
            send_garbage_frames(&server, round).await;
            send_raw_garbage(&server, round).await;
            open_and_drop_streams(&server, 64).await;
            wait_until_idle(&server).await;
            assert_healthy(&server).await;
        };
        tokio::time::timeout(STEP_LIMIT, steps)
            .await
            .unwrap_or_else(|_| panic!("round {round} hung"));
    }
    server.stop().await;
}
