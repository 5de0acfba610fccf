"""``quarterhour serve --workers 2``: forked workers answer on one port and stop cleanly."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from servers import children, start_server, stop_server

if TYPE_CHECKING:
    from pathlib import Path


def test_two_forked_workers_serve_and_stop(data_dir: Path, isolated_cache: Path) -> None:
    options = ["--osm", str(data_dir / "shanghai_center.osm.pbf"), "--workers", "2"]
    server = start_server(isolated_cache, options)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(6):
                response = client.get(
                    "/isochrone",
                    params={"lon": 121.4737, "lat": 31.2304, "crs": "gcj02", "contours": 15},
                )
                assert response.status_code == 200
                assert response.json()["features"][0]["properties"]["contour"] == 15
        assert len(children(server.pid)) == 2
    finally:
        status = stop_server(server)
    assert status == 0
