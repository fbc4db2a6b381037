-- Runs once, when the PostgreSQL volume is first initialised (as the medcloud superuser, in database medcloud).
-- Orthanc keeps its index in a database of its own, owned by a role of its own: it never holds the backend's
-- credentials and cannot connect to the backend's database. The password comes from the container's
-- environment (ORTHANC_DB_PASSWORD; psql 15's \getenv), never from this file.
\getenv orthanc_password ORTHANC_DB_PASSWORD
CREATE ROLE orthanc LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'orthanc_password';
CREATE DATABASE medcloud_orthanc OWNER orthanc;
REVOKE ALL ON DATABASE medcloud_orthanc FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE medcloud FROM PUBLIC;
