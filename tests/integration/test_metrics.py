"""GET /metrics through nginx's metrics server, checked with Debian's promtool and scraped by a
real Prometheus. (The public server answers 404 for it: test_edge_metrics.py.)"""

import contextlib
import re

from harness import Client, Stack, wait_for
from peers import PROMTOOL, Prometheus, configure, make_peers, promtool_check, wait_cluster

NAMES = ["pod-a", "pod-b", "pod-c"]


def sample(text, name, labels=""):
    """The value of one sample line `name{labels} value` of an exposition."""
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert m, f"no sample {name}{labels} in:\n{text}"
    return float(m.group(1))


def test_metrics_through_nginx_pass_promtool_and_are_never_a_visit():
    with Stack(counter="41\n") as s:
        assert s.get("/").status == 200
        metrics = Client(s.metrics_port)
        for _ in range(3):
            r = metrics.get("/metrics")
            assert r.status == 200, r
            assert r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
            assert r.header("cache-control") == "no-store"
        assert s.counter_value() == 42, "scrapes are not visits"
        status, complaints = promtool_check(r.body)
        assert (status, complaints) == (0, ""), f"promtool check metrics:\n{complaints}"
        text = r.text
        assert sample(text, "moscow_time_visits_total") == 42
        assert sample(text, "moscow_time_http_requests_total", '{route="/",code="200"}') == 1
        assert sample(text, "moscow_time_http_requests_total",
                      '{route="/metrics",code="200"}') == 2
        assert sample(text, "moscow_time_http_request_duration_seconds_count",
                      '{route="/"}') == 1
        assert sample(text, "moscow_time_http_request_duration_seconds_bucket",
                      '{route="/",le="+Inf"}') == 1
        for family in ("moscow_time_visits_file_write_errors_total",
                       "moscow_time_visits_file_fsync_errors_total",
                       "moscow_time_visits_file_last_fsync_timestamp_seconds",
                       "moscow_time_config_reloads_total", "moscow_time_build_info",
                       "process_start_time_seconds", "moscow_time_cluster_visits",
                       "moscow_time_cluster_pod_visits"):
            assert f"\n# TYPE {family} " in text, f"{family} missing"
        assert re.search(r'^moscow_time_build_info\{version="[0-9.]+",commit="[^"]+"\} 1$', text,
                         re.M), text
        head = metrics.request("HEAD", "/metrics")
        assert head.status == 200 and head.body == b""


def test_the_control_promtool_catches_a_bad_exposition():
    status, complaints = promtool_check(b"# TYPE x counter\nx 1\nx_total_seconds_bad{ 2\n")
    assert status != 0 and complaints, "promtool accepted a broken exposition"
    assert PROMTOOL is not None


def test_metrics_off_is_404_and_counts_nothing():
    with Stack() as s:
        configure(s, {("metrics", "enabled"): "false"})
        s.stop_responder()
        s.start_responder()
        r = Client(s.metrics_port).get("/metrics")
        assert (r.status, r.text) == (404, "not found\n")
        assert s.get("/").status == 200


def test_prometheus_scrapes_three_pods_and_sums_their_visits():
    with contextlib.ExitStack() as es:
        stacks = [es.enter_context(Stack(counter=f"{n}\n")) for n in (5, 7, 11)]
        make_peers(stacks, NAMES)
        for s, n in zip(stacks, (1, 2, 3)):
            for _ in range(n):
                assert s.get("/").status == 200
        counts = sum(s.counter_value() for s in stacks)
        assert counts == 29
        for s in stacks:
            wait_cluster(s, lambda a: a["visits"] == 29 and not a["partial"], "the totals")
        prom = es.enter_context(Prometheus([f"127.0.0.1:{s.metrics_port}" for s in stacks]))

        def settled(expr, want):
            return lambda: prom.scalar(expr) == want

        wait_for(settled("count(up == 1)", 3), timeout=30, what="three targets up")
        wait_for(settled("sum(moscow_time_visits_total)", counts), timeout=30,
                 what=f"sum(moscow_time_visits_total) == {counts}")
        # Every pod sees the two others up and the same total.
        wait_for(settled("sum(moscow_time_peer_up)", 6), timeout=30, what="6 peers up")
        wait_for(settled("min(moscow_time_cluster_visits)", counts), timeout=30,
                 what="every pod's cluster total")
        # Live: new visits reach the sum at the next scrapes.
        for _ in range(4):
            assert stacks[1].get("/").status == 200
        wait_for(settled("sum(moscow_time_visits_total)", counts + 4), timeout=30,
                 what="the sum after four more visits")
        assert prom.scalar('sum(moscow_time_http_requests_total{route="/",code="200"})') == 10
