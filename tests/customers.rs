//! Customers and products in the store, on both backends: create, read,
//! edit with optimistic versions, phones that belong to one customer, the
//! list with its filters and pages, products, the timeline, the CSV
//! import's writes, and the demo crowd.
//!
//! The harness is tests/store.rs's (a fresh SQLite file or PostgreSQL
//! schema per test, `HOTLINE_TEST_POSTGRES_URL`, a loud skip when
//! PostgreSQL is unreachable unless `CI=true`).

use hotline::import;
use hotline::records::{HangupSide, RecordOp};
use hotline::store::{
    Customer, CustomerFilter, CustomerPatch, NewCustomer, NewProduct, Store, StoreError,
    TimelineEntry,
};
use sqlx::AssertSqlSafe;

// ---------------------------------------------------------------- harness

mod common;

use common::db::TestDb;

on_both_backends!(
    create_get_and_update_with_versions,
    invalid_input_writes_nothing,
    a_phone_belongs_to_one_customer,
    concurrent_creates_with_one_phone,
    list_filters_pages_and_counts,
    products_have_unique_serials,
    timeline_merges_calls_tickets_and_stamps,
    import_writes_good_rows_and_reports_bad_ones,
    demo_crowd_seeds_once,
);

// ---------------------------------------------------------------- helpers

const T0: i64 = 1_714_552_200_000; // 2024-05-01 08:30:00 UTC
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn new_customer(name: &str, region: &str, phones: &[&str]) -> NewCustomer {
    NewCustomer {
        name: name.to_owned(),
        region: region.to_owned(),
        address: "某路1号".to_owned(),
        vip: false,
        phones: phones.iter().map(|p| (*p).to_owned()).collect(),
    }
}

async fn create(store: &Store, c: &NewCustomer, at: i64) -> Customer {
    store
        .create_customer(c, at)
        .await
        .unwrap_or_else(|e| panic!("create {}: {e}", c.name))
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(store.pool())
        .await
        .expect(sql)
}

fn fields(e: &StoreError) -> Vec<&str> {
    match e {
        StoreError::Invalid(errors) => errors.iter().map(|f| f.field.as_str()).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn names(customers: &[Customer]) -> Vec<&str> {
    customers.iter().map(|c| c.name.as_str()).collect()
}

fn tv(serial: &str) -> NewProduct {
    NewProduct {
        model: "LED65-E7 65英寸液晶电视".to_owned(),
        serial: serial.to_owned(),
        purchase_date: Some("2024-04-01".to_owned()),
        warranty_end: Some("2027-03-31".to_owned()),
    }
}

// ------------------------------------------------- tests on both backends

async fn create_get_and_update_with_versions(db: &TestDb) {
    let store = &db.store;
    let mut new = new_customer(
        "  王建国 ",
        "浙江省杭州市西湖区",
        &["+86 138 0013 8000", "0571-8654-1234"],
    );
    new.vip = true;
    let created = create(store, &new, T0).await;
    assert_eq!(created.name, "王建国", "stored trimmed");
    assert_eq!(created.phones, ["057186541234", "13800138000"]);
    assert!(created.vip);
    assert_eq!(created.version, 0);
    assert_eq!(created.created_at, T0);
    assert!(created.products.is_empty());
    assert_eq!(
        store.customer(created.id).await.expect("get").as_ref(),
        Some(&created)
    );
    assert_eq!(store.customer(created.id + 1000).await.expect("get"), None);
    // The IVR's lookup finds the new customer by either number.
    let summary = store
        .customer_by_phone("057186541234")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(summary.id, created.id);

    let patch = CustomerPatch {
        address: Some("文一西路522号".to_owned()),
        vip: Some(false),
        phones: Some(vec!["13800138000".to_owned(), "13912345678".to_owned()]),
        ..CustomerPatch::default()
    };
    let updated = store
        .update_customer(created.id, 0, &patch)
        .await
        .expect("update");
    assert_eq!(updated.version, 1);
    assert_eq!(updated.name, "王建国", "untouched");
    assert_eq!(updated.address, "文一西路522号");
    assert!(!updated.vip);
    assert_eq!(updated.phones, ["13800138000", "13912345678"]);
    assert_eq!(
        store
            .customer_by_phone("057186541234")
            .await
            .expect("lookup"),
        None,
        "the replaced number is gone"
    );

    // Someone else's edit, based on version 0, is refused and changes
    // nothing.
    let stale = CustomerPatch {
        name: Some("王二".to_owned()),
        ..CustomerPatch::default()
    };
    match store.update_customer(created.id, 0, &stale).await {
        Err(StoreError::VersionConflict { current }) => assert_eq!(current, 1),
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    assert_eq!(
        store.customer(created.id).await.expect("get").as_ref(),
        Some(&updated)
    );
    match store.update_customer(created.id + 1000, 0, &stale).await {
        Err(StoreError::NotFound(what)) => assert_eq!(what, "customer"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    // An empty patch is an edit too: the version moves on.
    let again = store
        .update_customer(created.id, 1, &CustomerPatch::default())
        .await
        .expect("empty patch");
    assert_eq!(again.version, 2);
}

async fn invalid_input_writes_nothing(db: &TestDb) {
    let store = &db.store;
    let bad = new_customer("", &"省".repeat(61), &["13800138000", "12"]);
    let e = store.create_customer(&bad, T0).await.expect_err("invalid");
    assert_eq!(fields(&e), ["name", "region", "phones[1]"]);
    assert_eq!(count(store, "SELECT COUNT(*) FROM customers").await, 0);
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM customer_phones").await,
        0
    );

    let c = create(store, &new_customer("李秀英", "", &["13900139000"]), T0).await;
    let patch = CustomerPatch {
        name: Some("李".repeat(61)),
        phones: Some(vec![]),
        ..CustomerPatch::default()
    };
    let e = store
        .update_customer(c.id, 0, &patch)
        .await
        .expect_err("invalid patch");
    assert_eq!(fields(&e), ["name", "phones"]);
    let product = NewProduct {
        model: String::new(),
        serial: String::new(),
        purchase_date: Some("2024-02-30".to_owned()),
        warranty_end: None,
    };
    let e = store
        .add_product(c.id, &product)
        .await
        .expect_err("invalid product");
    assert_eq!(fields(&e), ["model", "purchase_date"]);
    assert_eq!(
        store.customer(c.id).await.expect("get").as_ref(),
        Some(&c),
        "unchanged"
    );
}

async fn a_phone_belongs_to_one_customer(db: &TestDb) {
    let store = &db.store;
    let a = create(store, &new_customer("甲", "", &["13800000001"]), T0).await;
    let b = create(store, &new_customer("乙", "", &["13800000002"]), T0).await;
    // Another customer with A's number, in another form: refused whole.
    let c = new_customer("丙", "", &["13800000003", "+86 138 0000 0001"]);
    match store.create_customer(&c, T0).await {
        Err(StoreError::PhoneTaken { phone, customer_id }) => {
            assert_eq!((phone.as_str(), customer_id), ("13800000001", a.id));
        }
        other => panic!("expected PhoneTaken, got {other:?}"),
    }
    assert_eq!(count(store, "SELECT COUNT(*) FROM customers").await, 2);
    assert_eq!(
        store
            .customer_by_phone("13800000003")
            .await
            .expect("lookup"),
        None
    );
    // B may not take it either, and keeps its own numbers.
    let patch = CustomerPatch {
        phones: Some(vec!["13800000002".to_owned(), "13800000001".to_owned()]),
        ..CustomerPatch::default()
    };
    match store.update_customer(b.id, 0, &patch).await {
        Err(StoreError::PhoneTaken { customer_id, .. }) => assert_eq!(customer_id, a.id),
        other => panic!("expected PhoneTaken, got {other:?}"),
    }
    let b_now = store.customer(b.id).await.expect("get").expect("b");
    assert_eq!(
        (b_now.version, b_now.phones),
        (0, vec!["13800000002".to_owned()])
    );
    // A keeping its own number while adding one is fine.
    let patch = CustomerPatch {
        phones: Some(vec!["13800000001".to_owned(), "057188880000".to_owned()]),
        ..CustomerPatch::default()
    };
    let a_now = store.update_customer(a.id, 0, &patch).await.expect("a");
    assert_eq!(a_now.phones, ["057188880000", "13800000001"]);
}

/// Two creates racing for one number: one wins, the other is told whose
/// it is (on PostgreSQL possibly through the primary key rather than the
/// check).
async fn concurrent_creates_with_one_phone(db: &TestDb) {
    let store = &db.store;
    let other = Store::connect(&db.url).await.expect("second store");
    for round in 0..5 {
        let phone = format!("1380000010{round}");
        let (x, y) = (
            new_customer("甲", "", &[phone.as_str()]),
            new_customer("乙", "", &[phone.as_str()]),
        );
        let (a, b) = tokio::join!(store.create_customer(&x, T0), other.create_customer(&y, T0));
        let (winner, loser) = match (a, b) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            (a, b) => panic!("round {round}: one must win: {a:?} {b:?}"),
        };
        match loser {
            StoreError::PhoneTaken {
                phone: p,
                customer_id,
            } => {
                assert_eq!((p, customer_id), (phone, winner.id));
            }
            other => panic!("expected PhoneTaken, got {other:?}"),
        }
    }
    assert_eq!(count(store, "SELECT COUNT(*) FROM customers").await, 5);
    other.close().await;
}

async fn list_filters_pages_and_counts(db: &TestDb) {
    let store = &db.store;
    let people = [
        ("王建国", "浙江省杭州市西湖区", "13800138000", false),
        ("王秀英", "浙江省杭州市桐庐县", "13900139000", true),
        ("李伟", "江苏省南京市鼓楼区", "02583456789", false),
        ("张王氏", "浙江省宁波市余姚市", "13812340000", true),
        ("陈静", "上海市浦东新区", "18600001380", false),
        ("100%_纯", "浙江省杭州市西湖区", "13700000000", false),
    ];
    let mut ids = Vec::new();
    for (i, (name, region, phone, vip)) in people.iter().enumerate() {
        let mut c = new_customer(name, region, &[phone]);
        c.vip = *vip;
        ids.push(create(store, &c, T0 + i as i64 * MINUTE).await.id);
    }
    let list =
        |filter: CustomerFilter| async move { store.list_customers(&filter).await.expect("list") };

    // Everyone, newest first, with phones.
    let all = list(CustomerFilter::default()).await;
    assert_eq!(all.total, 6);
    assert_eq!(
        names(&all.customers),
        ["100%_纯", "陈静", "张王氏", "李伟", "王秀英", "王建国"]
    );
    assert_eq!(all.customers[1].phones, ["18600001380"]);

    let q = |q: &str| CustomerFilter {
        q: Some(q.to_owned()),
        ..CustomerFilter::default()
    };
    // A name anywhere in the name.
    let page = list(q("王")).await;
    assert_eq!(names(&page.customers), ["张王氏", "王秀英", "王建国"]);
    assert_eq!(page.total, 3);
    // Part of a number, or a whole one in another form.
    assert_eq!(
        names(&list(q("138")).await.customers),
        ["陈静", "张王氏", "王建国"]
    );
    assert_eq!(
        names(&list(q("+86 139 0013 9000")).await.customers),
        ["王秀英"]
    );
    assert_eq!(names(&list(q("025-8345")).await.customers), ["李伟"]);
    // LIKE's wildcards are literal.
    assert_eq!(names(&list(q("%")).await.customers), ["100%_纯"]);
    assert_eq!(names(&list(q("_")).await.customers), ["100%_纯"]);
    assert_eq!(list(q("赵")).await.total, 0);

    // Region by prefix, vip, and both with a name.
    let region = |r: &str| CustomerFilter {
        region: Some(r.to_owned()),
        ..CustomerFilter::default()
    };
    assert_eq!(
        names(&list(region("浙江省杭州市")).await.customers),
        ["100%_纯", "王秀英", "王建国"]
    );
    assert_eq!(list(region("浙江省")).await.total, 4);
    assert_eq!(
        list(region("杭州市")).await.total,
        0,
        "a prefix, not a part"
    );
    let vips = CustomerFilter {
        vip: Some(true),
        ..CustomerFilter::default()
    };
    assert_eq!(names(&list(vips).await.customers), ["张王氏", "王秀英"]);
    let not_vips = CustomerFilter {
        vip: Some(false),
        ..CustomerFilter::default()
    };
    assert_eq!(list(not_vips).await.total, 4);
    let combined = CustomerFilter {
        q: Some("王".to_owned()),
        region: Some("浙江省杭州市".to_owned()),
        vip: Some(false),
        ..CustomerFilter::default()
    };
    assert_eq!(names(&list(combined).await.customers), ["王建国"]);

    // Pages: the total is of all pages.
    let page = |limit, offset| CustomerFilter {
        limit: Some(limit),
        offset: Some(offset),
        ..CustomerFilter::default()
    };
    let second = list(page(2, 2)).await;
    assert_eq!(second.total, 6);
    assert_eq!(names(&second.customers), ["张王氏", "李伟"]);
    let last = list(page(4, 4)).await;
    assert_eq!(names(&last.customers), ["王秀英", "王建国"]);
    let beyond = list(page(4, 10)).await;
    assert_eq!((beyond.total, beyond.customers.len()), (6, 0));
    // Out-of-range paging is clamped, not an error.
    assert_eq!(list(page(0, -5)).await.customers.len(), 1);

    // Products come with the page.
    store
        .add_product(ids[0], &tv("E765K2410120318"))
        .await
        .expect("product");
    let wang = list(q("王建国")).await;
    assert_eq!(wang.customers[0].products.len(), 1);
    assert_eq!(wang.customers[0].products[0].serial, "E765K2410120318");
}

async fn products_have_unique_serials(db: &TestDb) {
    let store = &db.store;
    let a = create(store, &new_customer("甲", "", &["13800000001"]), T0).await;
    let b = create(store, &new_customer("乙", "", &["13800000002"]), T0).await;
    let p = store.add_product(a.id, &tv(" E765K1 ")).await.expect("tv");
    assert_eq!(p.customer_id, a.id);
    assert_eq!(p.serial, "E765K1", "stored trimmed");
    assert_eq!(p.purchase_date.as_deref(), Some("2024-04-01"));
    match store.add_product(b.id, &tv("E765K1")).await {
        Err(StoreError::SerialTaken {
            serial,
            customer_id,
            product_id,
            ..
        }) => assert_eq!(
            (serial.as_str(), customer_id, product_id),
            ("E765K1", a.id, p.id)
        ),
        other => panic!("expected SerialTaken, got {other:?}"),
    }
    // The same serial on another model, and products without a serial
    // (twice), are fine.
    let mut washer = tv("E765K1");
    washer.model = "XQB80-M1 波轮洗衣机".to_owned();
    store.add_product(b.id, &washer).await.expect("washer");
    let mut unknown = tv("");
    unknown.purchase_date = None;
    unknown.warranty_end = Some(String::new());
    let u = store.add_product(b.id, &unknown).await.expect("no serial");
    assert_eq!((u.purchase_date, u.warranty_end), (None, None));
    store
        .add_product(b.id, &tv(""))
        .await
        .expect("no serial again");
    match store.add_product(b.id + 1000, &tv("X")).await {
        Err(StoreError::NotFound("customer")) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    let b_now = store.customer(b.id).await.expect("get").expect("b");
    assert_eq!(b_now.products.len(), 3);
    assert_eq!(count(store, "SELECT COUNT(*) FROM products").await, 4);
}

fn arrived(id: &str, from: &str, at: i64) -> RecordOp {
    RecordOp::Arrived {
        call_id: id.to_owned(),
        sip_call_id: format!("sip-{id}@carrier"),
        from_number: from.to_owned(),
        to_number: "4008001234".to_owned(),
        service_number: "4008001234".to_owned(),
        arrived_at: at,
    }
}

async fn exec(store: &Store, sql: &'static str, binds: &[i64]) {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(store.pool()).await.expect(sql);
}

async fn timeline_merges_calls_tickets_and_stamps(db: &TestDb) {
    let store = &db.store;
    let c = create(
        store,
        &new_customer(
            "王建国",
            "浙江省杭州市西湖区",
            &["13800138000", "057186541234"],
        ),
        T0 - 100 * HOUR,
    )
    .await;
    let other = create(store, &new_customer("李", "", &["13900139000"]), T0).await;
    // Calls: from both numbers in carrier forms, and someone else's.
    for op in [
        arrived("c1", "+86 138 0013 8000", T0),
        RecordOp::Answered {
            call_id: "c1".to_owned(),
            at: T0 + 5_000,
        },
        RecordOp::Digits {
            call_id: "c1".to_owned(),
            digits: "1".to_owned(),
        },
        RecordOp::Ended {
            call_id: "c1".to_owned(),
            at: T0 + 90_000,
            cause: "normal".to_owned(),
            side: HangupSide::Caller,
        },
        arrived("c2", "0571-8654-1234", T0 + 6 * HOUR),
        arrived("x1", "13900139000", T0 + HOUR),
    ] {
        store
            .apply(&op)
            .await
            .unwrap_or_else(|e| panic!("{op:?}: {e}"));
    }
    // A repair opened on the first call and taken through follow-up.
    exec(
        store,
        "INSERT INTO outlets (code, name, tier, phone, areas) \
         VALUES ('HZ-XIHU', '杭州西湖服务中心', 'city', '057188881234', '')",
        &[],
    )
    .await;
    exec(
        store,
        "INSERT INTO users (username, display_name, role, password_hash, created_at) \
         VALUES ('wang', '小王', 'agent', 'x', 0)",
        &[],
    )
    .await;
    let outlet: i64 = count(store, "SELECT MIN(id) FROM outlets").await;
    let user: i64 = count(store, "SELECT MIN(id) FROM users").await;
    exec(
        store,
        "INSERT INTO tickets (number, customer_id, kind, category, description, stage, \
         outlet_id, call_id, created_at, updated_at) \
         VALUES ('2405010001', $1, 'repair', '无图像', '背光不亮', 'followed_up', $2, 'c1', $3, $4)",
        &[c.id, outlet, T0 + MINUTE, T0 + 5 * HOUR],
    )
    .await;
    exec(
        store,
        "INSERT INTO tickets (number, customer_id, kind, stage, created_at, updated_at) \
         VALUES ('2405010002', $1, 'consultation', 'accepted', $2, $2)",
        &[other.id, T0 + HOUR],
    )
    .await;
    let ticket = count(store, "SELECT MIN(id) FROM tickets").await;
    for (seq, stage, at) in [
        (0, "accepted", T0 + MINUTE),
        (1, "dispatched", T0 + 2 * HOUR),
        (2, "in_service", T0 + 3 * HOUR),
        (3, "completed", T0 + 4 * HOUR),
    ] {
        sqlx::query(
            "INSERT INTO ticket_stamps (ticket_id, seq, stage, at, user_id, outlet_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ticket)
        .bind(seq)
        .bind(stage)
        .bind(at)
        .bind(if seq == 1 { Some(user) } else { None })
        .bind(if seq >= 1 { Some(outlet) } else { None })
        .execute(store.pool())
        .await
        .expect(stage);
    }
    exec(
        store,
        "INSERT INTO ticket_stamps (ticket_id, seq, stage, at, user_id, score, reason) \
         VALUES ($1, 4, 'followed_up', $2, $3, 4, '师傅准时')",
        &[ticket, T0 + 5 * HOUR, user],
    )
    .await;

    let timeline = store.customer_timeline(c.id, 50).await.expect("timeline");
    let shape: Vec<(&str, i64)> = timeline.iter().map(|e| (e.kind(), e.at() - T0)).collect();
    assert_eq!(
        shape,
        [
            ("call", 6 * HOUR),
            ("follow_up", 5 * HOUR),
            ("stage", 4 * HOUR),
            ("stage", 3 * HOUR),
            ("stage", 2 * HOUR),
            ("ticket", MINUTE),
            ("call", 0),
        ]
    );
    match &timeline[1] {
        TimelineEntry::FollowUp {
            number,
            score,
            by,
            reason,
            ..
        } => {
            assert_eq!(number, "2405010001");
            assert_eq!(*score, Some(4));
            assert_eq!(by.as_deref(), Some("小王"));
            assert_eq!(reason.as_deref(), Some("师傅准时"));
        }
        other => panic!("expected a follow-up, got {other:?}"),
    }
    match &timeline[6] {
        TimelineEntry::Call {
            call_id,
            phone,
            answered_at,
            ended_at,
            digits,
            ..
        } => {
            assert_eq!((call_id.as_str(), phone.as_str()), ("c1", "13800138000"));
            assert_eq!(
                (*answered_at, *ended_at),
                (Some(T0 + 5_000), Some(T0 + 90_000))
            );
            assert_eq!(digits, "1");
        }
        other => panic!("expected a call, got {other:?}"),
    }
    // As JSON, each entry says its kind.
    let json = serde_json::to_value(&timeline).expect("json");
    assert_eq!(json[0]["kind"], "call");
    assert_eq!(json[0]["phone"], "057186541234");
    assert_eq!(json[4]["kind"], "stage");
    assert_eq!(json[4]["stage"], "dispatched");
    assert_eq!(json[4]["outlet_code"], "HZ-XIHU");
    assert_eq!(json[4]["by"], "小王");
    assert_eq!(json[5]["kind"], "ticket");
    assert_eq!(json[5]["ticket_kind"], "repair");
    assert_eq!(json[5]["stage"], "followed_up");

    // The newest few only.
    let three = store.customer_timeline(c.id, 3).await.expect("three");
    assert_eq!(three, timeline[..3]);
    assert!(
        store
            .customer_timeline(c.id, 0)
            .await
            .expect("none")
            .is_empty()
    );
    // Someone else's: their call and ticket only.
    let theirs = store.customer_timeline(other.id, 50).await.expect("theirs");
    let kinds: Vec<&str> = theirs.iter().map(TimelineEntry::kind).collect();
    assert_eq!(
        kinds,
        ["ticket", "call"],
        "ticket at the same instant first"
    );
    match store.customer_timeline(other.id + 1000, 50).await {
        Err(StoreError::NotFound("customer")) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

const CUSTOMERS_CSV: &str = "\u{feff}name,phones,region,address,vip\r\n\
    王建国,138 0013 8000;0571-86541234,浙江省杭州市西湖区,\"文一西路522号\r\n西溪花园7幢\",否\r\n\
    ,13900000001,,,\r\n\
    李秀英,13900139000/15951234567,江苏省南京市鼓楼区,中山北路105号,是\r\n\
    张伟,12,江苏省苏州市,,\r\n\
    陈静,13758461234,浙江省宁波市余姚市\r\n\
    刘洋,+86 138 0013 8000,浙江省杭州市桐庐县,,0\r\n\
    赵丽华,17751234567,浙江省杭州市拱墅区,莫干山路1418号,yes\r\n";

const PRODUCTS_CSV: &str = "phone,model,serial,purchase_date,warranty_end\r\n\
    13800138000,LED65-E7 65英寸液晶电视,E765K2410120318,2025/10/21,2028-10-21\r\n\
    0571 8654 1234,XQG100-B14 滚筒洗衣机,B14K24122501577,2024-12-25,2025-12-25\r\n\
    13000000000,LED55-A5 55英寸液晶电视,A555K1,,\r\n\
    13900139000,LED65-E7 65英寸液晶电视,E765K2410120318,,\r\n\
    17751234567,LED42-K1 42英寸液晶电视,,,\r\n\
    17751234567,LED55-A5 55英寸液晶电视,A555K2,2026-02-30,\r\n";

async fn import_writes_good_rows_and_reports_bad_ones(db: &TestDb) {
    let store = &db.store;
    let parsed = import::customers(CUSTOMERS_CSV.as_bytes());
    let lines: Vec<u64> = parsed.rows.iter().map(|r| r.line).collect();
    // Line 2's address spans two lines, so the rows after it start a
    // line further down.
    assert_eq!(lines, [2, 5, 8, 9], "{:?}", parsed.errors);
    let report = store
        .import_customers(&parsed.rows, T0)
        .await
        .expect("import");
    assert_eq!(report.imported, 3);
    let mut errors: Vec<(u64, String)> = parsed
        .errors
        .iter()
        .chain(&report.errors)
        .map(|e| (e.line, e.message.clone()))
        .collect();
    errors.sort();
    let wang = store
        .customer_by_phone("13800138000")
        .await
        .expect("lookup")
        .expect("王建国 imported");
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert_eq!(errors[0].0, 4);
    assert!(errors[0].1.contains("name: is required"), "{errors:?}");
    assert_eq!(errors[1].0, 6);
    assert!(
        errors[1].1.contains("`12` is not a phone number"),
        "{errors:?}"
    );
    assert_eq!(
        errors[2],
        (
            7,
            "wrong column count: 3 fields, the header has 5".to_owned()
        )
    );
    assert_eq!(
        errors[3],
        (
            8,
            format!("phone 13800138000 already belongs to customer #{}", wang.id)
        )
    );
    assert_eq!(wang.phones, ["057186541234", "13800138000"]);
    let li = store
        .customer_by_phone("15951234567")
        .await
        .expect("lookup")
        .expect("李秀英");
    assert!(li.vip);
    let wang_full = store.customer(wang.id).await.expect("get").expect("wang");
    assert_eq!(wang_full.address, "文一西路522号\r\n西溪花园7幢");
    assert_eq!(count(store, "SELECT COUNT(*) FROM customers").await, 3);

    // Again: every good row is now a duplicate; nothing is added.
    let again = store
        .import_customers(&parsed.rows, T0 + HOUR)
        .await
        .expect("re-import");
    assert_eq!(again.imported, 0);
    let lines: Vec<u64> = again.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 5, 8, 9]);
    assert!(
        again
            .errors
            .iter()
            .all(|e| e.message.contains("already belongs to customer #")),
        "{:?}",
        again.errors
    );
    assert_eq!(count(store, "SELECT COUNT(*) FROM customers").await, 3);

    // Products find their customer by any of the customer's numbers.
    let parsed = import::products(PRODUCTS_CSV.as_bytes());
    assert_eq!(parsed.errors.len(), 1, "{:?}", parsed.errors);
    assert_eq!(parsed.errors[0].line, 7);
    assert!(parsed.errors[0].message.contains("purchase_date"));
    let report = store.import_products(&parsed.rows).await.expect("products");
    assert_eq!(report.imported, 3, "{:?}", report.errors);
    let lines: Vec<(u64, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, 4);
    assert!(lines[0].1.starts_with("unknown customer"), "{lines:?}");
    assert_eq!(lines[1].0, 5);
    assert!(lines[1].1.starts_with("duplicate serial"), "{lines:?}");
    let wang_full = store.customer(wang.id).await.expect("get").expect("wang");
    assert_eq!(wang_full.products.len(), 2);
    assert_eq!(
        wang_full.products[0].purchase_date.as_deref(),
        Some("2025-10-21"),
        "Excel's 2025/10/21"
    );
    let again = store.import_products(&parsed.rows).await.expect("again");
    assert_eq!(again.imported, 0, "{:?}", again.errors);
    assert_eq!(again.errors.len(), 5);
    assert!(again.errors[4].message.starts_with("duplicate product"));
    assert_eq!(count(store, "SELECT COUNT(*) FROM products").await, 3);
}

/// 2026-11-25 10:00 UTC: "now" for the demo data, as in tests/store.rs.
const NOW: i64 = 1_795_600_800_000;

async fn demo_crowd_seeds_once(db: &TestDb) {
    let store = &db.store;
    assert!(store.seed_demo_with_crowd(NOW).await.expect("seed"));
    let tables = [
        "customers",
        "customer_phones",
        "products",
        "outlets",
        "tickets",
    ];
    let mut counts = Vec::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}")))
            .fetch_one(store.pool())
            .await
            .expect(t);
        counts.push(n);
    }
    assert!(counts[0] >= 306, "{counts:?}");
    assert_eq!(counts[3], 12, "outlets");
    assert!(counts[4] > 100, "the crowd has tickets: {counts:?}");
    assert_eq!(
        count(store, "SELECT COUNT(DISTINCT stage) FROM tickets").await,
        7,
        "tickets in every stage"
    );
    // Every demo ticket's row is what replaying its stamps gives.
    let numbers: Vec<String> = sqlx::query_scalar("SELECT number FROM tickets")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let policy = hotline::ticket::SlaPolicy::default();
    for number in &numbers {
        let d = store.ticket_detail(number).await.unwrap().unwrap();
        let core =
            hotline::ticket::Ticket::restore(d.ticket.accepted_kind, d.core_stamps(), &policy)
                .unwrap_or_else(|e| panic!("{number}: {e}"));
        assert_eq!(d.ticket.stage, core.stage(), "{number}");
        assert_eq!(d.ticket.version, core.version() as i64, "{number}");
        assert_eq!(d.ticket.due_at, core.due().map(|due| due.at_ms), "{number}");
    }
    assert_eq!(
        count(store, "SELECT COUNT(DISTINCT tier) FROM outlets").await,
        3
    );
    // Seeding again, with or without the crowd, adds nothing.
    assert!(!store.seed_demo_with_crowd(NOW + HOUR).await.expect("again"));
    assert!(!store.seed_demo(NOW + HOUR).await.expect("fixed again"));
    for (t, n) in tables.iter().zip(&counts) {
        let again: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {t}")))
            .fetch_one(store.pool())
            .await
            .expect(t);
        assert_eq!(again, *n, "{t}");
    }
    // The fixed world's facts hold among the crowd.
    let wang = store
        .customer_by_phone("13800138000")
        .await
        .expect("lookup")
        .expect("王建国");
    assert_eq!((wang.name.as_str(), wang.open_tickets), ("王建国", 1));
    let ticket = store
        .ticket_by_number("2611250001")
        .await
        .expect("ticket")
        .expect("2611250001");
    assert_eq!(ticket.outlet_code.as_deref(), Some("HZ-XIHU"));
    // Every crowd customer lives where an outlet serves.
    let regions: Vec<String> = sqlx::query_scalar("SELECT DISTINCT region FROM customers")
        .fetch_all(store.pool())
        .await
        .expect("regions");
    let areas: Vec<String> = sqlx::query_scalar("SELECT areas FROM outlets")
        .fetch_all(store.pool())
        .await
        .expect("areas");
    for r in &regions {
        assert!(
            areas
                .iter()
                .any(|a| a.split(',').any(|area| r.starts_with(area))),
            "no outlet serves {r}"
        );
    }
    // The list and its filters work on the crowd: Shanghai has people.
    let page = store
        .list_customers(&CustomerFilter {
            region: Some("上海市".to_owned()),
            limit: Some(10),
            ..CustomerFilter::default()
        })
        .await
        .expect("list");
    assert!(
        page.total > 10 && page.customers.len() == 10,
        "{}",
        page.total
    );
    assert!(page.customers.iter().all(|c| !c.products.is_empty()));
}
