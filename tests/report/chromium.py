"""A real headless Chromium (Debian's ``chromium``), driven over the DevTools protocol on a pipe.

``--remote-debugging-pipe`` makes the browser read protocol commands from fd 3 and write answers
and events to fd 4, each a JSON message ended by a NUL byte: no port, no websocket, no driver.
A visit records what a person's browser would show and complain about: console messages and
uncaught exceptions, the browser's own log (a blocked or failed load lands there), every
request the page made, and a full-page screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the flags the machine notes ask for (no sandbox as root, no GPU, nothing phoned home)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe")


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Visit:
    url: str
    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    sections: list[dict[str, Any]] = field(default_factory=list)
    screenshot: bytes = b""

    @property
    def errors(self) -> list[str]:
        """Everything a developer console would show in red."""
        out = [f"console.{m['type']}: {m.get('args')}" for m in self.console
               if m["type"] in ("error", "assert")]
        out += [f"exception: {e.get('exceptionDetails', {}).get('text')}" for e in self.exceptions]
        out += [f"log {e['entry']['level']}: {e['entry'].get('text')}" for e in self.log
                if e["entry"]["level"] == "error"]
        return out


class Chromium:
    """One browser process; :meth:`visit` opens a page in it and reports what happened."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900):
        self.width, self.height = width, height
        self.profile = tempfile.TemporaryDirectory(prefix="redheart-chromium-")
        cmd_read, self._cmd_write = os.pipe()
        self._out_read, out_write = os.pipe()

        def wire_fds() -> None:  # in the child: its fd 3 reads our commands, fd 4 answers
            a, b = os.dup(cmd_read), os.dup(out_write)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile.name}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            close_fds=False, preexec_fn=wire_fds)
        os.close(cmd_read)
        os.close(out_write)
        self._next_id = 0
        self._answers: dict[int, queue.Queue] = {}
        self.events: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._out_read, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    if "id" in message and message["id"] in self._answers:
                        self._answers[message["id"]].put(message)
                    else:
                        self.events.put(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 60) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            mid = self._next_id
            self._answers[mid] = queue.Queue()
        message: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_write, json.dumps(message).encode() + b"\0")
        answer = self._answers[mid].get(timeout=timeout)
        del self._answers[mid]
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def visit(self, path: Path, timeout: float = 60) -> Visit:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        url = path.resolve().as_uri()
        visit = Visit(url)
        self.send("Page.navigate", {"url": url}, session=session)
        self._collect(visit, session, until="Page.loadEventFired", timeout=timeout)
        self._collect(visit, session, until=None, timeout=0.5)  # late console messages
        sections = self.send("Runtime.evaluate", {"returnByValue": True, "expression": """
            JSON.stringify([...document.querySelectorAll('section[data-section]')].map(s => ({
              id: s.id, height: s.getBoundingClientRect().height,
              charts: s.querySelectorAll('svg').length, text: s.innerText.slice(0, 400)})))"""},
                             session=session)
        visit.sections = json.loads(sections["result"]["value"])
        shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                         session=session)
        visit.screenshot = base64.b64decode(shot["data"])
        self.send("Target.closeTarget", {"targetId": target})
        return visit

    def _collect(self, visit: Visit, session: str, until: str | None, timeout: float) -> None:
        import time

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if until is None:
                    return
                raise TimeoutError(f"no {until} within {timeout} s")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                visit.console.append({"type": params["type"],
                                      "args": [a.get("value", a.get("description")) for a in params["args"]]})
            elif method == "Runtime.exceptionThrown":
                visit.exceptions.append(params)
            elif method == "Log.entryAdded":
                visit.log.append(params)
            elif method == "Network.requestWillBeSent":
                visit.requests.append(params["request"]["url"])
            if method == until:
                return

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_write)
        self.profile.cleanup()

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
