//! Test support: a function built on lambda_http (not our adapter) for mesh-proxy interop. It
//! echoes the request body byte for byte and reports the method, path, query and `x-test`
//! headers it saw in `x-echo-*` response headers, plus two cookies.

use lambda_http::{run, service_fn, Body, Error, Request, Response};

async fn handle(request: Request) -> Result<Response<Body>, Error> {
    let tests: Vec<&str> = request
        .headers()
        .get_all("x-test")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let response = Response::builder()
        .status(207)
        .header("content-type", "application/octet-stream")
        .header("x-echo-method", request.method().as_str())
        .header("x-echo-path", request.uri().path())
        .header("x-echo-query", request.uri().query().unwrap_or(""))
        .header("x-echo-test", tests.join("|"))
        .header("set-cookie", "one=1")
        .header("set-cookie", "two=2")
        .body(Body::from(request.body().as_ref().to_vec()))?;
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(handle)).await
}
