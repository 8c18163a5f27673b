"""The page in headless Chromium (DevTools protocol): three pods behind their nginx, as a
browser shows pod-a's page. Saves screenshots to build/screenshots/ (docs/design.md shows
copies of them from docs/)."""

import contextlib
import datetime
import json
import os
import re
import time

import pytest

import cdp
from harness import TOP, Stack, wait_for
from peers import make_peers, wait_cluster

NAMES = ["moscow-time-0", "moscow-time-1", "moscow-time-2"]
SHOTS = os.path.join(TOP, "build", "screenshots")

pytestmark = pytest.mark.skipif(cdp.missing() is not None, reason=cdp.missing() or "")


@pytest.fixture
def pods():
    """Three stacks as peers (per test: conftest stops every process a test leaves running)."""
    with contextlib.ExitStack() as es:
        stacks = [es.enter_context(Stack(counter=f"{n}\n")) for n in (1240, 876, 1530)]
        make_peers(stacks, NAMES)
        for s in stacks:
            wait_cluster(s, lambda a: sorted(a["pods"]) == NAMES and not a["partial"], "peers")
        yield stacks


@pytest.fixture
def chrome():
    with cdp.Chrome() as c:
        yield c


def moscow(text):
    """'2026-12-02 03:41:33 MSK' as a datetime in UTC+3."""
    shown = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S MSK")
    return shown.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=3)))


def luminance(css):
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


STATE = """JSON.stringify({
  time: document.getElementById("time").textContent,
  pod: document.getElementById("pod").textContent,
  visits: document.getElementById("visits").textContent,
  total: document.getElementById("total").textContent,
  rows: [...document.querySelectorAll("#pods li")].map(li => ({
    cls: li.className, text: li.innerText.replace(/\\s+/g, " "),
    bar: li.querySelector("rect.bar").getBoundingClientRect().width,
    track: li.querySelector("rect.track").getBoundingClientRect().width})),
  bg: getComputedStyle(document.body).backgroundColor,
  fg: getComputedStyle(document.body).color,
  barFill: getComputedStyle(document.querySelector("li.self rect.bar")).fill,
  timeFont: parseFloat(getComputedStyle(document.getElementById("time")).fontSize),
  scrollWidth: document.documentElement.scrollWidth, innerWidth: innerWidth,
  rightmost: Math.max(...[...document.querySelectorAll("main *")].map(
      e => e.getBoundingClientRect().right))})"""


def state(chrome):
    return json.loads(chrome.eval(STATE))


def screenshot(chrome, name):
    path = os.path.join(SHOTS, name)
    chrome.screenshot(path)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", path


def test_the_page_shows_pod_counts_total_and_shares(pods, chrome):
    a = pods[0]
    chrome.open(f"http://127.0.0.1:{a.port}/")
    s = state(chrome)
    assert s["pod"] == "moscow-time-0"
    assert s["visits"] == "1241"
    assert s["total"] == str(1241 + 876 + 1530)
    assert [r["cls"] for r in s["rows"]] == ["self", "fresh", "fresh"]
    assert [r["text"].split(" ")[0] for r in s["rows"]] == NAMES
    # Each bar's length is its pod's share of the total (within a pixel of the track).
    total = 1241 + 876 + 1530
    for row, n in zip(s["rows"], (1241, 876, 1530)):
        assert abs(row["bar"] - row["track"] * n / total) <= 1.5, row
        assert f"{n} · {round(100 * n / total)}%" in row["text"], row
    assert abs(moscow(s["time"]).timestamp() - time.time()) <= 3, s["time"]
    assert chrome.console == [], "console messages (CSP violations, errors)"
    screenshot(chrome, "page-light.png")


def test_the_clock_ticks_in_the_browser(pods, chrome):
    chrome.open(f"http://127.0.0.1:{pods[1].port}/")
    first = moscow(state(chrome)["time"])
    wait_for(lambda: (moscow(state(chrome)["time"]) - first).total_seconds() >= 2, timeout=5,
             what="the page's clock to advance 2 s")
    s = state(chrome)
    later = moscow(s["time"])
    assert 1 <= (later - first).total_seconds() <= 4, (first, later)
    assert abs(later.timestamp() - time.time()) <= 3, s["time"]
    assert chrome.eval('document.getElementById("time").getAttribute("datetime")') == \
        later.isoformat()
    assert chrome.console == []


def test_the_page_is_complete_without_script(pods, chrome):
    chrome.call("Emulation.setScriptExecutionDisabled", value=True)
    chrome.open(f"http://127.0.0.1:{pods[2].port}/")
    html = chrome.html()
    m = re.search(r'<time id="time" datetime="[^"]+">([^<]+)</time>', html)
    assert m, html
    assert abs(moscow(m.group(1)).timestamp() - time.time()) <= 3
    assert '<strong id="pod">moscow-time-2</strong>' in html
    assert re.search(r'<strong id="total">\d+</strong>', html)
    assert len(re.findall(r'<rect class="bar" width="\d+"', html)) == 3
    # Until the real time is 2 s past the one served: a ticking clock would have moved.
    wait_for(lambda: time.time() - moscow(m.group(1)).timestamp() >= 2, timeout=5,
             what="2 s to pass since the time served")
    assert chrome.html().count(m.group(1)) == 1, "without script the time stays as served"


def test_light_and_dark(pods, chrome):
    url = f"http://127.0.0.1:{pods[0].port}/"
    chrome.dark(False)
    chrome.open(url)
    light = state(chrome)
    chrome.dark(True)
    chrome.open(url)
    dark = state(chrome)
    assert luminance(light["bg"]) > 0.8 and luminance(light["fg"]) < 0.2, light
    assert luminance(dark["bg"]) < 0.1 and luminance(dark["fg"]) > 0.8, dark
    assert light["barFill"] != dark["barFill"]
    assert chrome.console == []
    screenshot(chrome, "page-dark.png")


def test_readable_on_a_phone(pods, chrome):
    chrome.phone()
    chrome.open(f"http://127.0.0.1:{pods[0].port}/")
    s = state(chrome)
    assert s["innerWidth"] == 390
    assert s["scrollWidth"] <= s["innerWidth"], "no sideways scrolling"
    assert s["rightmost"] <= s["innerWidth"], s
    assert s["timeFont"] >= 30, "the time stays large"
    assert all(r["track"] >= 100 for r in s["rows"]), s["rows"]
    assert chrome.console == []
    screenshot(chrome, "page-phone.png")


def test_control_a_wrong_script_hash_is_reported(chrome, tmp_path):
    """The console check sees a script the CSP refuses (the detector bites)."""
    with Stack() as s:
        conf = os.path.join(TOP, "nginx-conf", "nginx.conf")
        with open(conf) as f:
            text = f.read()
        bad = re.sub(r"script-src 'sha256-[^']+'", "script-src 'sha256-AAAA'", text)
        path = tmp_path / "nginx.conf"
        path.write_text(bad)
        s.nginx.stop()
        s.nginx_conf = str(path)
        s.start_nginx()
        chrome.open(f"http://127.0.0.1:{s.port}/")
        assert any("Content Security Policy" in str(m) for m in chrome.console), chrome.console
