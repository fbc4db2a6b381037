-- Orthanc keeps its index in a database of its own on the same server.
CREATE DATABASE medcloud_orthanc;
