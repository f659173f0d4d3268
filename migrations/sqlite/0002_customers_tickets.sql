-- 0002 customers_tickets: the after-sales records the IVR looks callers and
-- tickets up in: customers and their phones, their products, the service
-- outlets, service tickets, and the messages callers leave (SQLite).
--
-- Keep this file and migrations/postgres/0002_customers_tickets.sql in
-- step: same tables, same columns, same types as the `any` driver sees them
-- (ids and times BIGINT, times epoch ms, booleans BIGINT 0/1, dates TEXT
-- YYYY-MM-DD). Ids are given by the database (here the rowid, AUTOINCREMENT
-- so that an id is never reused, as with PostgreSQL's identity columns):
-- insert without an id and read it back with RETURNING id.
-- Phone numbers are stored normalised (src/phone.rs), so lookups compare
-- them as plain text.

CREATE TABLE customers (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    -- province, city and district, e.g. 浙江省杭州市西湖区; outlets serve regions.
    region     TEXT    NOT NULL DEFAULT '',
    -- street address for on-site service.
    address    TEXT    NOT NULL DEFAULT '',
    vip        BIGINT  NOT NULL DEFAULT 0 CHECK (vip IN (0, 1)),
    created_at BIGINT  NOT NULL
);

-- A customer calls from several numbers (mobile, home, work); each number
-- belongs to one customer, so the caller's number finds them.
CREATE TABLE customer_phones (
    -- normalised (src/phone.rs); the primary key is the lookup index.
    phone       TEXT   NOT NULL PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE
);
CREATE INDEX customer_phones_customer_idx ON customer_phones (customer_id);

CREATE TABLE products (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    customer_id   BIGINT  NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    model         TEXT    NOT NULL,
    serial        TEXT    NOT NULL DEFAULT '',
    -- YYYY-MM-DD (the customer's calendar date); NULL when not known.
    purchase_date TEXT CHECK (purchase_date GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'),
    -- last day covered, YYYY-MM-DD; NULL when not known.
    warranty_end  TEXT CHECK (warranty_end GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]')
);
CREATE INDEX products_customer_idx ON products (customer_id);

-- Service outlets (服务网点): the shops that do the on-site work.
CREATE TABLE outlets (
    id    INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    -- short stable code, e.g. HZ-XIHU; what dispatch and reports show.
    code  TEXT    NOT NULL UNIQUE,
    name  TEXT    NOT NULL,
    tier  TEXT    NOT NULL CHECK (tier IN ('city', 'county', 'town')),
    -- normalised; the IVR may read it to the caller.
    phone TEXT    NOT NULL,
    -- the regions it serves, comma-separated, e.g. 浙江省杭州市西湖区,浙江省杭州市拱墅区.
    areas TEXT    NOT NULL DEFAULT ''
);

-- Service tickets (服务工单).
CREATE TABLE tickets (
    id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    -- ten digits, so a caller can key it in on a phone keypad.
    number      TEXT    NOT NULL UNIQUE
                CHECK (number GLOB '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'),
    customer_id BIGINT  NOT NULL REFERENCES customers (id),
    product_id  BIGINT  REFERENCES products (id) ON DELETE SET NULL,
    kind        TEXT    NOT NULL
                CHECK (kind IN ('repair', 'installation', 'consultation', 'complaint')),
    -- fault type, or for complaints the team that owns it.
    category    TEXT    NOT NULL DEFAULT '',
    description TEXT    NOT NULL DEFAULT '',
    stage       TEXT    NOT NULL DEFAULT 'accepted'
                CHECK (stage IN ('accepted', 'dispatched', 'in_service', 'completed',
                                 'followed_up', 'closed', 'reopened')),
    -- the outlet it is dispatched to; NULL before dispatch and for work
    -- the call center does itself.
    outlet_id   BIGINT  REFERENCES outlets (id),
    -- the call it was opened on (calls.id); no foreign key: old calls may be
    -- pruned, tickets stay.
    call_id     TEXT,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
-- A caller's open tickets, newest first (IVR, screen pop). The predicate
-- must read exactly as in the queries (src/store/lookups.rs) to be used.
CREATE INDEX tickets_open_by_customer_idx ON tickets (customer_id, created_at DESC)
    WHERE stage NOT IN ('followed_up', 'closed');
-- Every ticket of a customer, newest first (and the foreign key's check
-- when a customer is deleted).
CREATE INDEX tickets_customer_idx ON tickets (customer_id, created_at DESC);

-- Messages callers leave in the IVR (voicemail).
CREATE TABLE call_messages (
    call_id     TEXT   NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    -- the audio file, relative to the data directory.
    file        TEXT   NOT NULL,
    duration_ms BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    -- (call_id, file) makes a retried insert a no-op.
    PRIMARY KEY (call_id, file)
);
