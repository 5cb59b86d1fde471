//! The proxy's own hop: the headers that belong to it, the bytes a request's head counts
//! against a bandwidth cap, the answers the proxy makes itself, and the reset of a
//! connection under a request.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};

/// Headers of one hop, which the proxy's own connections carry for themselves.
pub fn hop_by_hop(name: &hyper::header::HeaderName) -> bool {
    use hyper::header::*;
    [
        CONNECTION,
        HOST,
        CONTENT_LENGTH,
        TRANSFER_ENCODING,
        TE,
        TRAILER,
        UPGRADE,
        PROXY_AUTHORIZATION,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}

/// The request line's and headers' bytes, as the cap counts them.
pub fn head_bytes(parts: &hyper::http::request::Parts) -> usize {
    parts.uri.to_string().len()
        + parts
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
        + 16
}

pub trait SizeHint {
    fn size_hint_bytes(&self) -> usize;
}

impl SizeHint for Full<Bytes> {
    fn size_hint_bytes(&self) -> usize {
        hyper::body::Body::size_hint(self).exact().unwrap_or(0) as usize
    }
}

/// The answer of a fault that refuses a request: its status and which fault said it.
pub fn refusal(status: u16, index: usize) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    plain(
        status,
        &format!("refused by the harness's fault proxy: faults[{index}]"),
    )
}

pub fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(format!("{text}\n"))))
        .expect("a plain answer builds")
}

/// Makes the connection's close a reset: with SO_LINGER on and a zero timeout, close(2)
/// sends RST and drops what is unsent.
pub fn reset_on_close(fd: std::os::fd::RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is the connection's socket, which hyper owns and keeps open while this
    // request is served; setsockopt reads `linger` only during the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
