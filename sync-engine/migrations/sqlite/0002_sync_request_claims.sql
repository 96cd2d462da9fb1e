-- "Sync now" requests are claimed with a lease while a worker runs them, and removed only when the sync
-- finished: a worker that dies mid-sync leaves its request to be taken over when the lease ends.
ALTER TABLE sync_requests ADD COLUMN claimed_by TEXT;
ALTER TABLE sync_requests ADD COLUMN claim_token TEXT;
ALTER TABLE sync_requests ADD COLUMN lease_until INTEGER;
