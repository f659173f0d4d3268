//! The knowledge base through `app(state)` on both backends: everyone
//! signed in searches (Chinese, two-character words too), supervisors
//! write, stale edits are refused, bad input is named.

mod common;

use axum::http::StatusCode;
use common::api::TestApi;
use common::db::TestDb;
use hotline::store::Role;
use serde_json::json;

async fn knowledge_base(db: &TestDb) {
    db.store.seed_demo(0).await.expect("seed");
    let api = TestApi::new(db);
    let agent = api.sign_in_as(Role::Agent, None).await;
    let supervisor = api.sign_in_as(Role::Supervisor, None).await;
    let outlets: Vec<i64> = sqlx::query_scalar("SELECT id FROM outlets ORDER BY id")
        .fetch_all(db.store.pool())
        .await
        .unwrap();
    let technician = api.sign_in_as(Role::Outlet, Some(outlets[0])).await;

    // Search: a two-character Chinese word finds the demo articles about it,
    // title matches first, with a snippet.
    let (status, found) = api.get("/api/kb/search?q=%E6%BC%8F%E6%B0%B4", &agent).await; // 漏水
    assert_eq!(status, StatusCode::OK, "{found}");
    let hits = found["hits"].as_array().unwrap();
    assert!(hits.len() >= 2, "{found}");
    assert!(
        hits[0]["title"].as_str().unwrap().contains("漏水"),
        "{found}"
    );
    assert!(
        hits[0]["snippet"].as_str().unwrap().contains("漏水")
            || hits[0]["title"].as_str().unwrap().contains("漏水")
    );
    // Outlet technicians may search too.
    assert_eq!(
        api.get("/api/kb/search?q=E4", &technician).await.0,
        StatusCode::OK
    );
    // Every word must match.
    let (_, narrowed) = api
        .get(
            "/api/kb/search?q=%E7%83%AD%E6%B0%B4%E5%99%A8%20%E6%BC%8F%E6%B0%B4",
            &agent,
        ) // 热水器 漏水
        .await;
    let titles: Vec<&str> = narrowed["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["title"].as_str().unwrap())
        .collect();
    assert!(
        !titles.is_empty() && titles.iter().all(|t| t.contains("热水器")),
        "{titles:?}"
    );
    let (status, body) = api.get("/api/kb/search?q=%20", &agent).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["fields"][0]["field"], "q");

    // Writing is for supervisors.
    let article = json!({
        "title": "洗碗机不排水的处理", "body": "先清理过滤网，再检查排水管是否弯折。",
        "tags": ["洗碗机", "排水"], "models": ["DW-13"],
    });
    assert_eq!(
        api.post("/api/kb", &agent, article.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, created) = api.post("/api/kb", &supervisor, article).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    // The demo has no dishwasher: only the new article says 洗碗机.
    let (_, found) = api
        .get("/api/kb/search?q=%E6%B4%97%E7%A2%97%E6%9C%BA", &agent)
        .await;
    assert_eq!(found["hits"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["hits"][0]["id"], id, "{found}");
    let (_, listed) = api.get("/api/kb?model=DW-13", &agent).await;
    assert_eq!(listed["total"], 1);

    // Edits need the version read.
    let url = format!("/api/kb/{id}");
    let edit = json!({
        "version": 0, "title": "洗碗机不排水怎么办", "body": "清理过滤网。",
        "tags": ["洗碗机"], "models": ["DW-13"],
    });
    let (status, edited) = api
        .call("PUT", &url, Some(&supervisor), Some(edit.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["version"], 1);
    let (status, body) = api.call("PUT", &url, Some(&supervisor), Some(edit)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["current_version"], 1);
    let (status, body) = api
        .post(
            "/api/kb",
            &supervisor,
            json!({ "title": "", "body": "", "tags": ["a,b"] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"title") && fields.contains(&"body"),
        "{body}"
    );

    assert_eq!(
        api.call("DELETE", &url, Some(&agent), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call("DELETE", &url, Some(&supervisor), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.get(&url, &agent).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call("DELETE", &url, Some(&supervisor), None).await.0,
        StatusCode::NOT_FOUND
    );
}

on_both_backends!(knowledge_base);
