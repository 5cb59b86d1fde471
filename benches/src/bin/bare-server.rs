//! The baseline for the sink's load test: the same HTTP stack (axum, one tokio runtime),
//! reading each `POST /items` body whole and answering 204 without parsing or recording.
//! Prints its bound address on its first line, like `sink`.

use axum::routing::post;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("{}", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/items",
        post(|body: axum::body::Bytes| async move {
            std::hint::black_box(body);
            axum::http::StatusCode::NO_CONTENT
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
