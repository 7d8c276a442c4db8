"""Issue 10 item 8: SIGTERM stops `quant-scalper live` within seconds, even while the node is
still building against a gateway that never completes the API session (the IB client's connect
loop used to hold the process until ib.build_timeout_secs)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from tests.ibpeer import wire
from tests.live.harness import ACCOUNT, write_config


class MuteGateway:
    """Answers the TWS version handshake, then never says anything again."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buffer += chunk
                if buffer.startswith(wire.HANDSHAKE_PREFIX):
                    frames, _ = wire.split_frames(buffer[len(wire.HANDSHAKE_PREFIX) :])
                    if frames:
                        version = wire.negotiate(*wire.parse_version_range(frames[0]))
                        conn.sendall(wire.server_hello(version))
                        break
            while conn.recv(65536):
                pass
        except OSError:
            return

    def close(self) -> None:
        self._server.close()
        for conn in self._conns:
            conn.close()


def test_sigterm_during_build_stops_within_seconds(tmp_path: Path) -> None:
    gateway = MuteGateway()
    try:
        config = write_config(tmp_path, gateway.port)
        raw = yaml.safe_load(config.read_text())
        raw["ib"]["build_timeout_secs"] = 60
        raw["ib"]["connection_timeout_secs"] = 60
        raw["node"]["stop_timeout_secs"] = 3
        config.write_text(yaml.safe_dump(raw))
        env = {**os.environ, "IB_ACCOUNT_ID": ACCOUNT}
        proc = subprocess.Popen(
            [sys.executable, "-m", "quant_scalper.cli", "live", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # printed after the probe, before the build
            assert "quant-scalper live:" in line, line
            time.sleep(3)  # inside node.build(), waiting for the API session
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            proc.wait(timeout=20)
            elapsed = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert elapsed < 8, f"SIGTERM took {elapsed:.1f} s"
        assert proc.returncode != 0
    finally:
        gateway.close()
