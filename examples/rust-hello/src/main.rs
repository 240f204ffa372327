//! Answers `{"name": "Ada"}` with `{"message": "Hello, Ada!"}`.

use dispatcher_worker::{Context, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    name: Option<String>,
}

#[derive(Serialize)]
struct Response {
    message: String,
}

fn hello(request: Request, _ctx: Context) -> Result<Response, Error> {
    let name = request.name.unwrap_or_else(|| "world".to_string());
    Ok(Response {
        message: format!("Hello, {name}!"),
    })
}

fn main() {
    dispatcher_worker::run(hello)
}
