#!/bin/bash
# Entry point of the compose file's Kafka broker: writes the broker's JAAS file (the image's environment-to-properties
# conversion drops values holding '=', so a sasl.jaas.config cannot come from the environment), then runs the image's
# own start script. The broker authenticates itself to its controller and to itself as the super user "admin" with
# SASL/PLAIN on the internal listeners; clients use SCRAM-SHA-512 on CLIENT (credentials created by bootstrap.sh).
set -euo pipefail
password="${PMO_KAFKA_ADMIN_PASSWORD:?PMO_KAFKA_ADMIN_PASSWORD must be set}"
case "$password" in *[!A-Za-z0-9_-]*) echo "PMO_KAFKA_ADMIN_PASSWORD may hold only A-Z a-z 0-9 _ -" >&2; exit 1 ;; esac
if [ "${#password}" -lt 24 ]; then echo "PMO_KAFKA_ADMIN_PASSWORD must be at least 24 characters" >&2; exit 1; fi
umask 077
mkdir -p /opt/kafka/config
cat > /opt/kafka/config/pmo_jaas.conf <<JAAS
KafkaServer {
  org.apache.kafka.common.security.plain.PlainLoginModule required
    username="admin" password="$password" user_admin="$password";
  org.apache.kafka.common.security.scram.ScramLoginModule required;
};
JAAS
# The health check's client settings (the super user, on the internal listener).
cat > /opt/kafka/config/pmo_admin.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$password";
PROPERTIES
export KAFKA_OPTS="-Djava.security.auth.login.config=/opt/kafka/config/pmo_jaas.conf ${KAFKA_OPTS:-}"
exec /etc/kafka/docker/run
