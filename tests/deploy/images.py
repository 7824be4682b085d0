"""Local equivalents of the compose file's images, built with podman from Debian's packages (no registry).

``ensure_images()`` returns the image variables for deploy/docker-compose.yml (``PMO_IMAGE``, ``PMO_POSTGRES_IMAGE``,
``PMO_KAFKA_IMAGE``). The Debian root file system (``debootstrap --variant=minbase``) is cached in
``PMO_DEPLOY_CACHE`` (default ``~/.cache/pmo/deploy``, outside the repository); the images live in podman's storage
and its layer cache, so a second run rebuilds only what changed (usually the services' source layer). Also runnable:
``python -m tests.deploy.images`` prints the variables and the time each step took.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "deploy" / "images"
DEBIAN = "localhost/pmo-debian:bookworm"
PYTHON = "localhost/pmo-python:bookworm"
POSTGRES = "localhost/pmo-postgres:15"
KAFKA = "localhost/pmo-kafka:4.1.1"
SERVICES = "localhost/pmo-backend:test"
MIRROR = "http://deb.debian.org/debian"


class PodmanMissingError(RuntimeError):
    """podman (or debootstrap) is not installed: .ci/run installs both."""


def cache_dir() -> Path:
    folder = Path(os.environ.get("PMO_DEPLOY_CACHE") or Path.home() / ".cache" / "pmo" / "deploy")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def podman_env() -> dict[str, str]:
    """podman's default rlimits exceed this machine's hard limits: a containers.conf of our own caps them."""
    conf = cache_dir() / "containers.conf"
    if not conf.exists():
        conf.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]\n')
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], check=check, capture_output=capture, text=True, env=podman_env())


def require_tools() -> None:
    missing = [tool for tool in ("podman", "debootstrap") if shutil.which(tool) is None]
    if missing:
        raise PodmanMissingError(f"{' and '.join(missing)} not installed (apt-get install podman debootstrap)")


def exists(image: str) -> bool:
    return podman("image", "exists", image, check=False).returncode == 0


def build(tag: str, context: Path, dockerfile: Path | None = None, **build_args: str) -> None:
    args = ["build", "--quiet", "--layers", "-t", tag]
    for name, value in build_args.items():
        args += ["--build-arg", f"{name}={value}"]
    if dockerfile is not None:
        args += ["-f", str(dockerfile)]
    result = podman(*args, str(context), check=False)
    if result.returncode != 0:
        raise RuntimeError(f"building {tag} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def ensure_debian() -> None:
    if exists(DEBIAN):
        return
    tarball = cache_dir() / "debian-bookworm-minbase.tar"
    if not tarball.exists():
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            rootfs = Path(tmp) / "rootfs"
            subprocess.run(
                ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), MIRROR],
                check=True,
                capture_output=True,
            )
            partial = tarball.with_suffix(".partial")
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
            partial.rename(tarball)
    podman("import", str(tarball), DEBIAN)


def ensure_kafka_jars() -> Path:
    """The broker's and the tools' jars of deploy/kafka/pom.xml (fetched by Maven once, as for the private broker)."""
    from shared.infra.kafka import LocalKafka
    from shared.infra.paths import state_dir

    tools = LocalKafka(root=state_dir() / "kafka-tools")
    tools.ensure_jars()
    return tools.lib_dir


def ensure_images(timings: dict[str, float] | None = None) -> dict[str, str]:
    """Build what is missing or changed; return the compose file's image variables naming the local builds."""
    require_tools()
    timings = {} if timings is None else timings

    def step(name: str, action: object) -> None:
        started = time.monotonic()
        action()  # type: ignore[operator]
        timings[name] = round(time.monotonic() - started, 1)

    step("debian", ensure_debian)

    def python() -> None:
        trust = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            shutil.copytree(IMAGES / "python", tmp, dirs_exist_ok=True)
            shutil.copy2(trust, Path(tmp) / "ca-certificates.crt")
            build(PYTHON, Path(tmp), DEBIAN=DEBIAN)

    step("python", python)
    step("postgres", lambda: build(POSTGRES, IMAGES / "postgres", DEBIAN=DEBIAN))

    def kafka() -> None:
        lib = ensure_kafka_jars()
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            context = Path(tmp)
            shutil.copytree(IMAGES / "kafka", context, dirs_exist_ok=True)
            shutil.copytree(lib, context / "lib", copy_function=os.link if same_device(lib, context) else shutil.copy2)
            build(KAFKA, context, DEBIAN=DEBIAN)

    step("kafka", kafka)
    step("services", lambda: build(SERVICES, ROOT, ROOT / "deploy" / "Dockerfile", BASE=PYTHON))
    return {"PMO_IMAGE": SERVICES, "PMO_POSTGRES_IMAGE": POSTGRES, "PMO_KAFKA_IMAGE": KAFKA}


def same_device(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


if __name__ == "__main__":
    figures: dict[str, float] = {}
    try:
        print(ensure_images(figures))
    finally:
        print(figures, file=sys.stderr)
