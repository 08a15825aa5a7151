//! `google.rpc.Status` with `RetryInfo`: the body of an OTLP/HTTP failure and the details of a
//! gRPC one. OTLP exporters retry `RESOURCE_EXHAUSTED` only when it carries `RetryInfo`, and
//! wait the delay it gives.

use tonic::Code;

use crate::IngestError;
use crate::error::Failure;

/// Seconds a client is asked to wait before retrying (`Retry-After`, `RetryInfo`).
pub(crate) const RETRY_AFTER_SECS: i64 = 1;

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub(crate) code: i32,
    #[prost(string, tag = "2")]
    pub(crate) message: String,
    #[prost(message, repeated, tag = "3")]
    pub(crate) details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoAny {
    #[prost(string, tag = "1")]
    pub(crate) type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub(crate) value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub(crate) retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub(crate) seconds: i64,
    #[prost(int32, tag = "2")]
    pub(crate) nanos: i32,
}

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The gRPC code of a failure: bad data is not retried, overload and unavailability are.
pub(crate) fn code(failure: Failure) -> Code {
    match failure {
        Failure::Invalid => Code::InvalidArgument,
        Failure::Overloaded => Code::ResourceExhausted,
        Failure::Unavailable => Code::Unavailable,
        Failure::Internal => Code::Internal,
    }
}

/// The status of a failed request, with `RetryInfo` when a retry may succeed.
pub(crate) fn rpc_status(code: Code, message: String, retry: bool) -> RpcStatus {
    let details = if retry {
        vec![ProtoAny {
            type_url: RETRY_INFO_TYPE.into(),
            value: prost::Message::encode_to_vec(&RetryInfo {
                retry_delay: Some(ProtoDuration {
                    seconds: RETRY_AFTER_SECS,
                    nanos: 0,
                }),
            }),
        }]
    } else {
        Vec::new()
    };
    RpcStatus {
        code: code as i32,
        message,
        details,
    }
}

pub(crate) fn retryable(failure: Failure) -> bool {
    matches!(failure, Failure::Overloaded | Failure::Unavailable)
}

/// The gRPC answer to a failed export.
pub(crate) fn grpc_status(e: &IngestError) -> tonic::Status {
    let failure = e.failure();
    let code = code(failure);
    let message = e.to_string();
    if retryable(failure) {
        let details = rpc_status(code, message.clone(), true);
        tonic::Status::with_details(
            code,
            message,
            prost::Message::encode_to_vec(&details).into(),
        )
    } else {
        tonic::Status::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn overload_carries_retry_info() {
        let s = grpc_status(&IngestError::Overloaded("busy".into()));
        assert_eq!(s.code(), Code::ResourceExhausted);
        let details = RpcStatus::decode(s.details()).unwrap_or_default();
        assert_eq!(details.code, Code::ResourceExhausted as i32);
        assert_eq!(details.details[0].type_url, RETRY_INFO_TYPE);
        let info = RetryInfo::decode(details.details[0].value.as_slice()).unwrap_or_default();
        assert_eq!(info.retry_delay.map(|d| d.seconds), Some(1));

        let s = grpc_status(&IngestError::Storage(storage::StorageError::ShuttingDown));
        assert_eq!(s.code(), Code::Unavailable);
        assert!(!s.details().is_empty());

        let s = grpc_status(&IngestError::BadRequest("nope".into()));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "bad request: nope");
        assert!(s.details().is_empty());
    }
}
