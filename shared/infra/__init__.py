"""Private, real infrastructure for development and tests: PostgreSQL and Apache Kafka without Docker.

Nothing here is used when ``PMO_DATABASE_URL`` / ``PMO_KAFKA_BOOTSTRAP_SERVERS`` point at existing servers.
"""
