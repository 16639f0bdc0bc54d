//! The HTTP server: accept loop, per-request handling (record, behaviour,
//! latency), and routing to the OpenAI endpoints.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::body::{End, MockBody, Plan};
use crate::state::State;
use crate::wire::Reply;
use crate::{Behavior, chat, completions, embeddings};

const JSON: &str = "application/json";
const SSE: &str = "text/event-stream; charset=utf-8";

/// Returned by the service to make hyper drop the connection without answering.
#[derive(Debug)]
struct MockReset;

impl fmt::Display for MockReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mock upstream: connection reset")
    }
}

impl std::error::Error for MockReset {}

/// Serves connections until the task is aborted; aborting it also aborts
/// every connection (they live in the `JoinSet`).
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut conns = JoinSet::new();
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let builder = builder.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(state.clone(), req));
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, MockReset> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| MockReset)?.to_bytes();
    let n = state.record(&parts, &body);
    let behavior = state.next_behavior();
    let latency = state.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut plan = Plan {
        interval: state.chunk_interval(),
        end: End::Normal,
    };
    match behavior {
        None => {}
        Some(Behavior::Status { status, body }) => {
            return Ok(response(status, JSON, MockBody::full(body), n));
        }
        Some(Behavior::Respond {
            status,
            headers,
            body,
        }) => {
            let mut resp = response(status, JSON, MockBody::full(body), n);
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::try_from(value.as_str()),
                ) {
                    resp.headers_mut().append(name, value);
                }
            }
            return Ok(resp);
        }
        Some(Behavior::Delay(d)) => tokio::time::sleep(d).await,
        Some(Behavior::Reset) => return Err(MockReset),
        Some(Behavior::StallMidStream { after_chunks }) => plan.end = End::Stall(after_chunks),
        Some(Behavior::ResetMidStream { after_chunks }) => plan.end = End::Reset(after_chunks),
        Some(Behavior::Garbage) => {
            return Ok(response(200, JSON, MockBody::full("<html>oops</html>"), n));
        }
        Some(Behavior::GarbageStream) => {
            let body = "data: <html>oops</html>\n\ndata: {not json\n\n";
            return Ok(response(200, SSE, MockBody::full(body), n));
        }
        Some(Behavior::ChunkInterval(d)) => plan.interval = d,
    }
    if parts.method == Method::GET {
        if let Some(served) = crate::images::serve(parts.uri.path(), parts.uri.query()) {
            let mut resp = response(
                served.status,
                served.content_type,
                MockBody::full(served.body),
                n,
            );
            if let Some(to) = served.location.and_then(|l| HeaderValue::try_from(l).ok()) {
                resp.headers_mut().insert(http::header::LOCATION, to);
            }
            return Ok(resp);
        }
    }
    let reply = route(&parts, &body, n, &state);
    let aws_headers = crate::bedrock::response_headers(parts.uri.path(), &reply, n);
    let mut resp = match reply {
        Reply::Json { status, body } => {
            let body = match plan.end {
                End::Normal => MockBody::full(body),
                // Send the head, then stall or reset before any body byte.
                End::Stall(_) | End::Reset(_) => MockBody::paced(Vec::new(), plan, state),
            };
            response(status, JSON, body, n)
        }
        Reply::Sse(frames) => response(200, SSE, MockBody::paced(frames, plan, state), n),
    };
    resp.headers_mut().extend(aws_headers);
    Ok(resp)
}

/// Splits a path into the OpenAI endpoint (`/chat/completions`, …) and the
/// Azure deployment, accepting any prefix before `/v1`.
fn endpoint(path: &str) -> (&str, Option<&str>) {
    const AZURE: &str = "/openai/deployments/";
    if let Some(i) = path.find(AZURE) {
        let rest = &path[i + AZURE.len()..];
        if let Some(slash) = rest.find('/') {
            return (&rest[slash..], Some(&rest[..slash]));
        }
    }
    if let Some(i) = path.find("/v1/") {
        return (&path[i + 3..], None);
    }
    (path, None)
}

fn route(parts: &http::request::Parts, body: &Bytes, n: u64, state: &State) -> Reply {
    let (endpoint, deployment) = endpoint(parts.uri.path());
    match (&parts.method, endpoint) {
        (&Method::POST, "/token") => crate::vertex::token(parts, body, n, &state.tokens),
        (&Method::POST, _) if crate::vertex::is_vertex(parts.uri.path()) => {
            crate::vertex::reply(parts, body, n, &state.tokens)
        }
        (&Method::POST, "/chat/completions") => chat::reply(body, n, deployment),
        (&Method::POST, "/messages") => crate::anthropic::reply(parts, body, n),
        (&Method::POST, "/v2/chat") => crate::cohere::reply(parts, body, n),
        (&Method::POST, "/completions") => completions::reply(body, n, deployment),
        (&Method::POST, "/embeddings") => embeddings::reply(body, deployment),
        (&Method::GET, "/models") => embeddings::list_models(),
        (&Method::POST, p) if p.starts_with("/v1beta/") => crate::gemini::reply(parts, body, n),
        (&Method::POST, p) if crate::bedrock::is_bedrock(p) => {
            crate::bedrock::reply(parts, body, n)
        }
        (&Method::GET, m) if m.starts_with("/models/") && m.len() > "/models/".len() => {
            embeddings::get_model(&m["/models/".len()..])
        }
        _ => {
            let content_type = parts
                .headers
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let path = parts
                .uri
                .path_and_query()
                .map_or(parts.uri.path(), |p| p.as_str());
            Reply::ok(&json!({
                "object": "mock.echo",
                "method": parts.method.as_str(),
                "path": path,
                "content_type": content_type,
                "body_len": body.len(),
            }))
        }
    }
}

fn response(status: u16, content_type: &'static str, body: MockBody, n: u64) -> Response<MockBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::try_from(format!("req_mock_{n}")) {
        headers.insert(HeaderName::from_static("x-request-id"), id);
    }
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("/v1/chat/completions"),
            ("/chat/completions", None)
        );
        assert_eq!(endpoint("/proxy/x/v1/embeddings"), ("/embeddings", None));
        assert_eq!(
            endpoint("/openai/deployments/dep-1/chat/completions"),
            ("/chat/completions", Some("dep-1"))
        );
        assert_eq!(endpoint("/openai/v1/models"), ("/models", None));
        assert_eq!(endpoint("/health"), ("/health", None));
    }
}
