-- A merchant order line whose listing or SKU is not linked to the catalog yet is held: recorded once, its
-- stock not moved until a later read links it. The line keeps the listing and channel SKU it named so it
-- can be resolved then. Lines imported before this migration are not held (their listing is unknown).
ALTER TABLE order_lines ADD COLUMN listing TEXT;
ALTER TABLE order_lines ADD COLUMN channel_sku TEXT NOT NULL DEFAULT '';
ALTER TABLE order_lines ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
CREATE INDEX order_lines_held ON order_lines (store) WHERE held = TRUE;
