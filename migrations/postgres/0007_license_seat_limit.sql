-- PostgreSQL twin of migrations/sqlite/0007_license_seat_limit.sql.
ALTER TABLE license_seats ADD COLUMN seat_limit BIGINT;
