"""``pmo kafka topics|quorum|groups ...``: Apache Kafka's own command-line tools, run against the configured cluster.

Thin wrappers: the arguments after the tool's name go to the standard tool unchanged (``pmo kafka topics --describe
--topic pmo.projects.v1``), with ``--bootstrap-server`` (and ``--command-config`` when the cluster needs TLS or SASL)
added from ``PMO_KAFKA_*``. Without ``PMO_KAFKA_BOOTSTRAP_SERVERS`` they talk to the private local broker. The tools
run from the jars ``deploy/kafka/pom.xml`` lists (``kafka-tools`` included), fetched once by Maven into
``.pmo/kafka-tools/lib`` (a folder of their own, so a running private broker is never disturbed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TOOLS = {
    "topics": ("org.apache.kafka.tools.TopicCommand", ["--list"], "kafka-topics: list, describe, create, alter"),
    "quorum": (
        "org.apache.kafka.tools.MetadataQuorumCommand",
        ["describe", "--status"],
        "kafka-metadata-quorum: the KRaft controllers, their leader and lag (default: describe --status)",
    ),
    "groups": (
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        ["--list"],
        "kafka-consumer-groups: members, assignments and lag of the services' consumer groups",
    ),
}


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``pmo kafka TOOL [ARGS...]`` to the ``pmo`` parser."""
    kafka = commands.add_parser(
        "kafka", help="run Kafka's topic, quorum and consumer-group tools against the configured cluster"
    ).add_subparsers(dest="tool", required=True, metavar="TOOL")
    for name, (_, default, summary) in TOOLS.items():
        sub = kafka.add_parser(name, help=summary, prefix_chars="\0")  # every argument goes to the tool
        sub.add_argument("arguments", nargs=argparse.REMAINDER, help=f"the tool's arguments (default: {default})")
        sub.set_defaults(func=run)


def command_line(tool: str, arguments: list[str], lib_dir: Path, bootstrap: str, config: Path | None) -> list[str]:
    """The ``java`` command running ``tool`` with ``arguments`` (its default ones if none) against ``bootstrap``."""
    from shared.infra.kafka_setup import find_java

    main_class, default, _ = TOOLS[tool]
    extra = ["--command-config", str(config)] if config is not None else []
    return [
        find_java(), "-Xmx256m", "-cp", str(lib_dir / "*"), main_class, "--bootstrap-server", bootstrap,
        *extra, *(arguments or default),
    ]  # fmt: skip


def client_config(environ: dict[str, str]) -> str | None:
    """The tools' client properties for a cluster with TLS or SASL (from ``PMO_KAFKA_*``); None for PLAINTEXT."""
    protocol = environ.get("PMO_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return None
    lines = [f"security.protocol={protocol}"]
    mechanism = environ.get("PMO_KAFKA_SASL_MECHANISM")
    if mechanism:
        module = "plain.PlainLoginModule" if mechanism == "PLAIN" else "scram.ScramLoginModule"
        user, password = environ.get("PMO_KAFKA_SASL_USERNAME", ""), environ.get("PMO_KAFKA_SASL_PASSWORD", "")
        lines += [
            f"sasl.mechanism={mechanism}",
            f"sasl.jaas.config=org.apache.kafka.common.security.{module} required "
            f'username="{_quoted(user)}" password="{_quoted(password)}";',
        ]
    cafile = environ.get("PMO_KAFKA_SSL_CAFILE")
    if cafile:
        lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={cafile}"]
    return "\n".join(lines) + "\n"


def _quoted(value: str) -> str:
    """``value`` inside a JAAS double-quoted string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def run(args: argparse.Namespace) -> int:
    from shared.infra.kafka import KafkaInfraError, LocalKafka
    from shared.infra.paths import state_dir

    bootstrap = os.environ.get("PMO_KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        from shared.infra.system import local_kafka

        bootstrap = local_kafka().bootstrap_servers
    tools = LocalKafka(root=state_dir() / "kafka-tools")  # never started: only its lib/ is used
    try:
        tools.ensure_jars()
    except KafkaInfraError as error:
        print(f"pmo kafka: {error}", file=sys.stderr)
        return 1
    config = client_config(dict(os.environ))
    with tempfile.TemporaryDirectory(prefix="pmo-kafka-") as folder:
        path = None
        if config is not None:
            path = Path(folder) / "client.properties"
            path.touch(mode=0o600)
            path.write_text(config)
        command = command_line(args.tool, list(args.arguments), tools.lib_dir, bootstrap, path)
        return subprocess.run(command, check=False).returncode
