"""A real uvicorn server for the dashboard on a free loopback port, in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from quant_scalper.dashboard.app import create_app
from quant_scalper.dashboard.settings import DashboardSettings
from tests.servers import free_port

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def dashboard_server(settings: DashboardSettings) -> Iterator[str]:
    """Serve the dashboard until the block ends; yields its base URL."""
    port = free_port()
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.store.close()
