//! Types and service traits generated from `proto/python_executor.proto`.

#![allow(missing_docs, clippy::all)]

tonic::include_proto!("wso2.gateway.python.v1");
