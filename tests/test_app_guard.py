"""The app admits only its own host and origin, and checks every control's value on the server.

A page on another site must not drive the app through the founder's browser (a forged Origin on the
websocket) nor reach it under another name (DNS rebinding: a forged Host); a value sent over the
websocket that the controls do not offer (100,000 runs per policy, a seed that is text) is refused.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from app_server import free_port, running_app

solara = pytest.importorskip("solara", reason="the app's extras are not installed")
ipyvuetify = pytest.importorskip("ipyvuetify")

from sim.interfaces import app as web  # noqa: E402
from sim.interfaces.app_server import HostOriginGuard, allowed_hosts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGE = "127.0.0.1:8765"


# --------------------------------------------------------------------------- the guard, in process


def through_guard(kind: str, host: str = PAGE, origin: str | None = None, method: str = "GET") -> list[dict]:
    """What the guard sends back for one request (the wrapped app answers 200 or accepts)."""
    async def page(scope, receive, send):
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})
        else:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"hello"})

    async def receive():
        return {"type": "websocket.connect"} if kind == "websocket" else {"type": "http.request", "body": b""}

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin is not None else [])
    scope = {"type": kind, "method": method, "path": "/", "headers": headers}
    asyncio.run(HostOriginGuard(page, allowed_hosts("127.0.0.1", 8765))(scope, receive, send))
    return sent


def test_allowed_hosts_of_a_loopback_address_are_the_loopback_names_on_its_port():
    assert allowed_hosts("127.0.0.1", 8765) == {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"}
    assert "example.org:8765" not in allowed_hosts("0.0.0.0", 8765)
    assert f"{socket.gethostname().lower()}:8765" in allowed_hosts("0.0.0.0", 8765)
    assert "club.example:8765" in allowed_hosts("127.0.0.1", 8765, ["club.example"])


def test_the_page_answers_its_own_host_and_refuses_another():
    assert through_guard("http")[0]["status"] == 200
    assert through_guard("http", host="localhost:8765")[0]["status"] == 200
    refused = through_guard("http", host="rebound.example:8765")
    assert refused[0]["status"] == 403 and b"rebound.example" in refused[1]["body"]
    assert through_guard("http", host="127.0.0.1:9999")[0]["status"] == 403


def test_a_websocket_from_another_origin_is_refused_and_from_the_page_accepted():
    assert through_guard("websocket", origin=f"http://{PAGE}") == [{"type": "websocket.accept"}]
    for forged in ("https://evil.example", "http://127.0.0.1:9999", "null", "file://"):
        (answer,) = through_guard("websocket", origin=forged)
        assert answer["type"] == "websocket.close" and answer["code"] == 1008, forged
    (answer,) = through_guard("websocket", host="rebound.example:8765", origin="http://rebound.example:8765")
    assert answer["type"] == "websocket.close"


def test_a_form_posted_from_another_origin_is_refused():
    assert through_guard("http", origin="https://evil.example", method="POST")[0]["status"] == 403


# --------------------------------------------------------------------------- the real server


@pytest.fixture(scope="module")
def app_port(tmp_path_factory):
    """`clubsim app` on a free loopback port, stopped (its process group) after the module."""
    log_path = tmp_path_factory.mktemp("app-guard") / "server.log"
    with running_app(log_path) as port:
        yield port, log_path


def _status(port: int, request: str) -> int:
    """The status code the server answers a raw HTTP/1.1 request with."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(request.encode("latin-1"))
        return int(conn.recv(4096).split(b"\r\n", 1)[0].split()[1])


def _handshake(port: int, origin: str) -> str:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /jupyter/api/kernels/forged-{os.getpid()}/channels?session_id=x HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n")


def test_the_running_app_refuses_a_forged_host_and_a_forged_websocket_origin(app_port):
    app_port, log_path = app_port
    page = "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n"
    assert _status(app_port, page.format(f"127.0.0.1:{app_port}")) == 200
    assert _status(app_port, page.format(f"rebound.example:{app_port}")) == 403
    assert _status(app_port, _handshake(app_port, "https://evil.example")) == 403
    assert _status(app_port, _handshake(app_port, f"http://127.0.0.1:{app_port}")) == 101


# --------------------------------------------------------------------------- controls checked on the server


@pytest.fixture
def fresh_page_state():
    start = web.Settings.of(web.starting_config(web.available_scenarios()[web.start_name.value]))
    web.settings_state.value, web.compare_runs.value, web.refused_control.value = start, 50, None
    yield start
    web.settings_state.value, web.compare_runs.value, web.refused_control.value = start, 50, None


@pytest.mark.parametrize("change", [{"seed": "abc"}, {"seed": -1}, {"seed": 1.5}, {"seed": True},
                                    {"annual_fee": "1200"}, {"composition": "anything"}, {"accuracy": 7.0},
                                    {"hunter_share": float("nan")}, {"years": 0}, {"attendance_rule": "yes"}])
def test_a_control_value_the_page_does_not_offer_is_refused_and_the_settings_kept(fresh_page_state, change):
    web._update(**change)
    assert web.settings_state.value == fresh_page_state
    assert web.refused_control.value and web.CONTROL_LABELS[next(iter(change))] in web.refused_control.value
    assert web._resolve()[2] is not None  # Run and Compare stay disabled until a value is allowed
    web._update(seed=7)
    assert web.settings_state.value.seed == 7 and web.refused_control.value is None


def test_runs_per_policy_sent_over_the_websocket_must_be_one_the_panel_offers(fresh_page_state):
    path, overrides, _ = web._resolve()
    _, rc = solara.render(web.ComparePanel(path, overrides, None), handle_error=False)
    runs = rc.find(ipyvuetify.Select, label="Runs per policy").widget
    runs.v_model = 100_000  # what a forged websocket message does to the widget
    assert web.compare_runs.value == 50 and "100000" in web.refused_control.value
    runs.v_model = 200
    assert web.compare_runs.value == 200
    rc.close()


def test_a_click_on_a_disabled_button_starts_nothing_when_the_settings_are_refused(fresh_page_state, monkeypatch):
    started = []

    class Task:
        pending = False

        def __call__(self, *args):
            started.append(args)

    monkeypatch.setattr(web, "comparison_task", Task())
    monkeypatch.setattr(web, "live_run", Task())
    web._update(annual_fee=-5)  # the schema refuses it: Run is disabled on the page
    web.start_run()
    web.start_comparison()
    assert started == []
    web._update(annual_fee=1200)
    web.start_run()
    web.start_comparison()
    assert len(started) == 2  # the same calls start both once the settings are allowed


@pytest.mark.parametrize("name", ["evil.example:80", "a,b", "", "x y", "http://club.example"])
def test_a_malformed_allowed_host_is_refused_in_one_line(name):
    done = subprocess.run([sys.executable, "-m", "sim", "app", "--no-open", "--port", str(free_port()),
                           "--allow-host", name], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "--allow-host" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_first_load_prints_no_cookie_warning(app_port):
    port, log_path = app_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as response:
        assert response.status == 200 and b"<title>clubsim: what your club" in response.read()
    time.sleep(0.5)
    assert "samesite" not in log_path.read_text().lower(), log_path.read_text()


def test_a_region_given_to_the_page_is_refused_in_one_line_before_the_server_starts():
    # the page simulates one club: a region given first made the server's start-up fail with a traceback
    region = ROOT / "scenarios" / "region_calvados.yaml"
    done = subprocess.run([sys.executable, "-m", "sim", "app", str(region), "--no-open", "--port", str(free_port())],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip() == (f"clubsim: error: {region}: region: a region of 12 clubs: the page simulates one "
                                   "club (run a region with clubsim run)")
    assert "clubsim app: http" not in done.stdout  # refused before the server was announced


@pytest.mark.parametrize("host", ["", " "])
def test_an_empty_host_is_refused_not_taken_for_every_interface(host):
    # `--host "$HOST"` with HOST unset listened on 0.0.0.0 and :: and printed http://:8765/
    done = subprocess.run([sys.executable, "-m", "sim", "app", "--host", host, "--no-open", "--port", str(free_port())],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith(f"clubsim: error: --host: {host!r}: empty: give the address to listen on")
    assert len(done.stderr.splitlines()) == 1 and "clubsim app: http" not in done.stdout
