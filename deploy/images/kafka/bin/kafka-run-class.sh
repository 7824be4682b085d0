#!/bin/bash
# The stock script's job, shortened: java with the jars of /opt/kafka/libs; the heap (KAFKA_HEAP_OPTS) and the JVM's
# options (KAFKA_JVM_PERFORMANCE_OPTS) as the stock script reads them, with defaults for a small machine.
exec java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC} -Djava.awt.headless=true \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$@"
