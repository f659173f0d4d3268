//! The browser pages hotline serves itself: the agent's softphone
//! (`/agent`), the test caller (`/test-caller`), the QA page (`/qa`:
//! recordings reviewed, scored and commented), the supervisor's
//! campaigns (`/campaigns`: switch, contacts, figures), live wallboard
//! (`/wallboard`: queues, agents, calls, alerts) and reports (`/reports`:
//! the figures by day or hour, with charts and CSV), with their scripts
//! and styles under `/web/`. They are built into the binary, so a newcomer's
//! `cargo run` needs nothing else; with `HOTLINE_WEB_DIR` set they are read
//! from that folder on every request instead (for work on the pages).
//!
//! The pages are public: everything they show comes from the API, which
//! checks the session and role of every request.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Every file under web/: (name, content type, built-in bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "agent.html",
        "text/html; charset=utf-8",
        include_bytes!("../../web/agent.html"),
    ),
    (
        "agent.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/agent.css"),
    ),
    (
        "agent.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/agent.js"),
    ),
    (
        "campaigns.html",
        "text/html; charset=utf-8",
        include_bytes!("../../web/campaigns.html"),
    ),
    (
        "campaigns.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/campaigns.css"),
    ),
    (
        "campaigns.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/campaigns.js"),
    ),
    (
        "common.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/common.js"),
    ),
    (
        "qa.html",
        "text/html; charset=utf-8",
        include_bytes!("../../web/qa.html"),
    ),
    (
        "qa.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/qa.css"),
    ),
    (
        "qa.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/qa.js"),
    ),
    (
        "reports.html",
        "text/html; charset=utf-8",
        include_bytes!("../../web/reports.html"),
    ),
    (
        "reports.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/reports.css"),
    ),
    (
        "reports.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/reports.js"),
    ),
    (
        "test-caller.html",
        "text/html; charset=utf-8",
        include_bytes!("../../web/test-caller.html"),
    ),
    (
        "test-caller.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/test-caller.js"),
    ),
    (
        "wallboard.html",
        "text/html; charset=utf-8",
        include_bytes!("../../web/wallboard.html"),
    ),
    (
        "wallboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/wallboard.css"),
    ),
    (
        "wallboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/wallboard.js"),
    ),
];

/// The pages' routes, outside `/api`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/agent") }))
        .route("/agent", get(|| async { file("agent.html") }))
        .route("/test-caller", get(|| async { file("test-caller.html") }))
        .route("/qa", get(|| async { file("qa.html") }))
        .route("/campaigns", get(|| async { file("campaigns.html") }))
        .route("/reports", get(|| async { file("reports.html") }))
        .route("/wallboard", get(|| async { file("wallboard.html") }))
        .route(
            "/web/{name}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
}

fn file(name: &str) -> Response {
    let Some((_, kind, built_in)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return (StatusCode::NOT_FOUND, "no such page").into_response();
    };
    let body = match std::env::var_os("HOTLINE_WEB_DIR") {
        // Only names from the table reach the disk: no path from the URL.
        Some(dir) => match std::fs::read(std::path::Path::new(&dir).join(name)) {
            Ok(bytes) => bytes,
            Err(_) => return (StatusCode::NOT_FOUND, "no such page").into_response(),
        },
        None => built_in.to_vec(),
    };
    (
        [
            (header::CONTENT_TYPE, *kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
