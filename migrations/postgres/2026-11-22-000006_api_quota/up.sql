-- The month `api_quota_used` counts (UTC); a request in a later month starts a new count.
ALTER TABLE organizations ADD COLUMN api_quota_period_start timestamptz;
