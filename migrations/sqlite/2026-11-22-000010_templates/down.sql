ALTER TABLE runs DROP COLUMN template_id;
DROP TABLE orchestration_templates;
