-- Companies (issue 15): every row belongs to one company, the first column of its key. A database from
-- before companies keeps working under the default company: its rows get company 'default', its
-- connections (global ones and old client labels alike: they all shared one catalog) become client
-- connections of 'default', and the 'default' company row is made. Keys change by rebuilding the table
-- (create, copy, drop, rename, index); the tables keyed by an id (ledger, outbox, audit) only gain the
-- column, so their ids and AUTOINCREMENT sequences stay as they were.

CREATE TABLE companies (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    requires      TEXT,                -- the channel it must be bound to an account of
    bound_account TEXT,                -- JSON AccountIdentity; kept for good
    created_at    INTEGER NOT NULL,
    version       INTEGER NOT NULL
);
INSERT INTO companies (id, name, requires, bound_account, created_at, version)
VALUES ('default', 'Default', NULL, NULL, CAST(strftime('%s', 'now') AS INTEGER) * 1000, 1);

-- Which worker runs which company.
CREATE TABLE company_leases (
    company TEXT PRIMARY KEY NOT NULL,
    holder  TEXT NOT NULL,
    until   INTEGER NOT NULL
);

-- The live workers (their heartbeats).
CREATE TABLE workers (
    worker TEXT PRIMARY KEY NOT NULL,
    until  INTEGER NOT NULL
);

-- Verified webhook deliveries received by a worker not holding their company, for the holder to apply.
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    company     TEXT NOT NULL,
    store       TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    topic       TEXT NOT NULL,
    request     TEXT NOT NULL,         -- JSON: the request as received
    received_at INTEGER NOT NULL,
    UNIQUE (company, store, delivery_id)
);
CREATE INDEX inbox_company ON inbox (company, received_at, id);

-- Connections keep `store` as their key (store ids are unique across companies); `scope_client` is the
-- company (NULL: a global connection, serving every company).
UPDATE connections SET scope_client = 'default';
CREATE INDEX connections_company ON connections (scope_client);

CREATE TABLE products_new (
    company    TEXT NOT NULL,
    sku        TEXT NOT NULL,
    name       TEXT,
    components TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (company, sku)
);
INSERT INTO products_new (company, sku, name, components, created_at, updated_at)
SELECT 'default', sku, name, components, created_at, updated_at FROM products;
DROP TABLE products;
ALTER TABLE products_new RENAME TO products;
-- Who owns a SKU, across companies (`Store::sku_owners`).
CREATE INDEX products_sku ON products (sku);

CREATE TABLE listings_new (
    company         TEXT NOT NULL,
    store           TEXT NOT NULL,
    listing         TEXT NOT NULL,
    ids             TEXT NOT NULL,
    channel_sku     TEXT NOT NULL,
    sku             TEXT,
    fulfilment      TEXT NOT NULL,
    status          TEXT NOT NULL,
    seen_quantity   INTEGER,
    seen_price      TEXT,
    seen_at         INTEGER,
    pushed_quantity INTEGER,
    pushed_price    TEXT,
    pushed_at       INTEGER,
    sku_change      TEXT,
    version         INTEGER NOT NULL,
    PRIMARY KEY (company, store, listing)
);
INSERT INTO listings_new (company, store, listing, ids, channel_sku, sku, fulfilment, status, seen_quantity,
    seen_price, seen_at, pushed_quantity, pushed_price, pushed_at, sku_change, version)
SELECT 'default', store, listing, ids, channel_sku, sku, fulfilment, status, seen_quantity, seen_price, seen_at,
    pushed_quantity, pushed_price, pushed_at, sku_change, version FROM listings;
DROP TABLE listings;
ALTER TABLE listings_new RENAME TO listings;
CREATE INDEX listings_sku ON listings (company, sku);
-- A global store's listings, in every company (`Store::purge_store`).
CREATE INDEX listings_store ON listings (store);

CREATE TABLE order_lines_new (
    company       TEXT NOT NULL,
    store         TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    line          TEXT NOT NULL,
    sku           TEXT,
    quantity      INTEGER NOT NULL,
    released      INTEGER NOT NULL,
    status        TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    listing       TEXT,
    channel_sku   TEXT NOT NULL DEFAULT '',
    held          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (company, store, order_id, line)
);
INSERT INTO order_lines_new (company, store, order_id, line, sku, quantity, released, status, first_seen_at,
    updated_at, version, listing, channel_sku, held)
SELECT 'default', store, order_id, line, sku, quantity, released, status, first_seen_at, updated_at, version,
    listing, channel_sku, held FROM order_lines;
DROP TABLE order_lines;
ALTER TABLE order_lines_new RENAME TO order_lines;
CREATE INDEX order_lines_held ON order_lines (company, store) WHERE held = TRUE;
CREATE INDEX order_lines_store ON order_lines (store);

CREATE TABLE deliveries_new (
    company     TEXT NOT NULL,
    store       TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    topic       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (company, store, delivery_id)
);
INSERT INTO deliveries_new (company, store, delivery_id, topic, received_at)
SELECT 'default', store, delivery_id, topic, received_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;

CREATE TABLE cursors_new (
    company TEXT NOT NULL,
    store   TEXT NOT NULL,
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (company, store, name)
);
INSERT INTO cursors_new (company, store, name, value) SELECT 'default', store, name, value FROM cursors;
DROP TABLE cursors;
ALTER TABLE cursors_new RENAME TO cursors;

CREATE TABLE leases_new (
    company TEXT NOT NULL,
    store   TEXT NOT NULL,
    holder  TEXT NOT NULL,
    until   INTEGER NOT NULL,
    PRIMARY KEY (company, store)
);
INSERT INTO leases_new (company, store, holder, until) SELECT 'default', store, holder, until FROM leases;
DROP TABLE leases;
ALTER TABLE leases_new RENAME TO leases;

CREATE TABLE sync_requests_new (
    company      TEXT NOT NULL,
    store        TEXT NOT NULL,
    requested_by TEXT,
    requested_at INTEGER NOT NULL,
    claimed_by   TEXT,
    claim_token  TEXT,
    lease_until  INTEGER,
    PRIMARY KEY (company, store)
);
INSERT INTO sync_requests_new (company, store, requested_by, requested_at, claimed_by, claim_token, lease_until)
SELECT 'default', store, requested_by, requested_at, claimed_by, claim_token, lease_until FROM sync_requests;
DROP TABLE sync_requests;
ALTER TABLE sync_requests_new RENAME TO sync_requests;

-- Keyed by id: the column is added in place (every writer names the company; the default only fills the
-- rows already there).
ALTER TABLE ledger ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
DROP INDEX ledger_sku;
CREATE INDEX ledger_sku ON ledger (company, sku);

ALTER TABLE outbox ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
DROP INDEX outbox_one_pending;
-- At most one pending item per (company, store, listing, lane): newer pushes coalesce into it.
CREATE UNIQUE INDEX outbox_one_pending ON outbox (company, store, listing, lane) WHERE state = 'pending';
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (company, state, next_attempt_at);

ALTER TABLE audit ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
DROP INDEX audit_store;
CREATE INDEX audit_store ON audit (company, store);
