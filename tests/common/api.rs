//! Driving `app(state)` without a socket: requests as a given user, JSON
//! in and out, and users of each role made through the API's own sign-in.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hotline::api::auth::hash_password;
use hotline::api::{ApiState, Live, app};
use hotline::store::{NewUser, Role, Store};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::db::TestDb;

pub const PASSWORD: &str = "correct horse battery";

/// The `field`s of a 400's `fields`, in order.
pub fn fields(body: &Value) -> Vec<String> {
    body["fields"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The API over a test database.
pub struct TestApi {
    pub state: ApiState,
}

impl TestApi {
    pub fn new(db: &TestDb) -> TestApi {
        TestApi::over(db.store.clone())
    }

    pub fn over(store: Store) -> TestApi {
        let live = Arc::new(Live::new(0, Arc::new(AtomicUsize::new(0))));
        TestApi {
            state: ApiState::new(store, live),
        }
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// `method uri` as the holder of `token` (none: anonymous), with a JSON
    /// body when given. The response body parsed as JSON (`Null` when
    /// empty).
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = match body {
            Some(body) => req
                .header("content-type", "application/json")
                .body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let response = app(self.state.clone())
            .oneshot(req)
            .await
            .expect("infallible");
        let status = response.status();
        // `GET /metrics` answers in the Prometheus text format: a string.
        let text = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"));
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else if text {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{method} {uri}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, value)
    }

    pub async fn get(&self, uri: &str, token: &str) -> (StatusCode, Value) {
        self.call("GET", uri, Some(token), None).await
    }

    pub async fn post(&self, uri: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", uri, Some(token), Some(body)).await
    }

    pub async fn patch(&self, uri: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("PATCH", uri, Some(token), Some(body)).await
    }

    /// A new user with `role` (an outlet user of `outlet`), signed in
    /// through `POST /api/login`: their token.
    pub async fn sign_in_as(&self, role: Role, outlet: Option<i64>) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let username = format!("{}{}", role.as_str(), N.fetch_add(1, Ordering::Relaxed));
        let new = NewUser {
            username: username.clone(),
            display_name: format!("Test {}", role.as_str()),
            role,
            outlet_id: outlet,
            password_hash: hash_password(PASSWORD).expect("hash"),
            sip_ha1: hotline::sip::digest::ha1(&username, "hotline", PASSWORD),
            skills: Default::default(),
            queues: Vec::new(),
        };
        self.store()
            .create_user(&new, 0)
            .await
            .expect("create user");
        let (status, body) = self
            .call(
                "POST",
                "/api/login",
                None,
                Some(json!({ "username": username, "password": PASSWORD })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login: {body}");
        body["token"].as_str().expect("token").to_owned()
    }
}
