"""Accounts, roles, links and the record of changes, on a real ``quarterhour serve`` (two workers).

Every project path is tried by an anonymous client, a logged-in stranger, a read-only link, a
viewer and an editor, each with its own real HTTP client (httpx, cookies as a browser keeps
them, ``Origin`` as a browser sends it); the login page runs in real Chromium.

One story on one server: later tests use the accounts, project and record of changes earlier
ones made, in file order; under ``pytest -n`` the file runs on one worker (``--dist loadfile``
in pyproject.toml).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pytest
from servers import Server, server_env, start_server, stop_server

from quarterhour import settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PASSWORDS = {
    "alice": "Alice-owner-7f3a9c2e51",
    "eve": "Eve-editor-0d84b6f2a3",
    "victor": "Victor-viewer-5e19c7a0b4",
    "sam": "Sam-stranger-a62f0e9d17",
}
OK = "ok"
DONE_STATES = {"done", "failed", "cancelled"}


def users_cli(data: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    """``python -m quarterhour users ARGS --data-dir DATA`` (the password on standard input)."""
    command = [sys.executable, "-m", "quarterhour", "users", *args, "--data-dir", str(data)]
    if password is not None:
        command.append("--password-stdin")
    return subprocess.run(
        command,
        input=None if password is None else password + "\n",
        capture_output=True,
        text=True,
        env=server_env(Path(settings.cache_folder)),
        check=False,
        timeout=120,
    )


class Clients:
    """Every HTTP client the tests make, and every answer they got (to look for passwords)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.answers: list[bytes] = []
        self.made: list[httpx.Client] = []

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.answers.append(
            b"".join(f"{k}: {v}\n".encode() for k, v in response.headers.items()) + response.content
        )

    def new(
        self, *, origin: bool = True, headers: dict[str, str] | None = None, **options: object
    ) -> httpx.Client:
        """A client of the server; ``Origin`` as a browser's page on the server would send it."""
        headers = ({"Origin": self.server.url} if origin else {}) | (headers or {})
        client = httpx.Client(
            base_url=self.server.url,
            headers=headers,
            timeout=120,
            event_hooks={"response": [self._keep]},
            **options,
        )
        self.made.append(client)
        return client

    def logged_in(self, username: str) -> httpx.Client:
        """A client with the session cookie of ``username``."""
        client = self.new()
        answer = client.post(
            "/api/login", json={"username": username, "password": PASSWORDS[username]}
        )
        assert answer.status_code == 200, answer.text
        return client

    def close(self) -> None:
        for client in self.made:
            client.close()


@pytest.fixture(scope="module")
def communities_file(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """Forty real compounds near People's Square (GCJ-02), as a planner's CSV."""
    table = pd.read_csv(data_dir / settings.default_communities)
    inside = table[table["lng"].between(121.46, 121.49) & table["lat"].between(31.22, 31.24)]
    path = tmp_path_factory.mktemp("auth-files") / "communities.csv"
    inside.head(40)[["id", "name", "lng", "lat"]].to_csv(path, index=False)
    return path


def upload(client: httpx.Client, path: Path, name: str) -> httpx.Response:
    """``POST /api/projects`` with a communities file in GCJ-02."""
    with path.open("rb") as file:
        return client.post(
            "/api/projects",
            files={"communities": (path.name, file, "text/csv")},
            data={"crs": "gcj02", "name": name},
        )


def wait_for_job(client: httpx.Client, job: str) -> dict[str, object]:
    """Poll ``GET /api/jobs/{job}`` until the plan is done, failed or cancelled."""
    deadline = time.monotonic() + 300
    while True:
        state = client.get(f"/api/jobs/{job}").json()
        if state["state"] in DONE_STATES:
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


class World:
    """The running server, its data folder, the accounts' clients and what the test changed."""

    def __init__(self, server: Server, data: Path, clients: Clients) -> None:
        self.server = server
        self.data = data
        self.clients = clients
        self.ids: dict[str, str] = {}
        self.expected_changes: list[tuple[str, str]] = []
        self.by: dict[str, httpx.Client] = {}

    def change(self, actor: str, action: str, response: httpx.Response) -> httpx.Response:
        """Note a change that succeeded (it must appear in the record)."""
        if response.is_success:
            self.expected_changes.append((actor, action))
        return response


@pytest.fixture(scope="module")
def world(
    isolated_cache: Path, tmp_path_factory: pytest.TempPathFactory, communities_file: Path
) -> Iterator[World]:
    """A server with no account first (the local user), then four accounts and a shared project."""
    data = tmp_path_factory.mktemp("workspace-data")
    server = start_server(isolated_cache, ["--data-dir", str(data), "--workers", "2"])
    clients = Clients(server)
    try:
        yield World(server, data, clients)
    finally:
        clients.close()
        stop_server(server)


def test_local_user_until_the_first_account(world: World, communities_file: Path) -> None:
    """On loopback without accounts the workspace is open; the first account takes it over."""
    local = world.clients.new(origin=False)
    assert local.get("/api/me").json()["login_required"] is False
    made = upload(local, communities_file, "made before accounts")
    assert made.status_code == 201, made.text
    world.ids["local_project"] = made.json()["id"]
    foreign = world.clients.new(origin=False, headers={"Origin": "http://evil.example"})
    refused = upload(foreign, communities_file, "cross-site")
    assert refused.status_code == 403
    assert refused.json()["detail"][0]["type"] == "cross_site"

    for username, password in PASSWORDS.items():
        done = users_cli(world.data, "add", username, password=password)
        assert done.returncode == 0, done.stderr
    assert local.get("/api/projects").status_code == 401
    assert local.get("/api/me").json()["login_required"] is True
    alice = world.clients.logged_in("alice")
    seen = [project["id"] for project in alice.get("/api/projects").json()["projects"]]
    assert seen == [world.ids["local_project"]]
    sam = world.clients.logged_in("sam")
    assert sam.get("/api/projects").json()["projects"] == []
    assert sam.get(f"/api/projects/{world.ids['local_project']}").status_code == 404


def _setup_shared_project(world: World, communities_file: Path) -> None:
    """Alice uploads a project, shares it with eve (editor) and victor (viewer), links it."""
    alice = world.by["alice"] = world.clients.logged_in("alice")
    made = world.change("alice", "upload", upload(alice, communities_file, "静安 draft"))
    assert made.status_code == 201, made.text
    pid = world.ids["pid"] = made.json()["id"]
    world.ids["sid"] = made.json()["scenarios"][0]["id"]
    other = upload(alice, communities_file, "alice's own")
    world.ids["other_pid"] = other.json()["id"]
    for username, role in (("eve", "editor"), ("victor", "viewer")):
        shared = alice.post(
            f"/api/projects/{pid}/members", json={"username": username, "role": role}
        )
        assert world.change("alice", "share", shared).status_code == 201, shared.text
    for key, name in (("sid2", "for edits"), ("sid3", "to delete")):
        copy = alice.post(
            f"/api/projects/{pid}/scenarios", json={"name": name, "from": world.ids["sid"]}
        )
        assert world.change("alice", "create_scenario", copy).status_code == 201, copy.text
        world.ids[key] = copy.json()["id"]
    link = world.change("alice", "link", alice.post(f"/api/projects/{pid}/links", json={}))
    assert link.status_code == 201, link.text
    world.ids["lid"] = link.json()["id"]
    world.ids["link_url"] = link.json()["url"]
    plan = alice.post(f"/api/projects/{pid}/scenarios/{world.ids['sid']}/plan", json={"budget": 1})
    assert plan.status_code == 202, plan.text
    world.ids["jid"] = plan.json()["job"]
    if wait_for_job(alice, world.ids["jid"])["state"] == "done":
        world.expected_changes.append(("alice", "plan"))
    world.by["eve"] = world.clients.logged_in("eve")
    world.by["victor"] = world.clients.logged_in("victor")
    world.by["sam"] = world.clients.logged_in("sam")
    world.by["anonymous"] = world.clients.new()
    visitor = world.by["link"] = world.clients.new()
    opened = visitor.get(world.ids["link_url"].removeprefix(world.server.url))
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/?project={pid}"


def _version(world: World, sid: str) -> str:
    answer = world.by["alice"].get(f"/api/projects/{world.ids['pid']}/scenarios/{sid}")
    return str(answer.json()["version"])


# (method, path template, body, expected for anonymous, stranger, link, viewer, editor, action
# recorded when the editor succeeds)
MATRIX: list[tuple[str, str, Callable[[World], dict] | None, tuple, str | None]] = [
    ("GET", "/api/projects/{pid}", None, (401, 404, OK, OK, OK), None),
    ("GET", "/api/projects/{pid}/scenarios", None, (401, 404, OK, OK, OK), None),
    (
        "POST",
        "/api/projects/{pid}/scenarios",
        lambda w: {"name": "editor's copy", "from": w.ids["sid"]},
        (401, 404, 403, 403, OK),
        "create_scenario",
    ),
    ("GET", "/api/projects/{pid}/scenarios/{sid}", None, (401, 404, OK, OK, OK), None),
    (
        "PATCH",
        "/api/projects/{pid}/scenarios/{sid2}",
        lambda _w: {"name": "renamed by the editor"},
        (401, 404, 403, 403, OK),
        "rename",
    ),
    (
        "POST",
        "/api/projects/{pid}/scenarios/{sid2}/edits",
        lambda w: {"op": "add", "community_id": w.ids["community"]},
        (401, 404, 403, 403, OK),
        "edit",
    ),
    (
        "POST",
        "/api/projects/{pid}/scenarios/{sid}/plan",
        lambda _w: {"budget": 1},
        (401, 404, 403, 403, OK),
        None,
    ),
    (
        "GET",
        "/api/projects/{pid}/scenarios/{sid}/files/summary.json",
        None,
        (401, 404, OK, OK, OK),
        None,
    ),
    ("GET", "/api/projects/{pid}/compare?a={sid}&b={sid2}", None, (401, 404, OK, OK, OK), None),
    ("GET", "/api/jobs/{jid}", None, (401, 404, OK, OK, OK), None),
    ("DELETE", "/api/jobs/{jid}", None, (401, 404, 403, 403, OK), None),
    ("GET", "/api/projects/{pid}/members", None, (401, 404, 403, OK, OK), None),
    (
        "POST",
        "/api/projects/{pid}/members",
        lambda _w: {"username": "sam", "role": "owner"},
        (401, 404, 403, 403, 403),
        None,
    ),
    ("DELETE", "/api/projects/{pid}/members/alice", None, (401, 404, 403, 403, 403), None),
    ("GET", "/api/projects/{pid}/links", None, (401, 404, 403, 403, 403), None),
    ("POST", "/api/projects/{pid}/links", lambda _w: {}, (401, 404, 403, 403, 403), None),
    ("DELETE", "/api/projects/{pid}/links/{lid}", None, (401, 404, 403, 403, 403), None),
    ("GET", "/api/projects/{pid}/changes", None, (401, 404, 403, OK, OK), None),
    ("GET", "/api/projects/{pid}/changes?format=csv", None, (401, 404, 403, OK, OK), None),
    ("DELETE", "/api/projects/{pid}/scenarios/{sid3}", None, (401, 404, 403, 403, OK), "delete"),
    ("DELETE", "/api/projects/{pid}", None, (401, 404, 403, 403, 403), None),
]
CALLERS = ("anonymous", "sam", "link", "victor", "eve")


def test_every_project_path_by_every_role(world: World, communities_file: Path) -> None:
    """Each path x caller gives the expected status: only the allowed calls pass."""
    _setup_shared_project(world, communities_file)
    world.ids["community"] = str(pd.read_csv(communities_file)["id"].iloc[0])
    wrong: list[str] = []
    for method, template, body, expected, action in MATRIX:
        path = template.format(**world.ids)
        for caller, want in zip(CALLERS, expected, strict=True):
            headers = {}
            if template.endswith("/edits"):
                headers["If-Match"] = _version(world, world.ids["sid2"])
            answer = world.by[caller].request(
                method, path, json=body(world) if body else None, headers=headers
            )
            got = answer.status_code
            allowed = 200 <= got < 300
            if (want == OK and not allowed) or want not in (OK, got):
                wrong.append(
                    f"{method} {template} by {caller}: {got} (want {want}) {answer.text[:200]}"
                )
            if caller == "eve" and allowed:
                if action:
                    world.expected_changes.append(("eve", action))
                if template.endswith("/plan"):
                    world.ids["eve_job"] = answer.json()["job"]
            if want != OK and got in (401, 403, 404):
                assert answer.json()["detail"][0]["type"], answer.text
    assert not wrong, "\n".join(wrong)
    if wait_for_job(world.by["eve"], world.ids["eve_job"])["state"] == "done":
        world.expected_changes.append(("eve", "plan"))


def test_matrix_covers_every_project_path(world: World) -> None:
    """Every project and job path in /openapi.json is in the matrix (a new one must be added)."""
    schema = httpx.get(f"{world.server.url}/openapi.json").json()
    tried = {(method, template.split("?")[0]) for method, template, *_ in MATRIX}
    tried_templates = {
        (m, t.replace("{sid2}", "{sid}").replace("{sid3}", "{sid}")) for m, t in tried
    }
    missing = []
    for path, operations in schema["paths"].items():
        if not path.startswith(("/api/projects/{pid}", "/api/jobs/")):
            continue
        generic = (
            path.replace("{username}", "alice")
            .replace("{link_id}", "{lid}")
            .replace("{name}", "summary.json")
        )
        missing += [
            f"{method.upper()} {path}"
            for method in operations
            if (method.upper(), generic) not in tried_templates
        ]
    assert not missing


def test_other_projects_answer_404_to_members(world: World) -> None:
    """A member of one project cannot see another: 404, as for an id that does not exist."""
    other = world.ids["other_pid"]
    for caller in ("eve", "victor", "sam", "link"):
        assert world.by[caller].get(f"/api/projects/{other}").status_code == 404
        assert world.by[caller].get(f"/api/projects/{other}/changes").status_code == 404
    listed = {p["id"] for p in world.by["eve"].get("/api/projects").json()["projects"]}
    assert listed == {world.ids["pid"]}
    assert [p["id"] for p in world.by["link"].get("/api/projects").json()["projects"]] == [
        world.ids["pid"]
    ]
    ghost = world.by["alice"].get("/api/projects/0123456789abcdef0123456789abcdef")
    hidden = world.by["sam"].get(f"/api/projects/{other}")
    assert ghost.status_code == hidden.status_code == 404
    assert ghost.json()["detail"][0]["type"] == hidden.json()["detail"][0]["type"]


def test_public_paths_stay_open(world: World) -> None:
    """The isochrone, route, nearest and health APIs answer without a login."""
    anonymous = world.clients.new(origin=False)
    lon, lat = 121.4737, 31.2304
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get(f"/isochrone?lon={lon}&lat={lat}").status_code == 200
    # 409 here: the server was started without stations; answered, not refused.
    assert anonymous.get(f"/nearest?lon={lon}&lat={lat}").status_code not in (401, 403)
    route = anonymous.get(f"/route?from_lon={lon}&from_lat={lat}&to_lon=121.48&to_lat=31.235")
    assert route.status_code == 200, route.text
    assert anonymous.get("/api/projects").status_code == 401
    assert anonymous.get("/login").status_code == 200


def test_cross_site_writes_are_refused(world: World, communities_file: Path) -> None:
    """A cookie-authenticated write needs this site's Origin (or Referer); Bearer is exempt."""
    alice = world.by["alice"]
    before = len(alice.get("/api/projects").json()["projects"])
    cookies = dict(alice.cookies)
    foreign = world.clients.new(
        origin=False, headers={"Origin": "http://evil.example"}, cookies=cookies
    )
    bare = world.clients.new(origin=False, cookies=cookies)
    referer = world.clients.new(
        origin=False, headers={"Referer": f"{world.server.url}/"}, cookies=cookies
    )
    for client in (foreign, bare):
        answer = upload(client, communities_file, "forged")
        assert answer.status_code == 403, answer.text
        assert answer.json()["detail"][0]["type"] == "cross_site"
        shared = client.post(
            f"/api/projects/{world.ids['pid']}/members", json={"username": "sam", "role": "owner"}
        )
        assert shared.status_code == 403
    assert len(alice.get("/api/projects").json()["projects"]) == before
    assert foreign.get("/api/projects").status_code == 200  # reading is not a change
    made = referer.post(
        f"/api/projects/{world.ids['other_pid']}/scenarios", json={"name": "via referer"}
    )
    assert made.status_code == 201, made.text
    login = world.clients.new(origin=False, headers={"Origin": "http://evil.example"}).post(
        "/api/login", json={"username": "alice", "password": PASSWORDS["alice"]}
    )
    assert login.status_code == 403
    assert "set-cookie" not in login.headers


def test_session_cookie_flags(world: World) -> None:
    """HttpOnly, SameSite=Strict, Path=/, Max-Age; Secure when served over https."""
    client = world.clients.new()
    answer = client.post("/api/login", json={"username": "victor", "password": PASSWORDS["victor"]})
    cookie = answer.headers["set-cookie"]
    parts = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert "httponly" in parts
    assert parts["samesite"].lower() == "samesite=strict"
    assert parts["path"] == "Path=/"
    assert parts["max-age"] == f"Max-Age={int(settings.session_max_s)}"
    assert "secure" not in parts
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 43  # 256 bits in URL-safe base64
    https = world.clients.new(headers={"X-Forwarded-Proto": "https"}).post(
        "/api/login", json={"username": "victor", "password": PASSWORDS["victor"]}
    )
    assert "secure" in https.headers["set-cookie"].lower()
    logged_out = client.post("/api/logout")
    assert logged_out.status_code == 200
    again = world.clients.new(origin=False, cookies={"quarterhour_session": value})
    assert again.get("/api/projects").status_code == 401


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not at /usr/bin/chromium")
def test_login_page_in_the_browser(world: World) -> None:
    """A planner logs in on /login in Chromium: wrong password told, then back at / logged in."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from test_api_browser import CHROMIUM_ARGS

    outside: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.on(
            "request",
            lambda r: (
                None if r.url.startswith((world.server.url, "data:")) else outside.append(r.url)
            ),
        )
        # ?next= leads back to a path of this site only, never to another site
        shown = page.goto(f"{world.server.url}/login?next=%2F%09%2Fevil.example%2F")
        assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
        page.wait_for_selector("body[data-ready='1']")
        assert "登录" in page.title()
        assert "Log in" in page.title()
        page.fill("#username", "alice")
        page.fill("#password", "not the password at all")
        page.click("#submit")
        page.wait_for_selector("#message:not(:empty)")
        assert "用户名或密码错误" in page.text_content("#message")
        assert "/login?" in page.url
        page.fill("#password", PASSWORDS["alice"])
        page.click("#submit")
        page.wait_for_url(f"{world.server.url}/")
        cookies = {cookie["name"]: cookie for cookie in context.cookies()}
        session = cookies["quarterhour_session"]
        assert session["httpOnly"] is True
        assert session["sameSite"] == "Strict"
        assert session["path"] == "/"
        assert page.evaluate("document.cookie").find("quarterhour_session") == -1
        me = page.evaluate("fetch('/api/me').then(r => r.json())")
        assert (me["user"], me["via"]) == ("alice", "session")
        created = page.evaluate(
            "fetch('/api/projects/' + arguments_pid + '/scenarios', {method: 'POST',"
            " headers: {'Content-Type': 'application/json'},"
            " body: JSON.stringify({name: 'from the browser'})}).then(r => r.status)".replace(
                "arguments_pid", repr(world.ids["other_pid"])
            )
        )
        assert created == 201  # the browser's own Origin passes the same-origin check
        browser.close()
    assert outside == []


def _scenario_link_shows_one_scenario(world: World, alice, pid: str) -> None:
    """A link to one scenario: a visitor, and a logged-in non-member, see that one only."""
    scenario_link = alice.post(f"/api/projects/{pid}/links", json={"scenario": world.ids["sid2"]})
    world.change("alice", "link", scenario_link)
    visitor = world.clients.new()
    visitor.get(scenario_link.json()["url"].removeprefix(world.server.url))
    assert visitor.get(f"/api/projects/{pid}/scenarios/{world.ids['sid2']}").status_code == 200
    assert visitor.get(f"/api/projects/{pid}/scenarios/{world.ids['sid']}").status_code == 404
    sid, sid2 = world.ids["sid"], world.ids["sid2"]
    assert visitor.get(f"/api/projects/{pid}/compare?a={sid2}&b={sid}").status_code == 404
    assert visitor.get(f"/api/projects/{pid}/scenarios/{sid}/files/summary.json").status_code == 404
    assert visitor.get(f"/api/projects/{pid}/compare?a={sid2}&b={sid2}").status_code == 200
    shown = [item["id"] for item in visitor.get(f"/api/projects/{pid}").json()["scenarios"]]
    listed = visitor.get(f"/api/projects/{pid}/scenarios").json()["scenarios"]
    assert shown == [sid2] == [item["id"] for item in listed]  # not the project's other ones
    everyone = [item["id"] for item in alice.get(f"/api/projects/{pid}").json()["scenarios"]]
    assert sid in everyone and sid2 in everyone
    # sam is logged in but no member: the link opens the same scenario, read-only, for him too
    sam = world.clients.logged_in("sam")
    assert sam.get(f"/api/projects/{pid}").status_code == 404
    sam.get(scenario_link.json()["url"].removeprefix(world.server.url))
    assert [item["id"] for item in sam.get(f"/api/projects/{pid}").json()["scenarios"]] == [sid2]
    assert pid in [item["id"] for item in sam.get("/api/projects").json()["projects"]]
    assert sam.get(f"/api/projects/{pid}/scenarios/{sid}").status_code == 404
    renamed = sam.patch(f"/api/projects/{pid}/scenarios/{sid2}", json={"name": "sam's"})
    assert renamed.status_code == 403 and "read-only link" in renamed.json()["detail"][0]["msg"]
    revoked = alice.delete(f"/api/projects/{pid}/links/{scenario_link.json()['id']}")
    assert world.change("alice", "unlink", revoked).status_code == 200
    for _ in range(4):
        assert visitor.get(f"/api/projects/{pid}/scenarios/{world.ids['sid2']}").status_code == 401
        assert sam.get(f"/api/projects/{pid}/scenarios/{sid2}").status_code == 404


def test_removed_user_and_revoked_link_lose_access_at_once(world: World) -> None:
    """No cache: the next request after ``users remove`` or a revoke is refused, in any worker."""
    pid = world.ids["pid"]
    alice = world.by["alice"]
    doomed = "victor"
    victor = world.clients.logged_in(doomed)
    assert victor.get(f"/api/projects/{pid}").status_code == 200
    token_run = users_cli(world.data, "token", "eve")
    token = token_run.stdout.strip()
    bearer = world.clients.new(origin=False, headers={"Authorization": f"Bearer {token}"})
    assert bearer.get(f"/api/projects/{pid}").status_code == 200
    made = bearer.post(f"/api/projects/{pid}/scenarios", json={"name": "by token"})
    assert world.change("eve", "create_scenario", made).status_code == 201
    token_id = users_cli(world.data, "token", "eve", "--list").stdout.split()[0]
    assert users_cli(world.data, "token", "eve", "--revoke", token_id).returncode == 0
    assert bearer.get(f"/api/projects/{pid}").status_code == 401

    removed = users_cli(world.data, "remove", doomed)
    assert removed.returncode == 0, removed.stderr
    for _ in range(4):  # both workers
        assert victor.get(f"/api/projects/{pid}").status_code == 401
    members = alice.get(f"/api/projects/{pid}/members").json()["members"]
    assert doomed not in {member["username"] for member in members}

    _scenario_link_shows_one_scenario(world, alice, pid)

    soon = time.time() + 2
    expiring = alice.post(
        f"/api/projects/{pid}/links",
        json={"expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(soon + 1))},
    )
    world.change("alice", "link", expiring)
    late = world.clients.new()
    assert late.get(expiring.json()["url"].removeprefix(world.server.url)).status_code == 303
    assert late.get(f"/api/projects/{pid}").status_code == 200
    time.sleep(max(0.0, soon + 1.5 - time.time()))
    assert late.get(f"/api/projects/{pid}").status_code == 401
    assert late.get(expiring.json()["url"].removeprefix(world.server.url)).status_code == 404


def test_change_record_lists_every_call(world: World) -> None:
    """Every change made through the API in these tests is in the project's record, by its actor."""
    pid = world.ids["pid"]
    record = world.by["alice"].get(f"/api/projects/{pid}/changes").json()["changes"]
    got = [(row["actor"], row["action"]) for row in record]
    assert Counter(got) == Counter(world.expected_changes), (got, world.expected_changes)
    assert all(row["at"].endswith("+00:00") for row in record)
    csv_text = world.by["eve"].get(f"/api/projects/{pid}/changes?format=csv").text
    table = pd.read_csv(pd.io.common.StringIO(csv_text.lstrip("\ufeff")))
    assert list(table["action"]) == [row["action"] for row in record]
    assert list(table["actor"]) == [row["actor"] for row in record]


NEW_PASSWORD = "Sam-renewed-91c4e7d2b8"  # noqa: S105 - a test account's


def test_new_password_ends_sessions(world: World) -> None:
    """``users passwd`` ends the user's sessions at once; the old password stops working."""
    sam = world.clients.logged_in("sam")
    assert sam.get("/api/projects").status_code == 200
    changed = users_cli(world.data, "passwd", "sam", password=NEW_PASSWORD)
    assert changed.returncode == 0, changed.stderr
    assert sam.get("/api/projects").status_code == 401
    fresh = world.clients.new()
    old = fresh.post("/api/login", json={"username": "sam", "password": PASSWORDS["sam"]})
    assert old.status_code == 401
    new = fresh.post("/api/login", json={"username": "SAM", "password": NEW_PASSWORD})
    assert new.status_code == 200
    assert new.json()["user"] == "sam"
    assert new.headers["cache-control"] == "no-store"


def test_passwords_are_never_stored_logged_or_answered(world: World) -> None:
    """Not in the server's log, the database's bytes (WAL too), or any answer of these tests."""
    log = world.server.stderr()
    stored = b"".join(path.read_bytes() for path in world.data.iterdir() if path.is_file())
    answers = b"\n".join(world.clients.answers)
    assert len(world.clients.answers) > 100
    assert (world.data / "workspace.sqlite3").stat().st_mode & 0o777 == 0o600
    for password in [*PASSWORDS.values(), NEW_PASSWORD]:
        assert password not in log
        assert password.encode() not in stored
        assert password.encode() not in answers
        assert password.encode("utf-16-le") not in stored


def test_config_names_the_caller(world: World) -> None:
    """``/api/config`` (public, for the page) says who is logged in and that a login is needed."""
    config = world.by["eve"].get("/api/config").json()
    assert (config["user"], config["via"], config["login_required"]) == ("eve", "session", True)
    anonymous = world.clients.new().get("/api/config").json()
    assert (anonymous["user"], anonymous["login_required"]) == (None, True)


def test_users_command_refuses_bad_input(world: World) -> None:
    """Short passwords, duplicate and unknown users: one error line, exit status 2."""
    short = users_cli(world.data, "add", "tom", password="too-short")  # noqa: S106
    assert short.returncode == 2
    assert short.stderr.strip().endswith("the password is shorter than 12 characters")
    assert "too-short" not in short.stderr + short.stdout
    duplicate = users_cli(world.data, "add", "alice", password="another long one")  # noqa: S106
    assert duplicate.returncode == 2
    assert users_cli(world.data, "remove", "nobody").returncode == 2
    no_terminal = users_cli(world.data, "add", "tom")
    assert no_terminal.returncode == 2
    assert "--password-stdin" in no_terminal.stderr
    listed = users_cli(world.data, "list").stdout
    assert [line.split("\t")[0] for line in listed.splitlines()] == ["alice", "eve", "sam"]


@pytest.fixture
def intranet(isolated_cache: Path, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """A server that also answers to an intranet name: a login is needed even with no account."""
    data = tmp_path / "intranet-data"
    options = ["--data-dir", str(data), "--workers", "2", "--allowed-host", "planning.intranet"]
    server = start_server(isolated_cache, options)
    try:
        yield server, data
    finally:
        stop_server(server)


def test_reachable_from_afar_needs_a_login_and_logins_are_throttled(
    intranet: tuple[Server, Path],
) -> None:
    """No open mode off loopback; failed logins wait per account, then per address, in every
    worker (the counters are in the database)."""
    server, data = intranet
    client = httpx.Client(base_url=server.url, headers={"Origin": server.url}, timeout=120)
    assert client.get("/api/projects").status_code == 401
    assert client.get("/api/me").json()["login_required"] is True
    assert client.get("/health").status_code == 200
    password = PASSWORDS["alice"]
    assert users_cli(data, "add", "alice", password=password).returncode == 0

    def login(username: str, secret: str) -> httpx.Response:
        return client.post("/api/login", json={"username": username, "password": secret})

    free = settings.login_free_failures
    assert [login("alice", "wrong password!").status_code for _ in range(free)] == [401] * free
    throttled = login("alice", password)  # even the right password waits now
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["detail"][0]["type"] == "throttled"
    time.sleep(float(throttled.headers["Retry-After"]))
    assert login("alice", password).status_code == 200
    # Per address: ten times the free failures, counting alice's five (a login of alice ends
    # her account's run, not her address's), whatever names are tried.
    tries = free * 10 - free
    statuses = [login(f"probe{k}", "wrong password!").status_code for k in range(tries + 1)]
    assert statuses[:tries] == [401] * tries
    assert statuses[-1] == 429
    assert login("alice", password).status_code == 429
    log = server.stderr()
    assert password not in log
    assert "wrong password!" not in log
    client.close()
