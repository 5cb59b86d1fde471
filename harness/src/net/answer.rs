//! What a request on a [`super::Net`] gives back: the whole answer, or why there is none.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};

/// A whole answer.
#[derive(Clone, Debug)]
pub struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    pub fn new(status: StatusCode, headers: HeaderMap, body: Bytes) -> Answer {
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, NetError> {
        serde_json::from_slice(&self.body).map_err(|e| NetError::new(ErrorKind::Body, e))
    }
}

/// What went wrong with a request, in the words callers tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No answer in time.
    Timeout,
    /// Nothing listens there (connection refused): the request never reached a server.
    Connect,
    /// The connection broke, or the answer's body could not be read.
    Body,
    Other,
}

#[derive(Clone, Debug)]
pub struct NetError {
    pub kind: ErrorKind,
    text: String,
}

impl NetError {
    pub fn new(kind: ErrorKind, text: impl std::fmt::Display) -> NetError {
        NetError {
            kind,
            text: text.to_string(),
        }
    }

    pub(super) fn from_reqwest(e: reqwest::Error) -> NetError {
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else if e.is_connect() {
            ErrorKind::Connect
        } else if e.is_body() || e.is_decode() {
            ErrorKind::Body
        } else {
            ErrorKind::Other
        };
        NetError::new(kind, e)
    }

    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::Timeout
    }

    pub fn is_connect(&self) -> bool {
        self.kind == ErrorKind::Connect
    }
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for NetError {}
