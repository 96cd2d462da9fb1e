-- Companies (issue 15): every row belongs to one company, the first column of its key. A database from
-- before companies keeps working under the default company: its rows get company 'default', its
-- connections (global ones and old client labels alike: they all shared one catalog) become client
-- connections of 'default', and the 'default' company row is made. The column is added with a default
-- that fills the rows already there, then the default is dropped: every writer names the company.

CREATE TABLE companies (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    requires      TEXT,                -- the channel it must be bound to an account of
    bound_account TEXT,                -- JSON AccountIdentity; kept for good
    created_at    BIGINT NOT NULL,
    version       BIGINT NOT NULL
);
INSERT INTO companies (id, name, requires, bound_account, created_at, version)
VALUES ('default', 'Default', NULL, NULL, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT, 1);

-- Which worker runs which company.
CREATE TABLE company_leases (
    company TEXT PRIMARY KEY NOT NULL,
    holder  TEXT NOT NULL,
    until   BIGINT NOT NULL
);

-- The live workers (their heartbeats).
CREATE TABLE workers (
    worker TEXT PRIMARY KEY NOT NULL,
    until  BIGINT NOT NULL
);

-- Verified webhook deliveries received by a worker not holding their company, for the holder to apply.
CREATE TABLE inbox (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company     TEXT NOT NULL,
    store       TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    topic       TEXT NOT NULL,
    request     TEXT NOT NULL,         -- JSON: the request as received
    received_at BIGINT NOT NULL,
    UNIQUE (company, store, delivery_id)
);
CREATE INDEX inbox_company ON inbox (company, received_at, id);

-- Connections keep `store` as their key (store ids are unique across companies); `scope_client` is the
-- company (NULL: a global connection, serving every company).
UPDATE connections SET scope_client = 'default';
CREATE INDEX connections_company ON connections (scope_client);

ALTER TABLE products ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
ALTER TABLE products ALTER COLUMN company DROP DEFAULT;
ALTER TABLE products DROP CONSTRAINT products_pkey, ADD PRIMARY KEY (company, sku);
-- Who owns a SKU, across companies (`Store::sku_owners`).
CREATE INDEX products_sku ON products (sku);

ALTER TABLE listings ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
ALTER TABLE listings ALTER COLUMN company DROP DEFAULT;
ALTER TABLE listings DROP CONSTRAINT listings_pkey, ADD PRIMARY KEY (company, store, listing);
DROP INDEX listings_sku;
CREATE INDEX listings_sku ON listings (company, sku);
-- A global store's listings, in every company (`Store::purge_store`).
CREATE INDEX listings_store ON listings (store);

ALTER TABLE ledger ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
ALTER TABLE ledger ALTER COLUMN company DROP DEFAULT;
DROP INDEX ledger_sku;
CREATE INDEX ledger_sku ON ledger (company, sku);

ALTER TABLE order_lines ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
ALTER TABLE order_lines ALTER COLUMN company DROP DEFAULT;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_pkey, ADD PRIMARY KEY (company, store, order_id, line);
DROP INDEX order_lines_held;
CREATE INDEX order_lines_held ON order_lines (company, store) WHERE held = TRUE;
CREATE INDEX order_lines_store ON order_lines (store);

ALTER TABLE deliveries ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
ALTER TABLE deliveries ALTER COLUMN company DROP DEFAULT;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey, ADD PRIMARY KEY (company, store, delivery_id);

ALTER TABLE cursors ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
ALTER TABLE cursors ALTER COLUMN company DROP DEFAULT;
ALTER TABLE cursors DROP CONSTRAINT cursors_pkey, ADD PRIMARY KEY (company, store, name);

ALTER TABLE outbox ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
ALTER TABLE outbox ALTER COLUMN company DROP DEFAULT;
DROP INDEX outbox_one_pending;
-- At most one pending item per (company, store, listing, lane): newer pushes coalesce into it.
CREATE UNIQUE INDEX outbox_one_pending ON outbox (company, store, listing, lane) WHERE state = 'pending';
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (company, state, next_attempt_at);

ALTER TABLE leases ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
ALTER TABLE leases ALTER COLUMN company DROP DEFAULT;
ALTER TABLE leases DROP CONSTRAINT leases_pkey, ADD PRIMARY KEY (company, store);

ALTER TABLE sync_requests ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
ALTER TABLE sync_requests ALTER COLUMN company DROP DEFAULT;
ALTER TABLE sync_requests DROP CONSTRAINT sync_requests_pkey, ADD PRIMARY KEY (company, store);

ALTER TABLE audit ADD COLUMN company TEXT NOT NULL DEFAULT 'default';
ALTER TABLE audit ALTER COLUMN company DROP DEFAULT;
DROP INDEX audit_store;
CREATE INDEX audit_store ON audit (company, store);
