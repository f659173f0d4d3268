//! The knowledge base (src/store/kb.rs) against real databases: articles,
//! optimistic versions, exact tag and model filters, and Chinese search.
//!
//! Each backend-independent test is an `async fn(&TestDb)` run twice by
//! `on_both_backends!`: on SQLite in a fresh temp dir and on PostgreSQL in a
//! fresh schema (`HOTLINE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped afterwards even if
//! the test panics. Unreachable PostgreSQL fails the test when `CI=true`
//! and prints a loud skip line otherwise. (The harness is a copy of
//! tests/store.rs's.)

use hotline::store::{
    Article, ArticleFilter, ArticleHit, Backend, KB_PAGE_MAX, NewArticle, Store, StoreError,
};

// ---------------------------------------------------------------- harness

mod common;

use common::db::TestDb;

on_both_backends!(
    create_get_update_delete,
    stale_update_is_refused,
    concurrent_updates_one_wins,
    invalid_articles_are_refused,
    filters_by_tag_and_model_are_exact,
    list_pages_newest_first,
    two_character_query_ranks_title_first,
    longer_queries_rank_title_first,
    multi_word_query_requires_all_words,
    syntax_characters_are_searched_literally,
    search_is_case_insensitive,
    search_respects_filter_and_page,
    edits_and_deletes_reach_the_index,
    empty_query_is_invalid,
    snippets_show_the_match,
    demo_articles_are_seeded_once,
);

// ---------------------------------------------------------------- helpers

const T0: i64 = 1_795_629_600_000; // 2026-11-25 18:00 UTC
const MINUTE: i64 = 60_000;

fn new(title: &str, body: &str, tags: &[&str], models: &[&str]) -> NewArticle {
    NewArticle {
        title: title.to_owned(),
        body: body.to_owned(),
        tags: tags.iter().map(|&t| t.to_owned()).collect(),
        models: models.iter().map(|&m| m.to_owned()).collect(),
    }
}

/// Create articles in order, a minute apart (the last is the newest).
async fn create_all(store: &Store, articles: &[NewArticle]) -> Vec<Article> {
    let mut out = Vec::new();
    for (i, a) in (0..).zip(articles) {
        out.push(
            store
                .create_article(a, None, T0 + i * MINUTE)
                .await
                .unwrap_or_else(|e| panic!("create {:?}: {e}", a.title)),
        );
    }
    out
}

async fn search(store: &Store, query: &str) -> Vec<ArticleHit> {
    store
        .search_articles(query, &ArticleFilter::default())
        .await
        .unwrap_or_else(|e| panic!("search {query:?}: {e:?}"))
}

/// The titles of a search's hits, best first.
async fn titles(store: &Store, query: &str) -> Vec<String> {
    search(store, query)
        .await
        .into_iter()
        .map(|h| h.article.title)
        .collect()
}

fn filter(tag: Option<&str>, model: Option<&str>) -> ArticleFilter {
    ArticleFilter {
        tag: tag.map(str::to_owned),
        model: model.map(str::to_owned),
        ..ArticleFilter::default()
    }
}

async fn listed(store: &Store, f: &ArticleFilter) -> (Vec<String>, i64) {
    let page = store.list_articles(f).await.expect("list");
    (
        page.articles.into_iter().map(|a| a.title).collect(),
        page.total,
    )
}

async fn add_user(store: &Store) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO users (username, role, password_hash, created_at) \
         VALUES ('kb_agent', 'agent', 'x', $1) RETURNING id",
    )
    .bind(T0)
    .fetch_one(store.pool())
    .await
    .expect("user")
}

/// A small knowledge base for the search tests: for each query word one
/// article with it in the title and one with it only in the body.
fn search_corpus() -> Vec<NewArticle> {
    vec![
        new(
            "洗衣机安装说明",
            "安装后请检查进水管接口，如有漏水请重新拧紧。",
            &["洗衣机", "安装"],
            &["XQG100-B14"],
        ),
        new(
            "电热水器漏水处理",
            "先断电并关闭进水阀门，再判断位置。",
            &["热水器"],
            &["DSZF-60J5"],
        ),
        new(
            "空调安装前的准备",
            "确认插座与外机位置。安装后如果出现不制冷，请检查外机是否运转。",
            &["空调", "安装"],
            &[],
        ),
        new(
            "空调不制冷的常见原因",
            "确认设定为制冷模式，清洗过滤网。",
            &["空调"],
            &[],
        ),
        new(
            "电视有声音无图像",
            "背光故障居多。另：遥控器没反应时先换电池。",
            &["电视"],
            &["LED65-E7"],
        ),
        new(
            "电视遥控器没反应怎么办",
            "更换两节7号电池，对准接收窗口。",
            &["电视", "遥控器"],
            &["LED65-E7", "LED55-A5"],
        ),
        new(
            "整机保修政策",
            "电视、洗衣机整机保修一年，电热水器三年。",
            &["保修"],
            &[],
        ),
    ]
}

// ------------------------------------------------- tests on both backends

async fn create_get_update_delete(db: &TestDb) {
    let store = &db.store;
    let user = add_user(store).await;
    let draft = new(
        "洗衣机显示E4",
        "E4 表示脱水不平衡。\n请把衣物抖散。",
        &["洗衣机", "故障代码"],
        &["XQG100-B14", "XQB80-M1"],
    );
    let created = store
        .create_article(&draft, Some(user), T0)
        .await
        .expect("create");
    assert!(created.id > 0);
    assert_eq!(
        created,
        Article {
            id: created.id,
            title: draft.title.clone(),
            body: draft.body.clone(),
            tags: draft.tags.clone(),
            models: draft.models.clone(),
            version: 0,
            author_id: Some(user),
            created_at: T0,
            updated_at: T0,
        }
    );
    assert_eq!(
        store.article(created.id).await.expect("get"),
        Some(created.clone())
    );

    let edit = new("洗衣机显示E4：脱水不平衡", "把衣物抖散后重试。", &[], &[]);
    let updated = store
        .update_article(created.id, 0, &edit, T0 + MINUTE)
        .await
        .expect("update");
    let expected = Article {
        title: edit.title.clone(),
        body: edit.body.clone(),
        tags: Vec::new(),
        models: Vec::new(),
        version: 1,
        updated_at: T0 + MINUTE,
        ..created.clone()
    };
    assert_eq!(updated, expected);
    assert_eq!(
        store.article(created.id).await.expect("get"),
        Some(expected)
    );

    // Deleting the author keeps the article.
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user)
        .execute(store.pool())
        .await
        .expect("delete user");
    let kept = store.article(created.id).await.expect("get").expect("kept");
    assert_eq!(kept.author_id, None);

    store.delete_article(created.id).await.expect("delete");
    assert_eq!(store.article(created.id).await.expect("get"), None);
    assert!(matches!(
        store.delete_article(created.id).await,
        Err(StoreError::NotFound("article"))
    ));
    assert!(matches!(
        store.update_article(created.id, 1, &edit, T0).await,
        Err(StoreError::NotFound("article"))
    ));
    // An author that is no user.
    assert!(matches!(
        store.create_article(&draft, Some(user + 1000), T0).await,
        Err(StoreError::NotFound("user"))
    ));
    assert_eq!(store.article(9_999).await.expect("get"), None);
}

async fn stale_update_is_refused(db: &TestDb) {
    let store = &db.store;
    let a = store
        .create_article(&new("遥控器配对", "同时按住两键。", &[], &[]), None, T0)
        .await
        .expect("create");
    let first = new("遥控器配对方法", "同时按住主页和返回键五秒。", &[], &[]);
    store
        .update_article(a.id, 0, &first, T0 + MINUTE)
        .await
        .expect("first edit");
    // A second agent still holding version 0.
    let second = new("遥控器重新配对", "另一种写法。", &[], &[]);
    match store
        .update_article(a.id, 0, &second, T0 + 2 * MINUTE)
        .await
    {
        Err(StoreError::VersionConflict { current }) => assert_eq!(current, 1),
        other => panic!("expected a version conflict, got {other:?}"),
    }
    // A version from the future is stale too.
    assert!(matches!(
        store.update_article(a.id, 7, &second, T0).await,
        Err(StoreError::VersionConflict { current: 1 })
    ));
    let now = store.article(a.id).await.expect("get").expect("present");
    assert_eq!((now.title.as_str(), now.version), ("遥控器配对方法", 1));
    assert_eq!(now.updated_at, T0 + MINUTE);
    // Retrying with the current version works.
    let again = store
        .update_article(a.id, 1, &second, T0 + 3 * MINUTE)
        .await
        .expect("retry");
    assert_eq!(again.version, 2);
}

async fn concurrent_updates_one_wins(db: &TestDb) {
    let store = &db.store;
    let a = store
        .create_article(&new("原标题", "原正文", &[], &[]), None, T0)
        .await
        .expect("create");
    let other = Store::connect(&db.url).await.expect("second store");
    let (x, y) = (
        new("甲的修改", "甲", &[], &[]),
        new("乙的修改", "乙", &[], &[]),
    );
    let (rx, ry) = tokio::join!(
        store.update_article(a.id, 0, &x, T0 + 1),
        other.update_article(a.id, 0, &y, T0 + 2)
    );
    let ok = [&rx, &ry].iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{rx:?} {ry:?}");
    let loser = if rx.is_ok() { ry } else { rx };
    assert!(matches!(
        loser,
        Err(StoreError::VersionConflict { current: 1 })
    ));
    other.close().await;
}

async fn invalid_articles_are_refused(db: &TestDb) {
    let store = &db.store;
    let bad = new("", "正文", &["洗衣机,配件"], &[]);
    match store.create_article(&bad, None, T0).await {
        Err(StoreError::Invalid(errors)) => {
            let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["title", "tags"]);
        }
        other => panic!("expected invalid, got {other:?}"),
    }
    let good = store
        .create_article(&new("标题", "正文", &[], &[]), None, T0)
        .await
        .expect("create");
    let too_long = new(&"长".repeat(201), "正文", &[], &[]);
    assert!(matches!(
        store.update_article(good.id, 0, &too_long, T0).await,
        Err(StoreError::Invalid(_))
    ));
    let total = store
        .list_articles(&ArticleFilter::default())
        .await
        .expect("list")
        .total;
    assert_eq!(total, 1);
    assert_eq!(
        store
            .article(good.id)
            .await
            .expect("get")
            .expect("kept")
            .version,
        0
    );
}

async fn filters_by_tag_and_model_are_exact(db: &TestDb) {
    let store = &db.store;
    create_all(
        store,
        &[
            new(
                "洗衣机E1",
                "进水超时",
                &["洗衣机", "故障代码"],
                &["XQG100-B14"],
            ),
            new("进水管加长", "配件价格", &["洗衣机配件"], &["XQG100-B14X"]),
            new(
                "波轮机E4",
                "脱水不平衡",
                &["故障代码", "洗衣机"],
                &["XQB80-M1"],
            ),
            new("电视黑屏", "背光", &["电视"], &["LED65-E7"]),
        ],
    )
    .await;
    let cases: [(Option<&str>, Option<&str>, &[&str]); 9] = [
        (Some("洗衣机"), None, &["波轮机E4", "洗衣机E1"]),
        (Some("洗衣机配件"), None, &["进水管加长"]),
        (Some("洗衣"), None, &[]),
        (Some("故障代码"), Some("XQB80-M1"), &["波轮机E4"]),
        (None, Some("XQG100-B14"), &["洗衣机E1"]),
        (None, Some("xqg100-b14"), &[]),
        (None, Some("XQG100"), &[]),
        // No article can have these: empty, or spanning two tags.
        (Some(""), None, &[]),
        (Some("洗衣机,故障代码"), None, &[]),
    ];
    for (tag, model, expected) in cases {
        let (titles, total) = listed(store, &filter(tag, model)).await;
        assert_eq!(titles, expected, "tag {tag:?} model {model:?}");
        assert_eq!(total, expected.len() as i64, "tag {tag:?} model {model:?}");
    }
    // LIKE characters in a filter are plain text.
    let (titles, _) = listed(store, &filter(Some("%"), None)).await;
    assert!(titles.is_empty());
    let (titles, _) = listed(store, &filter(None, Some("XQG100_B14"))).await;
    assert!(titles.is_empty());
}

async fn list_pages_newest_first(db: &TestDb) {
    let store = &db.store;
    let articles: Vec<NewArticle> = (1..=5)
        .map(|i| new(&format!("文章{i}"), "正文", &[], &[]))
        .collect();
    let created = create_all(store, &articles).await;
    // Editing 文章2 makes it the most recently updated.
    store
        .update_article(
            created[1].id,
            0,
            &new("文章2", "新正文", &[], &[]),
            T0 + 10 * MINUTE,
        )
        .await
        .expect("edit");
    let page = |limit, offset| ArticleFilter {
        limit,
        offset,
        ..ArticleFilter::default()
    };
    assert_eq!(
        listed(store, &page(3, 0)).await,
        (vec!["文章2".into(), "文章5".into(), "文章4".into()], 5)
    );
    assert_eq!(
        listed(store, &page(3, 3)).await,
        (vec!["文章3".into(), "文章1".into()], 5)
    );
    assert_eq!(listed(store, &page(3, 9)).await, (vec![], 5));
    assert_eq!(listed(store, &page(0, 0)).await, (vec![], 5));
    assert_eq!(listed(store, &page(KB_PAGE_MAX + 50, -3)).await.0.len(), 5);
    // Same timestamps: the higher id first.
    sqlx::query("UPDATE kb_articles SET updated_at = $1")
        .bind(T0)
        .execute(store.pool())
        .await
        .expect("same time");
    assert_eq!(
        listed(store, &page(2, 0)).await.0,
        ["文章5".to_owned(), "文章4".to_owned()]
    );
}

async fn two_character_query_ranks_title_first(db: &TestDb) {
    let store = &db.store;
    create_all(store, &search_corpus()).await;
    // 漏水 is shorter than a trigram: still found, title hit first.
    assert_eq!(
        titles(store, "漏水").await,
        ["电热水器漏水处理", "洗衣机安装说明"]
    );
    assert_eq!(
        titles(store, "遥控").await,
        ["电视遥控器没反应怎么办", "电视有声音无图像"]
    );
    // A tag hit ranks above a body-only hit too.
    assert_eq!(titles(store, "保修").await, ["整机保修政策"]);
    assert_eq!(
        titles(store, "空调").await,
        ["空调不制冷的常见原因", "空调安装前的准备"]
    );
    let hits = search(store, "漏水").await;
    assert!(hits[0].score > hits[1].score, "{hits:?}");
}

async fn longer_queries_rank_title_first(db: &TestDb) {
    let store = &db.store;
    create_all(store, &search_corpus()).await;
    assert_eq!(
        titles(store, "不制冷").await,
        ["空调不制冷的常见原因", "空调安装前的准备"]
    );
    assert_eq!(
        titles(store, "遥控器没反应").await,
        ["电视遥控器没反应怎么办", "电视有声音无图像"]
    );
    let hits = search(store, "不制冷").await;
    assert!(hits[0].score > hits[1].score, "{hits:?}");
    // Substrings, not words: the middle of a sentence is found.
    assert_eq!(titles(store, "进水阀门").await, ["电热水器漏水处理"]);
    // Models are searchable.
    assert_eq!(titles(store, "LED55-A5").await, ["电视遥控器没反应怎么办"]);
    assert!(titles(store, "洗碗机").await.is_empty());
}

async fn multi_word_query_requires_all_words(db: &TestDb) {
    let store = &db.store;
    create_all(store, &search_corpus()).await;
    // Both words short, both long, and mixed.
    assert_eq!(titles(store, "空调 安装").await, ["空调安装前的准备"]);
    assert_eq!(titles(store, "洗衣机 进水管").await, ["洗衣机安装说明"]);
    assert_eq!(titles(store, "热水器 漏水").await, ["电热水器漏水处理"]);
    assert_eq!(titles(store, "漏水 拧紧").await, ["洗衣机安装说明"]);
    // Words in different columns (title and tags) of one article.
    assert_eq!(titles(store, "声音 电视").await, ["电视有声音无图像"]);
    // Each word alone matches, together they never do.
    assert!(titles(store, "空调 漏水").await.is_empty());
    assert!(titles(store, "不制冷 遥控器").await.is_empty());
    // Full-width spaces separate words too.
    assert_eq!(
        titles(store, "空调\u{3000}安装").await,
        ["空调安装前的准备"]
    );
}

async fn syntax_characters_are_searched_literally(db: &TestDb) {
    let store = &db.store;
    create_all(
        store,
        &[
            new("纯铜 100%", "电机线圈100%纯铜。", &[], &[]),
            new("型号_A 说明", "适用于型号_A。", &[], &[]),
            new("说明书里的\"NEAR(\"", "不要把 NEAR( 当作语法。", &[], &[]),
            new("用户说'不制冷'", "单引号 ' 也是文字 * 星号。", &[], &[]),
            new("普通文章", "没有任何特殊字符", &[], &[]),
        ],
    )
    .await;
    let cases: [(&str, &[&str]); 12] = [
        ("%", &["纯铜 100%"]),
        ("100%", &["纯铜 100%"]),
        ("_", &["型号_A 说明"]),
        ("型号_A", &["型号_A 说明"]),
        ("\"", &["说明书里的\"NEAR(\""]),
        ("NEAR(", &["说明书里的\"NEAR(\""]),
        ("\"NEAR(\"", &["说明书里的\"NEAR(\""]),
        ("'", &["用户说'不制冷'"]),
        ("'不制冷'", &["用户说'不制冷'"]),
        ("*", &["用户说'不制冷'"]),
        ("\\", &[]),
        ("NEAR(a b) OR AND NOT * ^ :", &[]),
    ];
    for (query, expected) in cases {
        assert_eq!(titles(store, query).await, expected, "query {query:?}");
    }
    for query in [
        "\"\"\"",
        "a*",
        "title:纯铜",
        "{title}: x",
        "''';--",
        "%%%",
        "___",
    ] {
        search(store, query).await;
    }
}

async fn search_is_case_insensitive(db: &TestDb) {
    let store = &db.store;
    create_all(
        store,
        &[
            new("Remote 不响应", "Press HOME and BACK.", &[], &["LED65-E7"]),
            new("洗衣机显示E4", "脱水不平衡", &[], &[]),
        ],
    )
    .await;
    assert_eq!(titles(store, "remote").await, ["Remote 不响应"]);
    assert_eq!(titles(store, "home back").await, ["Remote 不响应"]);
    assert_eq!(titles(store, "led65-e7").await, ["Remote 不响应"]);
    assert_eq!(titles(store, "e4").await, ["洗衣机显示E4"]);
}

async fn search_respects_filter_and_page(db: &TestDb) {
    let store = &db.store;
    create_all(store, &search_corpus()).await;
    let hits = store
        .search_articles("安装", &filter(Some("空调"), None))
        .await
        .expect("search");
    let got: Vec<_> = hits.iter().map(|h| h.article.title.as_str()).collect();
    assert_eq!(got, ["空调安装前的准备"]);
    let hits = store
        .search_articles("遥控器", &filter(None, Some("LED55-A5")))
        .await
        .expect("search");
    assert_eq!(hits.len(), 1);
    assert!(
        store
            .search_articles("遥控器", &filter(Some("电视配件"), None))
            .await
            .expect("search")
            .is_empty()
    );
    // Paging follows the ranking.
    let second = store
        .search_articles(
            "漏水",
            &ArticleFilter {
                limit: 1,
                offset: 1,
                ..ArticleFilter::default()
            },
        )
        .await
        .expect("search");
    let got: Vec<_> = second.iter().map(|h| h.article.title.as_str()).collect();
    assert_eq!(got, ["洗衣机安装说明"]);
}

async fn edits_and_deletes_reach_the_index(db: &TestDb) {
    let store = &db.store;
    let a = store
        .create_article(
            &new(
                "热水器显示E5",
                "E5 表示干烧保护。",
                &["热水器"],
                &["DSZF-60J5"],
            ),
            None,
            T0,
        )
        .await
        .expect("create");
    assert_eq!(titles(store, "干烧保护").await, ["热水器显示E5"]);
    assert_eq!(titles(store, "干烧").await, ["热水器显示E5"]);
    store
        .update_article(
            a.id,
            0,
            &new(
                "热水器显示E6",
                "E6 表示温度传感器故障。",
                &["燃气"],
                &["JSQ24-16"],
            ),
            T0 + MINUTE,
        )
        .await
        .expect("edit");
    for old in ["干烧保护", "干烧", "E5", "DSZF-60J5"] {
        assert!(titles(store, old).await.is_empty(), "old text {old:?}");
    }
    for new_text in ["温度传感器", "传感", "E6", "JSQ24-16", "燃气"] {
        assert_eq!(
            titles(store, new_text).await,
            ["热水器显示E6"],
            "new text {new_text:?}"
        );
    }
    store.delete_article(a.id).await.expect("delete");
    assert!(titles(store, "温度传感器").await.is_empty());
    assert!(titles(store, "传感").await.is_empty());
    // The index holds nothing for deleted rows (SQLite's FTS table).
    if store.backend() == Backend::Sqlite {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM kb_fts WHERE kb_fts MATCH '\"温度传感器\"'")
                .fetch_one(store.pool())
                .await
                .expect("fts count");
        assert_eq!(n, 0);
        let check = sqlx::query("INSERT INTO kb_fts (kb_fts) VALUES ('integrity-check')")
            .execute(store.pool())
            .await;
        check.expect("FTS index consistent with kb_articles");
    }
}

async fn empty_query_is_invalid(db: &TestDb) {
    let store = &db.store;
    create_all(store, &search_corpus()).await;
    for query in ["", " ", "\t\n", "\u{3000}"] {
        match store
            .search_articles(query, &ArticleFilter::default())
            .await
        {
            Err(StoreError::Invalid(errors)) => {
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].field, "query");
            }
            other => panic!("{query:?}: expected invalid, got {other:?}"),
        }
    }
    let long = "长".repeat(101);
    assert!(matches!(
        store
            .search_articles(&long, &ArticleFilter::default())
            .await,
        Err(StoreError::Invalid(_))
    ));
}

async fn snippets_show_the_match(db: &TestDb) {
    let store = &db.store;
    let body = format!(
        "{}如果热水器底部持续渗水，说明内胆漏水，必须停止使用。{}",
        "安全提示：先断电。".repeat(10),
        "保修期内免费更换。".repeat(10)
    );
    create_all(store, &[new("热水器内胆问题", &body, &[], &[])]).await;
    let hits = search(store, "漏水").await;
    let snippet = &hits[0].snippet;
    assert!(snippet.contains("内胆漏水"), "{snippet}");
    assert!(
        snippet.starts_with('…') && snippet.ends_with('…'),
        "{snippet}"
    );
    assert!(snippet.chars().count() <= 82, "{snippet}");
    // A title-only hit shows the body's start.
    let hits = search(store, "内胆问题").await;
    assert!(hits[0].snippet.starts_with("安全提示"), "{:?}", hits[0]);
    // Serialises flat: the article's fields plus snippet and score.
    let json = serde_json::to_value(&hits[0]).expect("json");
    for key in [
        "id", "title", "tags", "models", "version", "snippet", "score",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
}

async fn demo_articles_are_seeded_once(db: &TestDb) {
    let store = &db.store;
    assert!(store.seed_demo(T0).await.expect("seed"));
    let all = ArticleFilter {
        limit: KB_PAGE_MAX,
        ..ArticleFilter::default()
    };
    let total = store.list_articles(&all).await.expect("list").total;
    assert!(total >= 18, "{total}");
    // Models are the demo products' codes.
    let (washer, _) = listed(store, &filter(None, Some("XQG100-B14"))).await;
    assert!(washer.iter().any(|t| t.contains("E1")), "{washer:?}");
    let e4 = titles(store, "E4").await;
    assert!(e4[0].contains("E4"), "{e4:?}");
    let leak = titles(store, "漏水").await;
    assert!(leak.len() >= 2, "{leak:?}");
    assert!(leak[0].contains("漏水"), "{leak:?}");
    let remote = titles(store, "遥控器没反应").await;
    assert_eq!(remote[0], "电视遥控器没反应怎么办");
    // Seeding again adds nothing.
    assert!(!store.seed_demo(T0 + MINUTE).await.expect("second seed"));
    assert_eq!(store.list_articles(&all).await.expect("list").total, total);
}
