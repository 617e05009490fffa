"""The listening report: its page lists every file with working media links, and in a real
headless browser it loads without console errors, its audio is playable and sorting puts the
worst file first."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from vocfw.core.atomic import write_wav
from vocfw.core.demo_audio import speechlike
from vocfw.core.evaluate.report_html import ReportRow, write_mel_images, write_report

RATE = 16000
COLUMNS = ("pesq", "mcd")
BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0")


def build_report(folder: Path) -> tuple[Path, list[ReportRow]]:
    """Three scored files (one without a pesq value) under awkward names; the page's path."""
    rows = []
    for i, (name, pesq, mcd) in enumerate([("spk 1/a&b <1>.wav", 3.1, 4.0),
                                           ("spk2/c.wav", math.nan, 9.5),
                                           ("d#e.wav", 1.7, 6.2)]):
        reference = speechlike(0.6, RATE, seed=i)
        generated = reference + 0.02 * np.random.default_rng(i).standard_normal(reference.size)
        stem = folder / "files" / name
        paths = [stem.with_name(f"{stem.name}.{kind}") for kind in
                 ("ref.wav", "gen.wav", "ref.png", "gen.png")]
        write_wav(paths[0], reference, RATE)
        write_wav(paths[1], generated, RATE)
        write_mel_images(reference, generated, RATE, paths[2], paths[3])
        rows.append(ReportRow(name, {"pesq": pesq, "mcd": mcd}, *paths,
                              notes="pesq: no speech" if math.isnan(pesq) else ""))
    url = write_report(folder / "report.html", "test <report>", rows, COLUMNS, {"pesq"})
    assert url == (folder / "report.html").absolute().as_uri()
    return folder / "report.html", rows


def test_page_lists_every_file_with_escaped_names_and_means(tmp_path: Path) -> None:
    page, rows = build_report(tmp_path)
    text = page.read_text()
    assert text.count("<audio ") == 2 * len(rows) and text.count("<img ") == 2 * len(rows)
    assert "a&amp;b &lt;1&gt;.wav" in text and "<title>test &lt;report&gt;</title>" in text
    assert "src='files/spk%201/a%26b%20%3C1%3E.wav.ref.wav'" in text
    assert "src='files/d%23e.wav.gen.png'" in text
    assert "<td class='num'>2.400</td>" in text  # mean pesq over the two files with a value
    assert "http://" not in text and "https://" not in text  # nothing fetched from a network


CHECK_PAGE = """(async () => {
  const audios = Array.from(document.querySelectorAll('audio'));
  await Promise.all(audios.map(a => a.readyState > 0 ? null : new Promise(done => {
    a.addEventListener('loadedmetadata', done); a.addEventListener('error', done);
    setTimeout(done, 20000);
  })));
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  const names = () => Array.from(document.querySelectorAll('#files tbody tr td.name'))
    .map(td => td.firstChild.textContent);
  const headers = Array.from(document.querySelectorAll('#files thead th'));
  const click = label => headers.find(th => th.textContent.startsWith(label)).click();
  click('mcd'); const byMcd = names(); click('mcd'); const byMcdAgain = names();
  click('pesq'); const byPesq = names();
  return JSON.stringify({
    rows: document.querySelectorAll('#files tbody tr').length,
    audio: audios.map(a => ({ready: a.readyState, duration: a.duration, error: a.error,
                             wav: a.canPlayType('audio/wav')})),
    images: images.map(img => img.naturalWidth),
    byMcd, byMcdAgain, byPesq});
})()"""


class DevTools:
    """A headless chromium driven through the Chrome DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen([BROWSER, *FLAGS, f"--user-data-dir={profile}",
                                         "about:blank"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert self.process.poll() is None and time.monotonic() < deadline, "no DevTools"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as answer:
            target = next(t for t in json.load(answer) if t["type"] == "page")
        import websocket

        self.socket = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=60,
                                                  suppress_origin=True)
        self.next_id, self.events = 0, []

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str) -> None:
        while not any(event.get("method") == method for event in self.events):
            self.events.append(json.loads(self.socket.recv()))

    def errors(self) -> list[dict]:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        return [e for e in self.events if e.get("method") == "Runtime.exceptionThrown"
                or (e.get("method") == "Runtime.consoleAPICalled"
                    and e["params"]["type"] in ("error", "assert"))
                or (e.get("method") == "Log.entryAdded"
                    and e["params"]["entry"]["level"] == "error")]

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason="no chromium on this machine (CI installs Debian's "
                    "chromium: apt-get install chromium)")
def test_page_works_in_a_headless_browser(tmp_path: Path) -> None:
    page, rows = build_report(tmp_path / "report")
    browser = DevTools(tmp_path / "profile")
    try:
        for domain in ("Runtime", "Log", "Page"):
            browser.call(f"{domain}.enable")
        browser.call("Page.navigate", url=page.as_uri())
        browser.wait_for("Page.loadEventFired")
        result = browser.call("Runtime.evaluate", expression=CHECK_PAGE, awaitPromise=True,
                              returnByValue=True)
        state = json.loads(result["result"]["value"])
        errors = browser.errors()
    finally:
        browser.close()
    assert errors == []
    assert state["rows"] == len(rows)
    assert len(state["audio"]) == 2 * len(rows)
    for audio in state["audio"]:
        assert audio["error"] is None and audio["wav"] in ("maybe", "probably"), audio
        assert audio["ready"] > 0 and audio["duration"] == pytest.approx(0.6, abs=0.01), audio
    assert len(state["images"]) == 2 * len(rows) and all(width > 0 for width in state["images"])
    by_mcd = [row.name for row in sorted(rows, key=lambda row: -row.metrics["mcd"])]
    assert state["byMcd"] == by_mcd and state["byMcdAgain"] == by_mcd[::-1]
    assert state["byPesq"] == ["d#e.wav", "spk 1/a&b <1>.wav", "spk2/c.wav"]  # no value: last
