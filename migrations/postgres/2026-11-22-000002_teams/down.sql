DROP TABLE roles;
DROP TABLE teams;
