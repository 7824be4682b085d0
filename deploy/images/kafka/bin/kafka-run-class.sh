#!/bin/bash
# The stock script's job, shortened: java with the jars of /opt/kafka/libs, a heap for a small machine (KAFKA_HEAP_OPTS).
exec java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m} -XX:+UseG1GC -Djava.awt.headless=true \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$@"
