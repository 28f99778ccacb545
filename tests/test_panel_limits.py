"""Bounded time and memory: a hostile panel cannot hold a run or fill the memory."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time
import tracemalloc

import pytest

from smmsheet.errors import (
    AmbiguousRequestError,
    PanelError,
    PanelUnavailableError,
    RateLimitedError,
)
from smmsheet.panel import PanelClient

from .scripted import ScriptedPanel, json_reply

KEY = "limits-key-5e1"
MB = 1024 * 1024


@pytest.fixture
def panel():
    with ScriptedPanel() as server:
        yield server


def client(server, **kw):
    waits: list[float] = []
    kw.setdefault("backoff", 0.001)
    c = PanelClient(server.url, KEY, sleep=waits.append, **kw)
    c.waits = waits  # type: ignore[attr-defined]
    return c


STATUS = '{"charge":"0.27819","start_count":"3572","status":"Partial","remains":"157"}'


# ------------------------------------------------------------------------------ bounded time


def test_a_reply_trickling_one_byte_a_second_ends_at_the_deadline(panel):
    panel.script = lambda form: json_reply(STATUS)
    panel.trickle = 1.0  # ~75 s for the whole body; a read timeout never fires
    started = time.monotonic()
    with pytest.raises(PanelUnavailableError, match="within the 2 s deadline"):
        client(panel, deadline=2).status(5)
    assert time.monotonic() - started < 10
    assert len(panel.forms) == 1, "a reply too slow once is not asked for again"


def test_trickled_headers_end_at_the_deadline_too(panel):
    panel.script = lambda form: json_reply(STATUS)
    panel.trickle, panel.trickle_headers = 1.0, True
    started = time.monotonic()
    with pytest.raises(PanelUnavailableError, match="deadline"):
        client(panel, deadline=2).balance()
    assert time.monotonic() - started < 10


def test_an_add_answered_past_its_deadline_may_have_been_placed(panel):
    panel.script = lambda form: json_reply('{"order": 23501}')
    panel.trickle = 1.0
    started = time.monotonic()
    with pytest.raises(AmbiguousRequestError, match="may have been placed") as info:
        client(panel, deadline=2).add(1, link="https://x", quantity=100)
    assert "deadline" in str(info.value) and time.monotonic() - started < 10
    assert len(panel.forms) == 1


@pytest.mark.parametrize("headers_too", [False, True])
def test_an_add_trickled_by_a_proxy_ends_at_the_deadline(panel, monkeypatch, headers_too):
    """Through HTTP_PROXY a reply trickling one byte at a time held an add for as long as
    the proxy liked (a 2 s deadline took 45 s; trickled headers, for ever): the deadline
    watched direct connections only."""
    panel.script = lambda form: json_reply('{"order": 23501, "note": "%s"}' % ("x" * 100))
    panel.trickle, panel.trickle_headers = 0.3, headers_too  # the proxy itself trickles
    monkeypatch.setenv("HTTP_PROXY", panel.url)
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    started = time.monotonic()
    with (
        PanelClient("http://panel.test/api/v2", KEY, deadline=2, backoff=0.001) as c,
        pytest.raises(AmbiguousRequestError, match="deadline"),
    ):
        c.add(1, link="https://x", quantity=100)
    assert time.monotonic() - started < 10
    assert len(panel.forms) == 1


def test_the_connection_cut_by_a_deadline_is_not_lent_to_the_next_request(panel):
    replies = iter([STATUS, STATUS])
    panel.script = lambda form: json_reply(next(replies))
    panel.trickle = 0.5
    c = client(panel, deadline=1)
    with pytest.raises(PanelUnavailableError, match="deadline"):
        c.status(1)
    panel.trickle = 0
    assert c.status(2).status == "Partial"


def test_a_retry_after_longer_than_the_cap_stops_instead_of_sleeping(panel):
    panel.script = lambda form: json_reply('{"error":"Too many"}', 429, **{"Retry-After": "3600"})
    c = client(panel)
    with pytest.raises(RateLimitedError, match="wait 3,600 s") as info:
        c.balance()
    assert info.value.stops_run and c.waits == [] and len(panel.forms) == 1
    assert "run again later" in str(info.value)


def test_a_long_retry_after_stops_a_multi_status_run_not_just_a_chunk(panel):
    panel.script = lambda form: json_reply("{}", 429, **{"Retry-After": "86400"})
    with pytest.raises(RateLimitedError, match="stopped"):
        client(panel).status_many([str(i) for i in range(1, 251)])


def test_a_retry_after_given_as_an_http_date_is_honoured(panel):
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    replies = iter(
        [
            json_reply("{}", 429, **{"Retry-After": email.utils.format_datetime(when, True)}),
            json_reply('{"balance":"5","currency":"EUR"}'),
        ]
    )
    panel.script = lambda form: next(replies)
    c = client(panel)
    assert c.balance().amount == 5
    assert len(c.waits) == 1 and 20 < c.waits[0] <= 30


# ---------------------------------------------------------------------------- bounded memory


def endless(chunk: bytes, total: int):
    """A body of ``total`` bytes streamed in ``chunk``s, never held in memory at once."""
    for _ in range(total // len(chunk)):
        yield chunk


def test_an_oversized_status_reply_fails_its_chunk_with_a_clear_message(panel):
    body = endless(b" " * MB, 64 * MB)
    panel.script = lambda form: (200, {"Content-Type": "application/json"}, body)
    tracemalloc.start()
    try:
        result = client(panel, retries=0).status_many(["1", "2"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["1"].error and "reply larger than 1 MB" in result["1"].error
    assert peak < 16 * MB, f"reading a 64 MB reply took {peak / MB:.0f} MB"


def test_an_oversized_services_list_is_refused_without_retrying(panel):
    panel.script = lambda form: (200, {}, endless(b"[" + b" " * (MB - 1), 40 * MB))
    with pytest.raises(PanelUnavailableError, match="reply larger than 32 MB"):
        client(panel).services()
    assert len(panel.forms) == 1


def test_a_services_list_of_a_few_megabytes_is_read(panel):
    item = {"service": 1, "name": "x" * 200, "type": "Default", "rate": "1", "min": 1, "max": 9}
    items = [{**item, "service": i} for i in range(1, 20001)]  # ~5 MB
    panel.script = lambda form: json_reply(json.dumps(items))
    assert len(client(panel).services()) == 20000


def test_an_oversized_add_reply_may_have_been_placed(panel):
    panel.script = lambda form: json_reply('{"order": 1, "pad": "' + "x" * (2 * MB) + '"}')
    with pytest.raises(AmbiguousRequestError, match="larger than 1 MB.*may have been placed"):
        client(panel).add(1, link="https://x", quantity=100)
    assert len(panel.forms) == 1


@pytest.mark.parametrize("action", ["refill", "cancel"])
def test_an_oversized_refill_or_cancel_reply_may_have_been_done(panel, action):
    panel.script = lambda form: (200, {}, endless(b" " * MB, 8 * MB))
    c = client(panel)
    result = c.refill_many(["5"]) if action == "refill" else c.cancel(["5"])
    assert result["5"].uncertain and "larger than 1 MB" in (result["5"].error or "")


# ------------------------------------------------------------------- numbers beyond reason

HUGE = "9" * 5000  # Python refuses int() of more than 4,300 digits


def test_huge_numbers_in_a_status_reply_are_unreadable_not_a_crash(panel):
    def script(form):
        ids = form["orders"].split(",")
        return json_reply(
            "{"
            + f'"{ids[0]}": {{"status": "Pending", "remains": {HUGE}, "start_count": "{HUGE}",'
            + f' "charge": "{HUGE}"}}, "{HUGE}": {{"status": "Completed"}}'
            + "}"
        )

    panel.script = script
    result = client(panel).status_many(["7", "8"])
    # A number no count can be is the row's error (issue 8 item 6), never a crash.
    assert "the panel sent a" in (result["7"].error or "")
    assert (result["7"].remains, result["7"].start_count, result["7"].charge) == (None,) * 3
    assert result["8"].error and "missing" in result["8"].error


def test_huge_numbers_in_the_service_list_never_raise(panel):
    panel.script = lambda form: json_reply(
        f'[{{"service": 1, "rate": "{HUGE}", "min": "{HUGE}", "max": {HUGE}}},'
        f' {{"service": "{HUGE}", "rate": "1"}}, {{"service": 2, "rate": "0.5"}}]'
    )
    services = client(panel).services()
    assert [s.id for s in services] == [1, 2]
    assert services[0].min == 0 and services[0].max == 0


@pytest.mark.parametrize(
    "reply", [f'{{"order": {HUGE}}}', f'{{"order": "{HUGE}"}}', f'{{"order": {HUGE}.5}}']
)
def test_a_huge_order_id_may_have_been_placed(panel, reply):
    panel.script = lambda form: json_reply(reply)
    with pytest.raises(AmbiguousRequestError, match="may have been placed"):
        client(panel).add(1, link="https://x", quantity=100)


def test_a_huge_balance_is_an_unexpected_reply_not_a_crash(panel):
    panel.script = lambda form: json_reply(f'{{"balance": {HUGE}, "currency": "USD"}}')
    with pytest.raises(PanelUnavailableError, match="unexpected reply"):
        client(panel, retries=0).balance()


# ------------------------------------------------------------------------- through the CLI

SERVICES = '[{"service":1,"name":"F","type":"Default","rate":"1","min":"1","max":"999"}]'


def careful_panel(add_reply):
    def script(form):
        if form["action"] == "services":
            return json_reply(SERVICES)
        if form["action"] == "balance":
            return json_reply('{"balance":"50","currency":"USD"}')
        return add_reply(form)

    return script


def profile(tmp_path, url: str, extra: str = "") -> dict[str, str]:
    path = tmp_path / "config.toml"
    path.write_text(
        f'default_profile = "p"\n[profiles.p]\nurl = "{url}"\napi_key = "{KEY}"\n{extra}'
    )
    return {"SMMSHEET_CONFIG": str(path)}


def test_a_profile_deadline_marks_a_trickled_add_may_have_been_placed(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from smmsheet.cli import cli

    from .conftest import make_orders_book, read_orders

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 10)])

    def slow_add(form):
        panel.trickle = 1.0 if form["action"] == "add" else 0.0  # only the add trickles
        return json_reply('{"order": 23501}')

    with ScriptedPanel(careful_panel(slow_add)) as panel:
        for name, value in profile(tmp_path, panel.url, "deadline = 2\n").items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("SMMSHEET_PANEL_URL", raising=False)
        monkeypatch.delenv("SMMSHEET_API_KEY", raising=False)
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["place", str(book), "--yes"])
    assert time.monotonic() - started < 15, result.output
    [row] = read_orders(book)
    assert row["Order ID"] is None and "may have been placed" in row["Error"], result.output
    assert "deadline" in row["Error"] and result.exit_code == 1


def test_a_long_retry_after_stops_the_run_with_one_clear_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from smmsheet.cli import cli

    from .conftest import make_orders_book, read_orders

    book = make_orders_book(tmp_path / "o.xlsx", [(1, f"https://a/{i}", 10) for i in range(3)])
    limited = careful_panel(lambda form: json_reply("{}", 429, **{"Retry-After": "3600"}))
    with ScriptedPanel(limited) as panel:
        for name, value in profile(tmp_path, panel.url, "max_workers = 1\n").items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("SMMSHEET_PANEL_URL", raising=False)
        monkeypatch.delenv("SMMSHEET_API_KEY", raising=False)
        result = CliRunner().invoke(cli, ["place", str(book), "--yes"])
    adds = [form for form in panel.forms if form["action"] == "add"]
    assert result.exit_code == 1 and len(adds) == 1, result.output
    assert "Error: add: the panel asks to wait 3,600 s" in result.output
    assert "check panel" not in result.output and "Traceback" not in result.output
    assert all(row["Order ID"] is None for row in read_orders(book))


# ------------------------------------------------------------------------------ the environment


class _ForwardProxy:
    """A plain HTTP forward proxy on loopback that counts what it forwards."""

    def __init__(self) -> None:
        import http.server
        import threading
        import urllib.request

        proxy = self
        self.forwarded: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.forwarded.append(self.path)  # an absolute URL: the client used a proxy
                request = urllib.request.Request(self.path, data=body, method="POST")
                request.add_header("Content-Type", self.headers.get("Content-Type", ""))
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                with opener.open(request) as reply:
                    data = reply.read()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_CONNECT(self) -> None:  # noqa: N802 - an https panel: a tunnel, relayed
                import select
                import socket

                proxy.forwarded.append(f"CONNECT {self.path}")
                host, port = self.path.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                ends = {self.connection: upstream, upstream: self.connection}
                with upstream:
                    while True:
                        ready, _, _ = select.select(list(ends), [], [], 5)
                        data = ready[0].recv(65536) if ready else b""
                        if not data:
                            return
                        ends[ready[0]].sendall(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> _ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_the_proxy_in_the_environment_carries_every_request(sim, monkeypatch):
    with _ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with PanelClient(sim.url, sim.api_key) as c:
            c.balance()
            c.balance()
    assert proxy.forwarded == [sim.url, sim.url]


def test_no_proxy_sends_the_panel_direct(sim, monkeypatch):
    with _ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with PanelClient(sim.url, sim.api_key) as c:
            c.balance()
    assert proxy.forwarded == []
    assert sim.counts["balance"] == 1


def test_a_malformed_proxy_is_named_as_the_proxy_not_the_panel(sim, monkeypatch):
    """A typo in HTTP_PROXY read as "invalid panel URL": the user checked a URL that was
    right. The proxy is named, and not quoted (a proxy URL may hold a password)."""
    monkeypatch.setenv("HTTP_PROXY", "http://reseller:s3cret@proxy host:80a")
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with PanelClient(sim.url, sim.api_key) as c, pytest.raises(PanelUnavailableError) as refused:
        c.add(service=1, link="https://instagram.com/p/x", quantity=100)
    text = str(refused.value)
    assert "proxy" in text and "not a valid URL" in text and "nothing was sent" in text
    assert "invalid panel URL" not in text and "s3cret" not in text
    assert sim.counts["add"] == 0
    monkeypatch.delenv("HTTP_PROXY")
    with PanelClient("http://exa mple.com/api/v2", sim.api_key) as c:
        with pytest.raises(PanelUnavailableError, match="invalid panel URL"):
            c.balance()


def test_an_add_through_a_socks_proxy_without_pysocks_was_never_sent(sim, monkeypatch):
    """requests needs PySocks for a socks5:// proxy and says so before sending anything:
    the add was reported as "may have been placed", blocking its row for a manual check."""
    import importlib.util

    if importlib.util.find_spec("socks") is not None:
        pytest.skip("PySocks is installed: the proxy would be used")
    monkeypatch.setenv("HTTP_PROXY", "socks5://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with PanelClient(sim.url, sim.api_key) as c, pytest.raises(PanelUnavailableError) as refused:
        c.add(service=1, link="https://instagram.com/p/x", quantity=100)
    assert not isinstance(refused.value, AmbiguousRequestError)
    assert "PySocks" in str(refused.value) and "nothing was sent" in str(refused.value)
    assert sim.counts["add"] == 0


def test_an_invalid_panel_url_is_not_blamed_on_a_sound_proxy(sim, monkeypatch):
    """A proxy is set and sound, the panel URL is the one that is wrong (a host typed with a
    leading dot, a wildcard left in it, a direct client that asks no proxy): "the proxy is
    not a valid URL: correct or unset it" sent the user to fix what was right."""
    monkeypatch.setenv("HTTPS_PROXY", "http://reseller:s3cret@127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://reseller:s3cret@127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for url in ("https://.panel.example/api/v2", "https://*.panel.example/api/v2"):
        for direct in (False, True):
            with PanelClient(url, sim.api_key, direct=direct) as c:
                with pytest.raises(PanelUnavailableError) as refused:
                    c.balance()
            text = str(refused.value)
            assert "invalid panel URL" in text and "proxy" not in text, (url, direct, text)
            assert "s3cret" not in text


@pytest.mark.parametrize(
    ("url", "proxy"),
    [
        ("http://panel..example/api/v2", None),  # an empty label: no such name to look up
        (f"http://{'p' * 64}.example/api/v2", None),  # a label over 63 characters
        (None, "http://reseller:s3cret@.proxy.example:3128"),
    ],
)
def test_an_add_to_a_host_that_cannot_be_looked_up_was_never_sent(sim, monkeypatch, url, proxy):
    """urllib3 refuses to look up such a host name (LocationParseError) before it opens a
    connection: the add was reported "may have been placed", blocking its row for a manual
    check of an order that never left."""
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    if proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
    with PanelClient(url or sim.url, sim.api_key) as c, pytest.raises(PanelError) as refused:
        c.add(service=1, link="https://instagram.com/p/x", quantity=100)
    assert not isinstance(refused.value, AmbiguousRequestError), str(refused.value)
    text = str(refused.value)
    assert ("proxy" in text) == bool(proxy) and "s3cret" not in text, text
    assert sim.counts["add"] == 0


def test_the_environment_is_read_once_per_client_not_per_request(sim, monkeypatch):
    """requests looks up proxies (and ~/.netrc) for every request: 20 % of a big refresh."""
    import requests.sessions
    import requests.utils

    lookups: list[str] = []
    real = requests.utils.get_environ_proxies

    def counted(url: str, no_proxy: str | None = None) -> dict[str, str]:
        lookups.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.utils, "get_environ_proxies", counted)
    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)
    with PanelClient(sim.url, sim.api_key) as c:
        for _ in range(5):
            c.balance()
    assert sim.counts["balance"] == 5
    assert lookups == [sim.url]


def test_a_direct_client_never_asks_the_proxy(sim, monkeypatch):
    """The Self-test's own simulator on 127.0.0.1: an office proxy cannot reach it."""
    with _ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with PanelClient(sim.url, sim.api_key, direct=True) as c:
            c.balance()
    assert proxy.forwarded == [] and sim.counts["balance"] == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def test_requests_ca_bundle_decides_which_https_panel_is_trusted(certificate, monkeypatch):
    """A panel behind an office's own certificate authority: REQUESTS_CA_BUNDLE names it."""
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with ScriptedPanel(lambda form: json_reply('{"order": 77}'), tls=certificate) as server:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        with client(server) as untrusted, pytest.raises(PanelUnavailableError) as info:
            untrusted.add(1, link="https://x", quantity=100)
        assert "TLS" in str(info.value) and info.value.retry_safe  # refused before sending
        assert server.forms == []
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certificate[0])
        with client(server) as trusted:
            assert trusted.add(1, link="https://x", quantity=100) == "77"
    assert [form["action"] for form in server.forms] == ["add"]


def test_a_tls_error_after_the_add_went_out_is_never_sent_again(certificate, monkeypatch):
    """The panel placed the order, then its connection broke at the TLS layer (a record no
    client can decrypt). Nothing says the add was not processed: it is not resent (it was
    resent three times: four orders), and the row is told to check the panel."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certificate[0])
    with ScriptedPanel(lambda form: json_reply('{"order": 79}'), tls=certificate) as server:
        server.raw_reply = b"\x17\x03\x03\x00\x05hello"  # application data, not encrypted
        with client(server) as c, pytest.raises(AmbiguousRequestError, match="TLS"):
            c.add(1, link="https://x", quantity=100)
        assert [form["action"] for form in server.forms] == ["add"]
        with client(server) as c:  # a read-only request is retried as before: it costs nothing
            with pytest.raises(PanelUnavailableError) as info:
                c.balance()
            assert not isinstance(info.value, AmbiguousRequestError)
        assert len(server.forms) > 2


def test_an_https_panel_is_reached_through_the_proxys_tunnel(certificate, monkeypatch):
    """HTTPS_PROXY: a CONNECT tunnel to the panel, TLS to the panel itself inside it."""
    with (
        ScriptedPanel(
            lambda form: json_reply('{"order": 78}' if form["action"] == "add" else "5.00"),
            tls=certificate,
        ) as server,
        _ForwardProxy() as proxy,
    ):
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", certificate[0])
        for name in ("NO_PROXY", "no_proxy", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name, raising=False)
        with client(server) as c:
            assert c.add(1, link="https://x", quantity=100) == "78"
            c.balance()
    port = server.server.server_address[1]
    assert proxy.forwarded == [f"CONNECT 127.0.0.1:{port}"]  # one tunnel, kept alive
    assert [form["action"] for form in server.forms] == ["add", "balance"]


def test_netrc_credentials_for_the_panel_host_are_sent(panel, tmp_path, monkeypatch):
    """A panel behind HTTP basic auth, its login in ~/.netrc: sent as requests sends it."""
    import base64

    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login office password s3cret-pw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    panel.script = lambda form: json_reply('{"balance": "5.00", "currency": "USD"}')
    with client(panel) as c:
        c.balance()
        c.balance()
    expected = "Basic " + base64.b64encode(b"office:s3cret-pw").decode()
    assert [headers.get("Authorization") for headers in panel.headers] == [expected] * 2


def test_a_cookie_the_panel_sets_is_sent_back(panel):
    """Panels behind a load balancer pin a client with a cookie; requests sent it back."""
    panel.script = lambda form: json_reply(
        '{"balance": "5.00"}', **{"Set-Cookie": "lb=node-2; Path=/"}
    )
    with client(panel) as c:
        c.balance()
        c.balance()
    assert [headers.get("Cookie") for headers in panel.headers] == [None, "lb=node-2"]


def test_the_form_and_headers_are_those_requests_sent(panel):
    """Form-encoded body with the key in it (never the URL), our User-Agent, JSON asked for."""
    key = "k+y/=%&ü 1"
    panel.script = lambda form: json_reply('{"order": 5}' if form["action"] == "add" else "{}")
    with PanelClient(panel.url, key) as c:
        c.add(1, link="https://x.example/p?a=1&b=ü", quantity=100, comments=["a b", "c&d"])
        c.status_many(["1001", "ORD-7_a.b~c", 1002])
    headers = panel.headers[0]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["Accept"] == "application/json" and headers["User-Agent"].startswith("smmsheet/")
    assert panel.forms == [
        {
            "key": key,
            "action": "add",
            "service": "1",
            "link": "https://x.example/p?a=1&b=ü",
            "quantity": "100",
            "comments": "a b\nc&d",
        },
        {"key": key, "action": "status", "orders": "1001,ORD-7_a.b~c,1002"},
    ]
