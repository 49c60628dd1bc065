DROP TABLE run_events;
DROP TABLE run_steps;
DROP TABLE runs;
