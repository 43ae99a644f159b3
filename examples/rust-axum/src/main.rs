//! `hello-axum`: an axum app that runs on Lambda (`provided.al2023`) through
//! `lambda_mesh_adapter::run`, and anywhere else as the same router.

use axum::extract::Query;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

#[derive(Deserialize)]
struct Hello {
    name: Option<String>,
}

async fn hello(Query(query): Query<Hello>) -> String {
    format!("Hello, {}!", query.name.as_deref().unwrap_or("world"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/hello", get(hello));
    lambda_mesh_adapter::run(app).await
}
