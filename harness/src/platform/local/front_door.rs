//! The front door: a reverse proxy on its own port that forwards `/api/*` round-robin to the
//! ready instances of the production slot. A request that finds no ready instance gets 503;
//! one whose instance dies or times out gets 502 or 504. Like the sink, it takes its listener
//! and its shutdown.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use super::Host;

/// Largest request or response body the front door forwards.
const MAX_BODY_BYTES: usize = 4 << 20;

#[derive(Clone)]
struct Door {
    host: Host,
    client: crate::net::HttpClient,
}

/// Serves the front door on `listener` until `shutdown`. `timeout` bounds each forwarded
/// request (the platform's HTTP limit is 230 s).
pub async fn serve(
    listener: crate::net::serve::Listener,
    host: Host,
    timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let client = host.config().net.client(crate::net::ClientOptions {
        timeout: Some(timeout),
        pool_max_idle_per_host: 64,
        ..Default::default()
    });
    let app = Router::new()
        .route("/api/{*rest}", any(forward))
        .with_state(Door { host, client });
    crate::net::serve::serve(listener, app, shutdown).await
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (status, text).into_response()
}

async fn forward(State(door): State<Door>, request: Request) -> Response {
    // The guard counts the request as in flight on its instance (drains wait for it).
    let Some((target, _in_flight)) = door.host.route() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "no ready instance\n");
    };
    let Some(addr) = target.addr else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "no ready instance\n");
    };
    to_instance(&door.client, addr, &target.id, request).await
}

/// Forwards `request` to the instance `instance` at `addr`, and its answer back with the
/// instance's id in `x-instance`: 502 when the instance fails, 504 when it times out.
/// (The Swarm platform's door forwards the same way.)
pub(crate) async fn to_instance(
    client: &crate::net::HttpClient,
    addr: std::net::SocketAddr,
    instance: &str,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    };
    let mut upstream = client
        .request(parts.method.clone(), format!("http://{addr}{path}"))
        .body(bytes);
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        upstream = upstream.header(header::CONTENT_TYPE, ct.clone());
    }
    match upstream.send().await {
        Ok(resp) => {
            let mut out = Response::new(Body::from(resp.bytes().clone()));
            *out.status_mut() = resp.status();
            if let Some(ct) = resp.headers().get(header::CONTENT_TYPE) {
                out.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
            }
            out.headers_mut().insert(
                "x-instance",
                HeaderValue::from_str(instance).unwrap_or(HeaderValue::from_static("?")),
            );
            out
        }
        Err(e) if e.is_timeout() => plain(StatusCode::GATEWAY_TIMEOUT, "the instance timed out\n"),
        Err(e) if e.kind == crate::net::ErrorKind::Body => plain(
            StatusCode::BAD_GATEWAY,
            "the instance failed mid-response\n",
        ),
        Err(_) => plain(StatusCode::BAD_GATEWAY, "the instance failed\n"),
    }
}
