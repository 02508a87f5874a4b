"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven through chromedriver's W3C WebDriver HTTP
API with the standard library: no browser-automation package, no browser download. Chromium resolves no name but
loopback and runs none of its background services, so a test's browser sends nothing off this machine."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from operatorkit.testing import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
KEYS = {"tab": "\ue004", "enter": "\ue007", "shift": "\ue008"}
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # tests run as root in CI's container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def available() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Browser:
    """One WebDriver session."""

    def __init__(self, endpoint: str, session: str) -> None:
        self.endpoint = endpoint
        self.session = session

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return call(self.endpoint, method, f"/session/{self.session}{path}", body)

    def go(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return str(self.call("GET", "/url"))

    @property
    def title(self) -> str:
        return str(self.call("GET", "/title"))

    def back(self) -> None:
        self.call("POST", "/back", {})

    def script(self, source: str, *args: Any) -> Any:
        return self.call("POST", "/execute/sync", {"script": source, "args": list(args)})

    def text(self) -> str:
        return str(self.script("return document.body.innerText"))

    def find(self, css: str) -> str:
        found = self.call("POST", "/element", {"using": "css selector", "value": css})
        return str(found[ELEMENT])

    def click(self, css: str) -> None:
        self.call("POST", f"/element/{self.find(css)}/click", {})

    def fill(self, css: str, text: str) -> None:
        """Clear a field and type ``text`` into it, as a person would."""
        element = self.find(css)
        self.call("POST", f"/element/{element}/clear", {})
        self.call("POST", f"/element/{element}/value", {"text": text})

    def keys(self, *names: str) -> None:
        """Press and release each key in turn, as a person at the keyboard."""
        actions = []
        for name in names:
            actions += [{"type": "keyDown", "value": KEYS[name]}, {"type": "keyUp", "value": KEYS[name]}]
        self.call("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    def focused(self) -> str:
        """The focused element's href (or tag)."""
        return str(self.script("const e = document.activeElement; return e.getAttribute('href') || e.tagName"))

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("GET", "/screenshot")))
        return path


def call(endpoint: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(endpoint + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())["value"]
    except urllib.error.HTTPError as error:  # WebDriver's own error: what it could not do, and why
        raise RuntimeError(f"WebDriver {method} {path}: {error.code} {error.read().decode()[:2000]}") from error


@contextlib.contextmanager
def chromium(tmp: Path) -> Iterator[Browser]:
    """A chromedriver on a free loopback port and a headless Chromium session with its own profile under ``tmp``."""
    port = free_port()
    driver = subprocess.Popen(
        [shutil.which("chromedriver") or "chromedriver", f"--port={port}", "--allowed-ips=127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "chromedriver.log").open("w"),
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return bool(call(endpoint, "GET", "/status")["ready"])
            except OSError:
                return False

        wait_until(ready, timeout=30, message="chromedriver answers")
        options = {"binary": shutil.which("chromium"), "args": [*CHROMIUM_ARGS, f"--user-data-dir={tmp / 'profile'}"]}
        session = call(
            endpoint,
            "POST",
            "/session",
            {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}},
        )
        browser = Browser(endpoint, session["sessionId"])
        try:
            yield browser
        finally:
            call(endpoint, "DELETE", f"/session/{browser.session}")
    finally:
        driver.terminate()
        driver.wait(timeout=30)
