-- One service's database role: it owns its schema and nothing else (run once per service by init-roles.sh, and
-- again whenever a password changes: every statement is idempotent).
-- psql variables: role (e.g. pmo_budget), schema (e.g. budget), password.
\set ON_ERROR_STOP on

-- Nobody but the roles named below may connect, create temporary tables or use the public schema.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
REVOKE ALL ON SCHEMA public FROM PUBLIC;

SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format(
    'ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD %L',
    :'role', :'password'
) \gexec
-- CREATE on the database: shared.db.migrate runs CREATE SCHEMA IF NOT EXISTS, which PostgreSQL checks before it
-- looks for the schema, and `pmo replay --schema` rebuilds into a new schema; a schema the role creates is its own.
SELECT format('GRANT CONNECT, CREATE ON DATABASE %I TO %I', current_database(), :'role') \gexec

SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', :'schema', :'role') \gexec
SELECT format('ALTER SCHEMA %I OWNER TO %I', :'schema', :'role') \gexec
SELECT format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', :'schema') \gexec
-- The role's search_path is its own schema alone (the services set it too).
SELECT format('ALTER ROLE %I SET search_path = %I', :'role', :'schema') \gexec
