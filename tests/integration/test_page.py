"""The page through nginx: pod, counts, total, share bars, the ticking script and its CSP hash.

What a browser makes of it (rendering, the clock ticking, dark mode, a phone)
is tests/browser/test_page.py.
"""

import base64
import contextlib
import hashlib
import re
import threading

import pytest

from harness import Stack
from peers import make_peers, wait_cluster

BROWSER = {"Accept": "text/html"}
NAMES = ["pod-a", "pod-b", "pod-c"]


def csp_hash(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_csp_allows_exactly_the_page_script_and_style():
    with Stack() as s:
        r = s.get("/", headers=BROWSER)
        csp = r.header("content-security-policy")
        scripts = re.findall(r"<script>(.*?)</script>", r.text, re.S)
        styles = re.findall(r"<style>(.*?)</style>", r.text, re.S)
        assert len(scripts) == 1 and len(styles) == 1, r.text
        assert f"script-src {csp_hash(scripts[0])}" in csp, \
            f"CSP {csp!r} lacks the script's hash {csp_hash(scripts[0])}: update nginx-conf/nginx.conf"
        assert f"style-src {csp_hash(styles[0])}" in csp
        assert "'unsafe-inline'" not in csp and "default-src 'none'" in csp
        # Nothing else is loaded: no src=, no href= to anything, no style attribute.
        assert not re.search(r"\s(src|href|style)=", r.text), r.text


def test_the_page_shows_the_pod_its_count_the_total_and_each_share():
    with contextlib.ExitStack() as es:
        a, b, c = (es.enter_context(Stack(counter=f"{n}\n")) for n in (29, 10, 60))
        make_peers([a, b, c], NAMES)
        for s in (a, b, c):
            wait_cluster(s, lambda x: sorted(x["pods"]) == NAMES and not x["partial"], "peers")
        page = a.get("/", headers=BROWSER).text  # pod-a's 30th visit: 30 + 10 + 60 = 100
        assert '<span id="visits">30</span>' in page
        assert '<strong id="pod">pod-a</strong>' in page
        assert '<strong id="total">100</strong>' in page
        assert 'id="partial"' not in page
        rows = re.findall(r'<li class="(\w+)"><span>([^<]+)</span><svg[^>]*>'
                          r'<rect class="track" width="1000" height="10"/>'
                          r'<rect class="bar" width="(\d+)" height="10"/></svg>'
                          r'<span class="n">(\d+) · (\d+)%</span></li>', page)
        assert rows == [("self", "pod-a", "300", "30", "30"), ("fresh", "pod-b", "100", "10", "10"),
                        ("fresh", "pod-c", "600", "60", "60")], page
        # The clock's format for the script: the configured one with the zone's name filled in.
        assert '<body data-clock-format="%Y-%m-%d %H:%M:%S MSK">' in page, page
        c.close()
        wait_cluster(a, lambda x: x["pods"]["pod-c"]["state"] == "stale", "pod-c stale")
        page = a.get("/", headers=BROWSER).text
        assert '<span id="partial">' in page
        assert re.search(r'<li class="stale"><span>pod-c</span>.*60 · 59% stale</span>', page), page


def test_a_format_the_script_cannot_keep_leaves_the_clock_still():
    with Stack(config={("clock", "format"): '"%A %H:%M"'}) as s:
        page = s.get("/", headers=BROWSER).text
        assert "<body>" in page and 'data-clock-format="' not in page, \
            "a day name would go wrong at midnight"
        assert re.search(r'<time id="time" datetime="[^"]+">\w+day \d\d:\d\d</time>', page), page


VISITS = re.compile(r'<span id="visits">(\d+)</span>')
OWN_ROW = re.compile(r'<li class="self"><span>pod-0</span>.*?<span class="n">(\d+) ')
TOTAL = re.compile(r'<strong id="total">(\d+)</strong>')


@pytest.mark.parametrize("sync", ["always", "interval", "never"])
def test_no_page_contradicts_itself_under_concurrent_visits(sync):
    """8 clients x 1,500 GET /: each page's own row and total show the visit's own number.

    Before the visit's number was handed down to the page, the row and the total
    came from a later read of the counter: 8,668 of 12,000 pages disagreed with
    sync=always ("Visits: 5" next to "pod-0 7").
    """
    clients, each = 8, 1500
    with Stack(config={("counter", "sync"): sync, ("cluster", "name"): "pod-0"}) as s:
        bad, seen, errors = [], [], []
        lock = threading.Lock()

        def client():
            conn = s.connection()
            try:
                for _ in range(each):
                    r = s.get("/", headers=BROWSER, conn=conn)
                    if r.status != 200:
                        raise AssertionError(f"GET / answered {r.status}: {r.text[:200]}")
                    visits, own, total = (int(p.search(r.text).group(1))
                                          for p in (VISITS, OWN_ROW, TOTAL))
                    with lock:
                        seen.append(visits)
                        if not visits == own == total:
                            bad.append((visits, own, total))
            except Exception as e:  # noqa: BLE001 - reported below, with the thread's own
                errors.append(e)
            finally:
                conn.close()

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert not bad, (f"{len(bad)} of {clients * each} pages disagree with themselves "
                         f"(visits, own row, total): {bad[:5]}")
        assert sorted(seen) == list(range(1, clients * each + 1)), "each visit its own number"
        assert s.counter_value() == clients * each
