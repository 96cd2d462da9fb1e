-- The sync engine's store. Times are unix milliseconds (INTEGER); structured values are JSON text.
-- Credentials are sealed (ChaCha20-Poly1305) by the engine before they reach this file.

CREATE TABLE connections (
    store           TEXT PRIMARY KEY NOT NULL,
    channel         TEXT NOT NULL,
    name            TEXT NOT NULL,
    scope_client    TEXT,             -- NULL: global
    warehouse       TEXT,
    settings        TEXT NOT NULL,    -- JSON
    credentials     TEXT,             -- sealed; NULL once disconnected
    account         TEXT,             -- JSON AccountIdentity; kept on disconnect
    sync_mode       TEXT NOT NULL,
    source_of_truth INTEGER NOT NULL,
    state           TEXT NOT NULL,
    health          TEXT NOT NULL,    -- JSON Health
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL
);

CREATE TABLE products (
    sku        TEXT PRIMARY KEY NOT NULL,
    name       TEXT,
    components TEXT NOT NULL,         -- JSON [{sku, quantity}]
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE listings (
    store           TEXT NOT NULL,
    listing         TEXT NOT NULL,
    ids             TEXT NOT NULL,    -- JSON PlatformIds
    channel_sku     TEXT NOT NULL,
    sku             TEXT,
    fulfilment      TEXT NOT NULL,
    status          TEXT NOT NULL,
    seen_quantity   INTEGER,
    seen_price      TEXT,             -- JSON Money
    seen_at         INTEGER,
    pushed_quantity INTEGER,
    pushed_price    TEXT,
    pushed_at       INTEGER,
    sku_change      TEXT,             -- JSON SkuChange
    version         INTEGER NOT NULL,
    PRIMARY KEY (store, listing)
);
CREATE INDEX listings_sku ON listings (sku);

CREATE TABLE ledger (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    sku      TEXT NOT NULL,
    delta    INTEGER NOT NULL,
    cause    TEXT NOT NULL,
    store    TEXT,
    order_id TEXT,
    line     TEXT,
    note     TEXT,
    at       INTEGER NOT NULL
);
CREATE INDEX ledger_sku ON ledger (sku);

CREATE TABLE order_lines (
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
    PRIMARY KEY (store, order_id, line)
);

CREATE TABLE deliveries (
    store       TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    topic       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (store, delivery_id)
);

CREATE TABLE cursors (
    store TEXT NOT NULL,
    name  TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (store, name)
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    store           TEXT NOT NULL,
    listing         TEXT NOT NULL,
    lane            TEXT NOT NULL,
    action          TEXT NOT NULL,    -- JSON PushAction
    reason          TEXT NOT NULL,
    state           TEXT NOT NULL,    -- pending | claimed | dead
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claim_token     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- At most one pending item per (store, listing, lane): newer pushes coalesce into it.
CREATE UNIQUE INDEX outbox_one_pending ON outbox (store, listing, lane) WHERE state = 'pending';
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE leases (
    store  TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
);

CREATE TABLE sync_requests (
    store        TEXT PRIMARY KEY NOT NULL,
    requested_by TEXT,
    requested_at INTEGER NOT NULL
);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    store   TEXT NOT NULL,
    listing TEXT,
    sku     TEXT,
    field   TEXT NOT NULL,
    old     TEXT,
    new     TEXT,
    reason  TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX audit_store ON audit (store);
