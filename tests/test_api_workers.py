"""``quarterhour serve --workers 2``: forked workers answer on one port and stop cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from quarterhour.api.http.serving import free_port


def test_two_forked_workers_serve_and_stop(data_dir: Path, isolated_cache: Path) -> None:
    port = free_port()
    env = {**os.environ, "QUARTERHOUR_CACHE": str(isolated_cache)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "quarterhour",
            "serve",
            "--osm",
            str(data_dir / "shanghai_center.osm.pbf"),
            "--port",
            str(port),
            "--workers",
            "2",
            "-q",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(6):
                response = client.get(
                    "/isochrone",
                    params={"lon": 121.4737, "lat": 31.2304, "crs": "gcj02", "contours": 15},
                )
                assert response.status_code == 200
                assert response.json()["features"][0]["properties"]["contour"] == 15
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        assert len(children) == 2
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0
