ALTER TABLE usage_records DROP COLUMN message_id;
ALTER TABLE usage_records DROP COLUMN conversation_id;
DROP TABLE messages;
DROP TABLE conversations;
