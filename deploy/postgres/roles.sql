-- Roles of least privilege, created once per cluster by deploy/local/postgres.sh (and by the
-- compose init). psql variables: db, owner_pw, app_pw, reader_pw.
--   wq_owner  owns the schema and runs migrations
--   wq_app    what the services connect as: read and write data, never change the schema
--   wq_reader what Grafana connects as: read only
SELECT format('CREATE ROLE wq_owner LOGIN PASSWORD %L', :'owner_pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_owner') \gexec
SELECT format('CREATE ROLE wq_app LOGIN PASSWORD %L', :'app_pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_app') \gexec
SELECT format('CREATE ROLE wq_reader LOGIN PASSWORD %L', :'reader_pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wq_reader') \gexec
SELECT format('CREATE DATABASE %I OWNER wq_owner', :'db')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
\connect :db
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO wq_app, wq_reader;
SET ROLE wq_owner;
\ir schema_grants.sql
