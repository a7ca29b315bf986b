"""Private ``redis-server`` processes for the tests, on free loopback ports.

Never the shared server at 127.0.0.1:6379: every server here is started by the tests, holds
nothing on disk, and is stopped by them. In CI a missing ``redis-server`` fails the run (see
``conftest.service_unavailable``); ``.ci/run`` installs it when absent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` (or sentinel) process; ``restart`` keeps its port."""

    def __init__(self, *extra: str, port: int | None = None, sentinel: bool = False) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed")
        self.port = port or free_port()
        self.extra = extra
        self.sentinel = sentinel
        self.directory = Path(tempfile.mkdtemp(prefix=f"huey-redis-{self.port}-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        config = self.directory / ("sentinel.conf" if self.sentinel else "redis.conf")
        lines = [f"port {self.port}", "bind 127.0.0.1", f"dir {self.directory}"]
        if not self.sentinel:
            lines += ['save ""', "appendonly no"]
        config.write_text("\n".join(lines + list(self.extra)) + "\n")
        command = [REDIS_SERVER, str(config)]
        return [*command, "--sentinel"] if self.sentinel else command

    def start(self, timeout: float = 10) -> RedisServer:
        self._log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self._command(), stdout=self._log, stderr=subprocess.STDOUT, cwd=self.directory
        )
        deadline = time.monotonic() + timeout
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server on port {self.port} did not start: "
                    f"{(self.directory / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.02)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.directory, ignore_errors=True)


# -- Sentinel --------------------------------------------------------------------------------
SERVICE = "mymaster"


def _wait(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _info(port: int, section: str) -> dict[str, Any]:
    """``INFO section`` of the server on ``port``; empty when it does not answer."""
    import redis

    try:
        with redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2) as client:
            return dict(client.info(section))
    except redis.exceptions.RedisError:
        return {}


def _sentinel_view(port: int, service: str) -> dict[str, Any]:
    """``SENTINEL MASTER service`` as the sentinel on ``port`` sees it; empty on error."""
    import redis

    try:
        with redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2) as client:
            return dict(client.sentinel_master(service))
    except redis.exceptions.RedisError:
        return {}


class SentinelGroup:
    """A master, its replicas and the sentinels monitoring it as ``service``, all on loopback.

    ``servers`` are the data nodes by port (the master first); ``sentinels`` the sentinels.
    Which data node is the master changes with a failover: ask ``master_port()``.
    """

    def __init__(
        self, master: RedisServer, replicas: list[RedisServer], service: str = SERVICE
    ) -> None:
        self.service = service
        self.servers = {server.port: server for server in [master, *replicas]}
        self.sentinels: list[RedisServer] = []
        self.initial_master = master

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", sentinel.port) for sentinel in self.sentinels]

    def views(self) -> list[dict[str, Any]]:
        """What each running sentinel reports about the service (empty if it did not answer)."""
        return [
            _sentinel_view(sentinel.port, self.service)
            for sentinel in self.sentinels
            if sentinel.process is not None
        ]

    def master_port(self) -> int | None:
        """The port every sentinel reports as the master, with that node answering as master;
        None while they disagree or it does not (yet) say ``role:master``."""
        ports = {view.get("port") for view in self.views()}
        if len(ports) != 1:
            return None
        (port,) = ports
        if port is None or _info(int(port), "replication").get("role") != "master":
            return None
        return int(port)

    def wait_ready(self, timeout: float = 30) -> None:
        """Until every sentinel sees the master (not down), every replica and the others."""
        replicas = len(self.servers) - 1
        others = len(self.sentinels) - 1

        def ready() -> bool:
            views = self.views()
            return len(views) == len(self.sentinels) and all(
                view.get("flags") == "master"
                and view.get("num-slaves") == replicas
                and view.get("num-other-sentinels") == others
                for view in views
            )

        _wait(ready, timeout, f"{len(self.sentinels)} sentinels to see the {self.service} group")

    def wait_failover(self, old_port: int, timeout: float = 30) -> RedisServer:
        """The data node the sentinels promoted in place of ``old_port``, once every sentinel
        reports it and it answers as master."""
        found: list[int] = []

        def promoted() -> bool:
            port = self.master_port()
            if port is None or port == old_port:
                return False
            found.append(port)
            return True

        _wait(promoted, timeout, f"a failover away from port {old_port}")
        return self.servers[found[-1]]

    def close(self) -> None:
        for server in [*self.sentinels, *self.servers.values()]:
            server.close()


def start_sentinel_group(
    replicas: int = 1,
    sentinels: int = 3,
    quorum: int = 2,
    service: str = SERVICE,
    down_after_ms: int = 1000,
    failover_timeout_ms: int = 3000,
    timeout: float = 30,
) -> SentinelGroup:
    """A running master, ``replicas`` in sync with it and ``sentinels`` monitoring them.

    Returns once each replica's link is up and each sentinel has found every replica and every
    other sentinel (replicas are found through the master's INFO, sentinels through hello
    messages), so a failover can be voted on at once. ``down_after_ms`` is how long the master
    must be silent before a sentinel deems it down; ``failover_timeout_ms`` (among its uses)
    is how long a sentinel waits before retrying a failover that did not complete, so small
    values keep the tests fast. Everything is stopped and deleted by ``close()``, also when
    starting fails.
    """
    # No 5-second wait for more replicas before a full sync (the default in Redis 7).
    fast_sync = "repl-diskless-sync-delay 0"
    master = RedisServer(fast_sync)
    group = SentinelGroup(master, [], service)
    try:
        master.start()
        for _ in range(replicas):
            replica = RedisServer(fast_sync, f"replicaof 127.0.0.1 {master.port}")
            group.servers[replica.port] = replica
            replica.start()
        for replica in list(group.servers.values())[1:]:
            _wait(
                lambda port=replica.port: (
                    _info(port, "replication").get("master_link_status") == "up"
                ),
                timeout,
                f"replica {replica.port} to sync with {master.port}",
            )
        # Started after the replicas are linked: the first INFO a sentinel sends the master
        # lists them all (the next is 10 seconds later).
        for _ in range(sentinels):
            sentinel = RedisServer(
                f"sentinel monitor {service} 127.0.0.1 {master.port} {quorum}",
                f"sentinel down-after-milliseconds {service} {down_after_ms}",
                f"sentinel failover-timeout {service} {failover_timeout_ms}",
                f"sentinel parallel-syncs {service} 1",
                sentinel=True,
            )
            group.sentinels.append(sentinel)
            sentinel.start()
        group.wait_ready(timeout)
    except BaseException:
        group.close()
        raise
    return group


# -- Redis Cluster ---------------------------------------------------------------------------------
REDIS_CLI = shutil.which("redis-cli")

# A node's cluster bus listens on its port + 10000 (every Redis version).
_BUS_OFFSET = 10000


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port(taken: set[int] | None = None) -> int:
    """A free loopback port whose cluster bus port (port + 10000) is free too; neither is in
    ``taken``."""
    for _ in range(200):
        port = free_port()
        bus = port + _BUS_OFFSET
        if bus <= 65535 and not {port, bus} & (taken or set()) and _free(bus):
            return port
    raise RuntimeError("no free port pair (port, port + 10000) for a cluster node")


class RedisClusterHandle:
    """A Redis Cluster of private ``redis-server`` processes on loopback: masters only.

    ``nodes`` are the servers (each a :class:`RedisServer`, started with ``cluster-enabled``
    and its own ``nodes.conf`` in its temporary directory); ``startup_nodes`` their
    ``(host, port)`` pairs; ``url`` a ``redis://`` URL of the first one. ``close()`` stops them
    all and removes their directories.
    """

    def __init__(self, nodes: list[RedisServer]) -> None:
        self.nodes = nodes

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", port) for port in self.ports]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}"

    def cluster_info(self, port: int) -> dict[str, str]:
        """``CLUSTER INFO`` of the node on ``port``."""
        import redis

        with redis.Redis(port=port, socket_timeout=5) as client:
            text = client.execute_command("CLUSTER INFO")
        if isinstance(text, dict):  # Parsed by redis-py already.
            return {str(key): str(value) for key, value in text.items()}
        text = text.decode() if isinstance(text, bytes) else str(text)
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every node reports ``cluster_state:ok``, knows every node and all 16384 slots."""
        deadline = time.monotonic() + timeout
        expected = {
            "cluster_state": "ok",
            "cluster_slots_assigned": "16384",
            "cluster_known_nodes": str(len(self.nodes)),
        }
        while True:
            infos = {port: self.cluster_info(port) for port in self.ports}
            if all(
                all(info.get(key) == value for key, value in expected.items())
                for info in infos.values()
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not become ready: {infos}")
            time.sleep(0.1)

    def close(self) -> None:
        for node in self.nodes:
            node.close()


def start_cluster(
    masters: int = 3, timeout: float = 60, ports: list[int] | None = None
) -> RedisClusterHandle:
    """Start ``masters`` cluster-enabled servers on free loopback ports (never 6379), or on
    ``ports`` (see ``free_cluster_port``), create the cluster with ``redis-cli --cluster
    create`` (no replicas) and wait until it is ready."""
    if REDIS_SERVER is None or REDIS_CLI is None:
        raise RuntimeError("redis-server and redis-cli are needed for a cluster")
    nodes: list[RedisServer] = []
    taken: set[int] = set(ports or [])
    taken |= {port + _BUS_OFFSET for port in taken}
    try:
        for index in range(len(ports) if ports else masters):
            port = ports[index] if ports else free_cluster_port(taken)
            taken |= {port, port + _BUS_OFFSET}
            node = RedisServer(
                "cluster-enabled yes",
                "cluster-config-file nodes.conf",
                "cluster-node-timeout 5000",
                port=port,
            )
            nodes.append(node)
            node.start()
        create = subprocess.run(
            [
                REDIS_CLI,
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            input=b"yes\n",
            capture_output=True,
            timeout=timeout,
        )
        if create.returncode != 0:
            raise RuntimeError(
                "redis-cli --cluster create failed: "
                f"{(create.stdout + create.stderr).decode(errors='replace')[-2000:]}"
            )
        handle = RedisClusterHandle(nodes)
        handle.wait_ok(timeout)
        return handle
    except BaseException:
        for node in nodes:
            node.close()
        raise
