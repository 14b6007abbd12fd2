"""``deploy/kubernetes.yaml`` agrees with itself and with the server it runs.

The manifest is parsed (PyYAML), never applied: its ports, probes and timings are
checked against what ``greeter serve`` does, and the pod's command is run for real and
probed the way the kubelet probes it (``grpc.health.v1.Health/Check``).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from greeter import ServerConfig
from tests.conftest import LOOPBACK, REPO_ROOT, ServerProcess
from tests.test_health import SERVING, check

MANIFEST = REPO_ROOT / "deploy" / "kubernetes.yaml"
#: The server exits at most this long after its grace period (see ServerConfig).
EXIT_MARGIN_SECONDS = 1

Object = dict[str, Any]


def _documents(kind: str) -> list[Object]:
    documents: list[Object] = list(yaml.safe_load_all(MANIFEST.read_text()))
    return [document for document in documents if document["kind"] == kind]


DEPLOYMENT = _documents("Deployment")[0]
POD: Object = DEPLOYMENT["spec"]["template"]
CONTAINER: Object = POD["spec"]["containers"][0]
COMMAND: list[str] = CONTAINER["command"]


def _option(name: str) -> str | None:
    """The value of ``--name VALUE`` (or ``--name=VALUE``) in the container's command."""
    for index, argument in enumerate(COMMAND):
        if argument == name:
            return COMMAND[index + 1]
        if argument.startswith(f"{name}="):
            return argument.partition("=")[2]
    return None


def _listening_port() -> int:
    address = _option("--address")
    assert address is not None, "the command should say where it listens (--address)"
    return int(address.rpartition(":")[2])


def _grace_seconds() -> float:
    grace = _option("--grace")
    return ServerConfig().grace_seconds if grace is None else float(grace)


def test_there_is_one_deployment_with_one_container_running_greeter_serve() -> None:
    assert len(_documents("Deployment")) == 1
    assert len(POD["spec"]["containers"]) == 1
    assert COMMAND[:2] == ["greeter", "serve"]


def test_the_container_port_and_both_probes_use_the_port_the_server_listens_on() -> None:
    port = _listening_port()

    assert [entry["containerPort"] for entry in CONTAINER["ports"]] == [port]
    assert CONTAINER["readinessProbe"]["grpc"]["port"] == port
    assert CONTAINER["livenessProbe"]["grpc"]["port"] == port


def test_kubernetes_waits_longer_than_the_server_takes_to_drain() -> None:
    pre_stop = CONTAINER["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain_seconds = float(pre_stop[1]) + _grace_seconds() + EXIT_MARGIN_SECONDS

    assert POD["spec"]["terminationGracePeriodSeconds"] > drain_seconds


def test_the_services_select_the_pods_and_reach_their_grpc_port() -> None:
    labels: dict[str, str] = POD["metadata"]["labels"]
    assert DEPLOYMENT["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port_names = {entry["name"]: entry["containerPort"] for entry in CONTAINER["ports"]}
    services = _documents("Service")
    assert services

    for service in services:
        assert service["spec"]["selector"].items() <= labels.items()
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert port_names.get(target, target) == _listening_port()


@pytest.fixture
def pod_command() -> ServerProcess:
    """The container's command, run here: only its address swapped for 127.0.0.1:0."""
    arguments = [LOOPBACK if argument == _option("--address") else argument for argument in COMMAND]
    arguments[0] = str(Path(sys.executable).parent / arguments[0])
    return ServerProcess(arguments, r"Serving helloworld\.Greeter on 127\.0\.0\.1:(\d+)")


def test_the_pods_command_answers_the_kubelets_grpc_probe_and_stops_on_sigterm(
    pod_command: ServerProcess,
) -> None:
    try:
        # What the kubelet calls for `grpc: {port: ...}` (no service name: the server).
        assert check(pod_command.target, service="") == SERVING

        assert pod_command.stop(signal.SIGTERM, timeout=_grace_seconds() + 5) == 0
    finally:
        pod_command.kill()
