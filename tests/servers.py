"""Loopback servers the tests start themselves: free ports, waiting for a listener, Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port nobody listens on right now (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen, name: str) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; fail if ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{name} did not listen on 127.0.0.1:{port} within {timeout_s} s")


@contextmanager
def redis_server(folder: Path, password: str | None = None) -> Iterator[int]:
    """Debian's redis-server on a free loopback port, no persistence; skips if not installed."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (make test installs it with apt-get as root)")
    port = free_port()
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    args += ["no", "--dir", str(folder)]
    if password is not None:
        args += ["--requirepass", password]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 10, proc, "redis-server")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


@contextmanager
def postgres_server(folder: Path, password: str = "qs-test-pw") -> Iterator[PostgresServer]:
    """Debian's PostgreSQL 15 in ``folder`` on a free loopback port; skips if not installed.

    As root, the cluster belongs to the ``postgres`` user (initdb refuses root). Login: user
    ``qs`` with ``password`` (scram), database ``journal``.
    """
    server = PostgresServer(folder, password)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


class PostgresServer:
    """One throw-away PostgreSQL cluster (initdb, pg_ctl start/stop) for the tests."""

    def __init__(self, folder: Path, password: str) -> None:
        if not (POSTGRES_BIN / "initdb").exists():
            pytest.skip(
                f"PostgreSQL 15 is not installed ({POSTGRES_BIN}/initdb missing; make test "
                "installs the Debian package postgresql with apt-get as root)"
            )
        self.folder = folder
        self.data = folder / "pgdata"
        self.password = password
        self.port = free_port()
        self.user = "qs"
        self.database = "journal"
        self._as: list[str] = []
        self._owned = False
        if os.geteuid() == 0:
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres user to own the cluster")
            # pytest's temp folders are root-only (0700): the cluster gets its own in /tmp
            self.folder = Path(tempfile.mkdtemp(prefix="qs-pg-"))
            self.data = self.folder / "pgdata"
            self._owned = True
            os.chown(self.folder, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=60, cwd=self.folder
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed: {done.stderr or done.stdout}")

    def remove(self) -> None:
        """Delete the cluster's folder if this object made it."""
        if self._owned:
            shutil.rmtree(self.folder, ignore_errors=True)

    def init(self) -> None:
        """initdb with a scram password for ``qs`` and a ``journal`` database."""
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        if self._as:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run(
            str(POSTGRES_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--pwfile",
            str(pwfile),
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )
        pwfile.unlink()

    def start(self) -> None:
        """Start (or restart) the server and wait until it takes connections."""
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._run(
            str(POSTGRES_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.folder / "server.log"),
            "start",
        )
        if not getattr(self, "_created", False):
            env = {**os.environ, "PGPASSWORD": self.password}
            subprocess.run(
                [
                    str(POSTGRES_BIN / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    self.database,
                ],
                check=True,
                capture_output=True,
                timeout=30,
                env=env,
            )
            self._created = True

    def stop(self) -> None:
        """Stop the server (fast shutdown); a no-op if it is not running."""
        subprocess.run(
            [
                *self._as,
                str(POSTGRES_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            capture_output=True,
            timeout=60,
            cwd=self.folder,
        )

    @property
    def url(self) -> str:
        """The journal URL without the password (it comes from an environment variable)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"
