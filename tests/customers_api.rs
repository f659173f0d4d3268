//! Customers through `app(state)` on both backends: register, find, edit
//! with versions, products, the history timeline, the errors and the roles.

mod common;

use axum::http::StatusCode;
use common::api::{TestApi, fields};
use common::db::TestDb;
use hotline::records::RecordOp;
use hotline::store::Role;
use serde_json::json;

async fn customers(db: &TestDb) {
    let api = TestApi::new(db);
    let agent = api.sign_in_as(Role::Agent, None).await;
    let qa = api.sign_in_as(Role::Qa, None).await;

    // Register, with numbers in the forms people type them.
    let (status, c) = api
        .post(
            "/api/customers",
            &agent,
            json!({
                "name": "周晓梅", "region": "浙江省杭州市西湖区", "address": "文三路90号",
                "phones": ["+86 139-0571-0001", "0571 8765 4321"],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["phones"], json!(["057187654321", "13905710001"]));
    assert_eq!(c["version"], 0);

    // A number on file is a 409 naming whose it is; bad fields are named.
    let (status, body) = api
        .post(
            "/api/customers",
            &agent,
            json!({ "name": "别人", "phones": ["13905710001"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        format!("phone 13905710001 already belongs to customer #{id}")
    );
    let (status, body) = api
        .post(
            "/api/customers",
            &agent,
            json!({ "name": "", "phones": ["13905710002", "call me"] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["name", "phones[1]"]);
    let (status, body) = api
        .post("/api/customers", &agent, json!({ "name": "无号码" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["phones"]);

    // QA reads, does not write.
    assert_eq!(
        api.get(&format!("/api/customers/{id}"), &qa).await.0,
        StatusCode::OK
    );
    let (status, _) = api
        .post(
            "/api/customers",
            &qa,
            json!({ "name": "质检", "phones": ["13905710003"] }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        api.get("/api/customers/999999", &agent).await.0,
        StatusCode::NOT_FOUND
    );

    // Find by part of a number, by name, by region prefix.
    for query in [
        "q=0571000",
        "q=%E6%99%93%E6%A2%85",
        "region=%E6%B5%99%E6%B1%9F%E7%9C%81",
    ] {
        let (status, page) = api.get(&format!("/api/customers?{query}"), &qa).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(page["total"], 1, "{query}: {page}");
        assert_eq!(page["customers"][0]["id"], id, "{query}");
    }
    let (status, body) = api.get("/api/customers?vip=maybe&limit=0", &qa).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["vip", "limit"]);

    // Edit with the version read; a second edit on the old version is 409.
    let url = format!("/api/customers/{id}");
    let (status, edited) = api
        .patch(&url, &agent, json!({ "version": 0, "vip": true }))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["vip"], true);
    assert_eq!(edited["version"], 1);
    let (status, body) = api
        .patch(&url, &agent, json!({ "version": 0, "name": "周小梅" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["current_version"], 1);

    // Products.
    let (status, product) = api
        .post(
            &format!("{url}/products"),
            &agent,
            json!({ "model": "XQG100-B14 滚筒洗衣机", "serial": "B14K25010100001", "purchase_date": "2025-01-01", "warranty_end": "2027-12-31" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let (status, body) = api
        .post(
            &format!("{url}/products"),
            &agent,
            json!({ "model": "XQG100-B14 滚筒洗衣机", "serial": "B14K25010100001" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = api
        .post(
            &format!("{url}/products"),
            &agent,
            json!({ "model": "TV", "purchase_date": "2025-02-30", "warranty_end": "2024-01-01" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        fields(&body).contains(&"purchase_date".to_owned()),
        "{body}"
    );

    // The timeline: a call from one of the numbers, then a ticket opened
    // and dispatched on it; newest first.
    db.store
        .apply(&RecordOp::Arrived {
            call_id: "tl-1".to_owned(),
            sip_call_id: "sip-tl-1".to_owned(),
            from_number: "+8613905710001".to_owned(),
            to_number: "4008001234".to_owned(),
            service_number: "4008001234".to_owned(),
            arrived_at: 1_000,
        })
        .await
        .unwrap();
    let (status, t) = api
        .post(
            "/api/tickets",
            &agent,
            json!({ "customer_id": id, "product_id": product["id"], "kind": "repair", "description": "不脱水", "call_id": "tl-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let outlet = api
        .post(
            "/api/outlets",
            &api.sign_in_as(Role::Supervisor, None).await,
            json!({ "code": "HZ-T", "name": "测试网点", "tier": "city", "phone": "057100000001", "areas": ["浙江省杭州市"] }),
        )
        .await
        .1["id"]
        .clone();
    let number = t["number"].as_str().unwrap();
    let (status, _) = api
        .post(
            &format!("/api/tickets/{number}/transitions"),
            &agent,
            json!({ "version": 0, "to": "dispatched", "outlet_id": outlet }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, timeline) = api.get(&format!("{url}/timeline"), &qa).await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    let kinds: Vec<&str> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["stage", "ticket", "call"], "{timeline}");
    assert_eq!(timeline["entries"][0]["outlet_code"], "HZ-T");
    assert_eq!(timeline["entries"][2]["call_id"], "tl-1");
    let (status, _) = api.get(&format!("{url}/timeline?limit=0"), &qa).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.get("/api/customers/999999/timeline", &qa).await.0,
        StatusCode::NOT_FOUND
    );
}

on_both_backends!(customers);
