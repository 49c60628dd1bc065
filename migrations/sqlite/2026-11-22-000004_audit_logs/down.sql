DROP TRIGGER audit_logs_no_update;
DROP TABLE audit_logs;
