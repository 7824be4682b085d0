#!/bin/bash
# One-shot job of the compose file (kafka-init): creates the topics, one SCRAM-SHA-512 user per service and the ACLs
# that let each service write only its own topic (and the dead-letter topic), read the topics it consumes and use
# its own consumer groups. Everything else is refused: the broker runs StandardAuthorizer with
# allow.everyone.if.no.acl.found=false. Idempotent: run it again after changing a password.
#
# Keep the lists below in step with the services (tests/unit/test_deployment.py compares them with each service's
# SPEC: its topic, and the topics its projections consume).
set -euo pipefail
BIN=/opt/kafka/bin
BOOTSTRAP="${PMO_KAFKA_ADMIN_BOOTSTRAP:-kafka:9094}"
PARTITIONS="${PMO_TOPIC_PARTITIONS:-6}"
REPLICATION="${PMO_TOPIC_REPLICATION_FACTOR:-1}"
GROUP_PREFIX="${PMO_KAFKA_GROUP_PREFIX:-pmo}"
DLQ=pmo.dlq.v1

declare -A OWN=(
  [projects]=pmo.projects.v1
  [budget]=pmo.budget.v1
  [resources]=pmo.resources.v1
  [invoicing]=pmo.invoicing.v1
  [reporting]=pmo.alerts.v1
)
declare -A CONSUMES=(
  [projects]=""
  [budget]="pmo.projects.v1"
  [resources]="pmo.projects.v1 pmo.budget.v1"
  [invoicing]="pmo.projects.v1 pmo.resources.v1 pmo.budget.v1"
  [reporting]="pmo.projects.v1 pmo.budget.v1 pmo.resources.v1 pmo.invoicing.v1 pmo.alerts.v1"
)

valid_password() {  # name value
  case "$2" in *[!A-Za-z0-9_-]*) echo "$1 may hold only A-Z a-z 0-9 _ -" >&2; return 1 ;; esac
  if [ "${#2}" -lt 24 ]; then echo "$1 must be set to at least 24 characters" >&2; return 1; fi
}

admin_password="${PMO_KAFKA_ADMIN_PASSWORD:-}"
valid_password PMO_KAFKA_ADMIN_PASSWORD "$admin_password"
for service in "${!OWN[@]}"; do
  variable="PMO_KAFKA_PASSWORD_${service^^}"
  valid_password "$variable" "${!variable:-}"
done

umask 077
config=$(mktemp)
cat > "$config" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin_password";
PROPERTIES
admin() { "$@" --bootstrap-server "$BOOTSTRAP" --command-config "$config"; }

for attempt in $(seq 1 60); do
  if admin "$BIN/kafka-broker-api-versions.sh" > /dev/null 2>&1; then break; fi
  if [ "$attempt" -eq 60 ]; then echo "the broker at $BOOTSTRAP did not answer" >&2; exit 1; fi
  sleep 2
done

for topic in "${OWN[@]}" "$DLQ"; do
  admin "$BIN/kafka-topics.sh" --create --if-not-exists --topic "$topic" --partitions "$PARTITIONS" \
    --replication-factor "$REPLICATION" --config retention.ms=-1
done

# One run of an admin tool per step (each starts a JVM: about 1.5 s on a loaded two-core host): the operations and
# resources of a step go into a single call. DescribeConfigs: a service compares every topic it uses with its
# settings at start (shared/kafka_topics.py, prepare_topics).
principals=()
for service in "${!OWN[@]}"; do
  variable="PMO_KAFKA_PASSWORD_${service^^}"
  admin "$BIN/kafka-configs.sh" --alter --entity-type users --entity-name "$service" \
    --add-config "SCRAM-SHA-512=[iterations=8192,password=${!variable}]"
  principals+=(--allow-principal "User:$service")

  allow=("$BIN/kafka-acls.sh" --add --force --allow-principal "User:$service")
  # Its own topic and the dead-letter topic: write (Describe comes with Write).
  admin "${allow[@]}" --operation Write --operation Describe --topic "${OWN[$service]}" --topic "$DLQ" \
    --operation DescribeConfigs
  # Topics it consumes, read, and its own topic (the start-time reconciliation reads it back without a group:
  # shared/recovery); its consumer group (<prefix>.<service>.read-models), by prefix.
  topics=(--topic "${OWN[$service]}")
  for topic in ${CONSUMES[$service]}; do topics+=(--topic "$topic"); done
  admin "${allow[@]}" --operation Read --operation Describe --operation DescribeConfigs "${topics[@]}"
  if [ -n "${CONSUMES[$service]}" ]; then
    admin "${allow[@]}" --operation Read --operation Describe --group "$GROUP_PREFIX.$service." \
      --resource-pattern-type prefixed
  fi
done
# The idempotent producer's id, for every service in one call (Kafka 3.0+ also accepts Write on any topic; kept
# explicit for clarity).
admin "$BIN/kafka-acls.sh" --add --force "${principals[@]}" --operation IdempotentWrite --cluster

admin "$BIN/kafka-acls.sh" --list > /dev/null
echo "topics, SCRAM users and ACLs are in place"
