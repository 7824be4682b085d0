#!/bin/bash
# As the stock kafka-configs.sh: a client tool of the jars in /opt/kafka/libs, with a small heap.
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx256m}" KAFKA_OPTS="" exec /opt/kafka/bin/kafka-run-class.sh kafka.admin.ConfigCommand "$@"
