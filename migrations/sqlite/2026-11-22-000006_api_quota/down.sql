ALTER TABLE organizations DROP COLUMN api_quota_period_start;
