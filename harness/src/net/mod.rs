//! The network the harness's HTTP travels on: the machine's (TCP through reqwest and axum)
//! or the virtual-time platform's in-memory one ([`sim::SimNet`]).
//!
//! The test function, the host, the front door, the probes and the sink reach each other
//! only through a [`Net`]: an [`HttpClient`] for requests and a [`Listener`] to serve an
//! axum router on. On the machine's network these are reqwest and `axum::serve` on a
//! `TcpListener`, as before. On a [`sim::SimNet`] a request is a call of the server's router
//! in the same process, on the run's runtime, delayed by the modelled network: nothing waits
//! on the operating system, so a run in virtual time is the same every time.

pub mod answer;
pub mod serve;
pub mod sim;

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};

pub use answer::{Answer, ErrorKind, NetError};
pub use sim::SimNet;

/// Which network a run's parts talk on; cheap to clone.
#[derive(Clone, Default)]
pub enum Net {
    /// The machine's: TCP on loopback (or wherever the scenario says).
    #[default]
    Machine,
    /// The virtual-time platform's, in memory.
    Sim(SimNet),
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Net::Machine => "Net::Machine",
            Net::Sim(_) => "Net::Sim",
        })
    }
}

impl Net {
    pub fn is_sim(&self) -> bool {
        matches!(self, Net::Sim(_))
    }

    /// A client on this network.
    pub fn client(&self, options: ClientOptions) -> HttpClient {
        let kind = match self {
            Net::Machine => {
                let mut b = reqwest::Client::builder()
                    .default_headers(options.default_headers.clone())
                    .pool_max_idle_per_host(options.pool_max_idle_per_host);
                if let Some(t) = options.timeout {
                    b = b.timeout(t);
                }
                // A builder with a timeout, headers and a pool size only fails without a TLS
                // backend, which this client never uses.
                ClientKind::Machine(b.build().unwrap_or_default())
            }
            Net::Sim(net) => ClientKind::Sim(net.clone()),
        };
        HttpClient { kind, options }
    }
}

/// How a client behaves: reqwest's builder settings that the harness uses.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Bounds each request, its answer's body included.
    pub timeout: Option<Duration>,
    pub pool_max_idle_per_host: usize,
    /// Headers every request carries (the sink's token).
    pub default_headers: HeaderMap,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: None,
            pool_max_idle_per_host: usize::MAX,
            default_headers: HeaderMap::new(),
        }
    }
}

impl ClientOptions {
    pub fn timeout(timeout: Duration) -> ClientOptions {
        ClientOptions {
            timeout: Some(timeout),
            ..ClientOptions::default()
        }
    }
}

/// An HTTP client on a [`Net`]; cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    kind: ClientKind,
    options: ClientOptions,
}

#[derive(Clone)]
enum ClientKind {
    Machine(reqwest::Client),
    Sim(SimNet),
}

impl HttpClient {
    pub fn request(&self, method: Method, url: impl Into<String>) -> Call<'_> {
        Call {
            client: self,
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
        }
    }

    pub fn get(&self, url: impl Into<String>) -> Call<'_> {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: impl Into<String>) -> Call<'_> {
        self.request(Method::POST, url)
    }

    pub fn delete(&self, url: impl Into<String>) -> Call<'_> {
        self.request(Method::DELETE, url)
    }
}

/// One request being built.
pub struct Call<'a> {
    client: &'a HttpClient,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Bytes,
    timeout: Option<Duration>,
}

impl Call<'_> {
    /// A JSON body, with its content type.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = serde_json::to_vec(value).unwrap_or_default().into();
        self.headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Bounds this request instead of the client's timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends it and reads the whole answer.
    pub async fn send(self) -> Result<Answer, NetError> {
        let timeout = self.timeout.or(self.client.options.timeout);
        match &self.client.kind {
            ClientKind::Machine(client) => {
                let mut request = client
                    .request(self.method, &self.url)
                    .headers(self.headers)
                    .body(self.body);
                if let Some(t) = self.timeout {
                    request = request.timeout(t);
                }
                let response = request.send().await.map_err(NetError::from_reqwest)?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await.map_err(|e| {
                    let mut err = NetError::from_reqwest(e);
                    if err.kind == ErrorKind::Other {
                        err.kind = ErrorKind::Body;
                    }
                    err
                })?;
                Ok(Answer::new(status, headers, body))
            }
            ClientKind::Sim(net) => {
                let mut headers = self.client.options.default_headers.clone();
                headers.extend(self.headers);
                let exchange = net.exchange(self.method, &self.url, headers, self.body);
                match timeout {
                    Some(t) => tokio::time::timeout(t, exchange)
                        .await
                        .unwrap_or_else(|_| Err(NetError::new(ErrorKind::Timeout, "timed out"))),
                    None => exchange.await,
                }
            }
        }
    }
}
