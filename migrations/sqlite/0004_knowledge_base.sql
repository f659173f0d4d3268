-- 0004 knowledge_base: the articles agents search while a customer is on
-- the line (知识库), with a full-text index that handles Chinese (SQLite).
--
-- Keep this file and migrations/postgres/0004_knowledge_base.sql in step:
-- same kb_articles columns, same types as the `any` driver sees them. Only
-- the search index differs (here FTS5, there pg_trgm); src/store/kb.rs
-- writes the SQL that differs per backend.

-- Tags and models are stored comma-wrapped, `,漏水,洗衣机,` ('' for none):
-- the application forbids commas inside a tag or model, so `,洗衣机,` occurs
-- in the text exactly when 洗衣机 is one of the tags, and never for
-- 洗衣机配件. The filter is then a plain substring test (instr/strpos, no
-- pattern characters, so nothing to escape, and case-sensitive on both
-- backends, unlike SQLite's LIKE), the list keeps its order, and an article
-- is one row with no join. A side table would be indexable, but the
-- knowledge base is hundreds to a few thousand articles, scanned in
-- microseconds.
CREATE TABLE kb_articles (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    title      TEXT    NOT NULL CHECK (title <> ''),
    body       TEXT    NOT NULL CHECK (body <> ''),
    tags       TEXT    NOT NULL DEFAULT '' CHECK (tags = '' OR tags LIKE ',%,'),
    -- product models it applies to, e.g. XQG100-B14 (the model code, the
    -- first word of products.model).
    models     TEXT    NOT NULL DEFAULT '' CHECK (models = '' OR models LIKE ',%,'),
    -- optimistic version: the number of edits; an edit names the version it
    -- read and is refused if the article moved on.
    version    BIGINT  NOT NULL DEFAULT 0 CHECK (version >= 0),
    -- who wrote it; kept (as NULL) when the user is deleted.
    author_id  BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
-- The article list, most recently updated first.
CREATE INDEX kb_articles_updated_idx ON kb_articles (updated_at DESC, id DESC);

-- Full-text index over the four searchable columns. The trigram tokenizer
-- because Chinese has no spaces between words: the default unicode61
-- tokenizer would make a whole sentence one token, so 漏水 inside
-- 洗衣机漏水怎么办 would not be found. With trigrams a quoted phrase matches
-- any substring of 3 or more characters (case-insensitively); shorter
-- query words (most Chinese words are 2 characters) are matched with LIKE
-- instead (src/store/kb.rs). External content: the text is stored once, in
-- kb_articles; the triggers below keep the index in step with every insert,
-- update and delete, in the same transaction.
CREATE VIRTUAL TABLE kb_fts USING fts5 (
    title, body, tags, models,
    content = 'kb_articles',
    content_rowid = 'id',
    tokenize = 'trigram'
);

CREATE TRIGGER kb_articles_fts_insert AFTER INSERT ON kb_articles BEGIN
    INSERT INTO kb_fts (rowid, title, body, tags, models)
        VALUES (new.id, new.title, new.body, new.tags, new.models);
END;

-- An external-content index must be told the old values to remove them.
CREATE TRIGGER kb_articles_fts_delete AFTER DELETE ON kb_articles BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, title, body, tags, models)
        VALUES ('delete', old.id, old.title, old.body, old.tags, old.models);
END;

-- Only when searchable text changes (not for a version bump alone).
CREATE TRIGGER kb_articles_fts_update AFTER UPDATE OF title, body, tags, models ON kb_articles
BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, title, body, tags, models)
        VALUES ('delete', old.id, old.title, old.body, old.tags, old.models);
    INSERT INTO kb_fts (rowid, title, body, tags, models)
        VALUES (new.id, new.title, new.body, new.tags, new.models);
END;
