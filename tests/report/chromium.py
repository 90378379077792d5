"""Headless Chromium (the system's package) driven over the DevTools protocol, for the HTML report's tests.

What a page did is recorded as it loads: console messages and uncaught exceptions (a CSP
violation is a console error), every network request, and every JavaScript dialog (alert,
confirm, prompt: what an injected script would open first). Dialogs are dismissed so a page
cannot hang the browser.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

BINARIES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find() -> str | None:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Page:
    """One tab: navigate, evaluate, screenshot; what it logged and requested is kept."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.console: list[dict[str, Any]] = []
        self.exceptions: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.dialogs: list[dict[str, Any]] = []
        self.events: list[str] = []

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        mine = self.next_id
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mine:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)
            if time.monotonic() > deadline:
                raise TimeoutError(method)

    def _event(self, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        if method is None:
            return
        p = msg.get("params", {})
        self.events.append(method)
        if method == "Runtime.consoleAPICalled":
            self.console.append({"level": p.get("type"), "text": " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))})
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            self.console.append({"level": e.get("level"), "text": e.get("text", ""), "source": e.get("source")})
        elif method == "Runtime.exceptionThrown":
            self.exceptions.append(p.get("exceptionDetails", {}))
        elif method == "Network.requestWillBeSent":
            self.requests.append(p.get("request", {}).get("url", ""))
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(p)
            self.ws.send(json.dumps({"id": 10**9 + len(self.dialogs), "method": "Page.handleJavaScriptDialog",
                                     "params": {"accept": False}}))

    def wait_for(self, event: str, timeout: float = 30.0) -> None:
        seen = len(self.events)
        deadline = time.monotonic() + timeout
        while event not in self.events[seen:]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(event)
            self.ws.settimeout(left)
            self._event(json.loads(self.ws.recv()))

    def open(self, path: Path, width: int = 1400, height: int = 1000) -> float:
        """Load ``path``; returns seconds from navigation to the load event."""
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        started = time.monotonic()
        self.events.clear()
        self.call("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        took = time.monotonic() - started
        self.settle()
        return took

    def settle(self, seconds: float = 0.3) -> None:
        """Read what the page reports for a moment (late console messages, dialogs)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.ws.settimeout(left)
            try:
                self._event(json.loads(self.ws.recv()))
            except Exception:  # the timeout: nothing more to read
                break

    def eval(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, dest: Path, full: bool = False, clip_height: int | None = None) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full or clip_height:
            w = self.eval("document.documentElement.scrollWidth")
            h = clip_height or self.eval("document.documentElement.scrollHeight")
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": w, "height": h, "scale": 1})
        data = self.call("Page.captureScreenshot", timeout=60, **params)["data"]
        dest.write_bytes(base64.b64decode(data))
        return dest

    def bad_console(self) -> list[dict[str, Any]]:
        """Console errors and warnings (a refused script or style is one), plus uncaught exceptions."""
        return [m for m in self.console if m.get("level") in ("error", "warning", "assert")] + self.exceptions

    def external_requests(self) -> list[str]:
        """Requests for anything but the page's own file."""
        return [u for u in self.requests if not u.startswith("file://")]


class Browser:
    def __init__(self, binary: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="pcaptls-chromium-")
        # No sandbox: the tests may run as root in a container; the pages are our own files.
        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = self._port()

    def _port(self) -> int:
        deadline = time.monotonic() + 30
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("chromium exited before it listened")
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                return int(m.group(1))
        raise RuntimeError("chromium did not say where it listens")

    def page(self) -> Page:
        import websocket

        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            target = json.load(r)
        return Page(websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30, suppress_origin=True))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def browser_or_skip() -> Browser:
    binary = os.environ.get("PCAPTLS_CHROMIUM") or find()
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    pytest.importorskip("websocket", reason="websocket-client drives Chromium (pip install websocket-client)")
    return Browser(binary)
