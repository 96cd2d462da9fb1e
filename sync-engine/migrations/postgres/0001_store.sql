-- The sync engine's store on PostgreSQL: the same tables as SQLite. Times are unix milliseconds (BIGINT);
-- structured values are JSON text. Credentials are sealed (ChaCha20-Poly1305) by the engine before they arrive.

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
    source_of_truth BOOLEAN NOT NULL,
    state           TEXT NOT NULL,
    health          TEXT NOT NULL,    -- JSON Health
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    version         BIGINT NOT NULL
);

CREATE TABLE products (
    sku        TEXT PRIMARY KEY NOT NULL,
    name       TEXT,
    components TEXT NOT NULL,         -- JSON [{sku, quantity}]
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE listings (
    store           TEXT NOT NULL,
    listing         TEXT NOT NULL,
    ids             TEXT NOT NULL,    -- JSON PlatformIds
    channel_sku     TEXT NOT NULL,
    sku             TEXT,
    fulfilment      TEXT NOT NULL,
    status          TEXT NOT NULL,
    seen_quantity   BIGINT,
    seen_price      TEXT,             -- JSON Money
    seen_at         BIGINT,
    pushed_quantity BIGINT,
    pushed_price    TEXT,
    pushed_at       BIGINT,
    sku_change      TEXT,             -- JSON SkuChange
    version         BIGINT NOT NULL,
    PRIMARY KEY (store, listing)
);
CREATE INDEX listings_sku ON listings (sku);

CREATE TABLE ledger (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku      TEXT NOT NULL,
    delta    BIGINT NOT NULL,
    cause    TEXT NOT NULL,
    store    TEXT,
    order_id TEXT,
    line     TEXT,
    note     TEXT,
    at       BIGINT NOT NULL
);
CREATE INDEX ledger_sku ON ledger (sku);

CREATE TABLE order_lines (
    store         TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    line          TEXT NOT NULL,
    sku           TEXT,
    quantity      BIGINT NOT NULL,
    released      BIGINT NOT NULL,
    status        TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    PRIMARY KEY (store, order_id, line)
);

CREATE TABLE deliveries (
    store       TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    topic       TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (store, delivery_id)
);

CREATE TABLE cursors (
    store TEXT NOT NULL,
    name  TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (store, name)
);

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store           TEXT NOT NULL,
    listing         TEXT NOT NULL,
    lane            TEXT NOT NULL,
    action          TEXT NOT NULL,    -- JSON PushAction
    reason          TEXT NOT NULL,
    state           TEXT NOT NULL,    -- pending | claimed | dead
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claim_token     TEXT,
    lease_until     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
-- At most one pending item per (store, listing, lane): newer pushes coalesce into it.
CREATE UNIQUE INDEX outbox_one_pending ON outbox (store, listing, lane) WHERE state = 'pending';
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE leases (
    store  TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);

CREATE TABLE sync_requests (
    store        TEXT PRIMARY KEY NOT NULL,
    requested_by TEXT,
    requested_at BIGINT NOT NULL
);

CREATE TABLE audit (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store   TEXT NOT NULL,
    listing TEXT,
    sku     TEXT,
    field   TEXT NOT NULL,
    old     TEXT,
    new     TEXT,
    reason  TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX audit_store ON audit (store);
