"""The key goes only where it belongs, and no form of it ever leaves the process.

Real processes where logging matters (``-v`` configures the process's logging), the
scripted loopback panel for a careless panel that echoes the key back.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from click.testing import CliRunner

from smmsheet.cli import cli
from smmsheet.panel import PanelClient

from .conftest import make_orders_book, read_orders
from .scripted import ScriptedPanel, json_reply

#: A key whose raw, quote() and quote_plus() forms all differ.
KEY = "Zk+9/q w=Y&~x%41"
#: Every form a panel may echo it in; the last with lower-case escapes (%2b for %2B).
FORMS = {KEY, quote(KEY), quote(KEY, safe=""), quote_plus(KEY), "Zk%2b9%2fq+w%3dY%26~x%2541"}
SERVICES = '[{"service":1,"name":"F","type":"Default","rate":"1","min":"1","max":"999"}]'


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def everything_written(folder: Path) -> str:
    """All text in the files of ``folder``: zip members unpacked, SQLite tables dumped."""
    texts: list[str] = []
    for path in folder.iterdir():
        data = path.read_bytes() if path.is_file() else b""
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                texts += [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
        elif data.startswith(b"SQLite format 3"):
            with sqlite3.connect(path) as db:
                texts.append("\n".join(db.iterdump()))
        else:
            texts.append(data.decode("utf-8", "replace"))
    return "\n".join(texts)


def environment(tmp_path: Path, url: str, key: str = KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMMSHEET_")}
    env.update(
        SMMSHEET_CONFIG=str(tmp_path / "none.toml"), SMMSHEET_PANEL_URL=url, SMMSHEET_API_KEY=key
    )
    return env


def careless(form):
    """A panel that answers an add with a redirect carrying its key in three encodings."""
    key = form["key"]
    if form["action"] == "services":
        return json_reply(SERVICES)
    if form["action"] == "balance":
        return json_reply('{"balance":"50","currency":"USD"}')
    where = f"https://login.example/s/{quote(key, safe='')}?u={quote_plus(key)}&v={quote(key)}"
    return 302, {"Location": where}, b""


def test_a_key_echoed_in_every_encoding_never_reaches_terminal_log_sheet_or_journal(tmp_path):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 10)])
    with ScriptedPanel(careless) as panel:
        run = subprocess.run(
            [sys.executable, "-m", "smmsheet", "-v", "place", str(book), "--yes"],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment(tmp_path, panel.url),
        )
    assert panel.forms and panel.forms[-1]["key"] == KEY, "the key did reach its own panel"
    [row] = read_orders(book)
    assert "may have been placed" in row["Error"] and "login.example" in row["Error"]
    assert "DEBUG" in run.stderr and "login.example" in run.stderr
    assert leaks(run.stdout + run.stderr) == []
    assert leaks(everything_written(tmp_path)) == []


def test_a_key_in_the_panel_url_never_reaches_the_terminal(tmp_path):
    url = f"http://127.0.0.1:9/api/v2?key={quote_plus(KEY)}"
    run = subprocess.run(
        [sys.executable, "-m", "smmsheet", "-v", "balance", "--panel-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(tmp_path, url),
    )
    assert run.returncode == 2 and "query string" in run.stderr
    assert run.stderr.count("\n") == 1 and leaks(run.stdout + run.stderr) == []


def test_a_client_given_a_url_with_a_key_never_repeats_it():
    client = PanelClient(f"http://127.0.0.1:9/api/v2?key={quote(KEY, safe='')}", KEY, retries=0)
    with pytest.raises(Exception) as info:
        client.balance()
    assert "cannot reach the panel" in str(info.value)
    assert leaks(str(info.value)) == [] and leaks(repr(client)) == []


def test_another_panel_url_never_gets_the_environment_key(tmp_path, panel_env, monkeypatch):
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 100)])
    with ScriptedPanel(lambda form: json_reply(SERVICES)) as other:
        for args in (["balance"], ["place", str(book), "--yes"]):
            result = CliRunner().invoke(cli, [*args, "--panel-url", other.url])
            assert result.exit_code == 2, result.output
            assert result.output.count("\n") == 1 and "SMMSHEET_API_KEY belongs to" in result.output
        assert other.forms == [], "not one request reached the other host"
        typed = ["balance", "--panel-url", other.url, "--api-key", "key-7f3a9"]
        with_key = CliRunner().invoke(cli, typed)
        assert other.forms and other.forms[0]["key"] == "key-7f3a9"
        assert "cannot" not in with_key.output


def test_plain_http_to_another_machine_warns_once_per_run(tmp_path, monkeypatch):
    def script(form):
        if form["action"] == "services":
            return json_reply(SERVICES)
        if form["action"] == "balance":
            return json_reply('{"balance":"50","currency":"USD"}')
        if form["action"] == "add":
            return json_reply(f'{{"order": {len(panel.forms) + 100}}}')
        return json_reply("{}")

    monkeypatch.setenv("SMMSHEET_CONFIG", str(tmp_path / "none.toml"))
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 10), (1, "https://b", 10)])
    # 0.0.0.0 reaches this machine, but it is not a loopback address: the client cannot know.
    with ScriptedPanel(script, host="0.0.0.0") as panel:
        result = CliRunner().invoke(
            cli, ["run", str(book), "--yes", "--panel-url", panel.url, "--api-key", "key-7f3a9"]
        )
    assert len(panel.forms) >= 4, result.output
    warnings = [line for line in result.output.splitlines() if "clear text" in line]
    assert warnings == [
        f"Warning: the panel URL {panel.url} is plain http:// to another machine: the API key "
        "travels in clear text; use https://"
    ]


def test_plain_http_to_this_machine_does_not_warn(panel_env):
    result = CliRunner().invoke(cli, ["balance"])
    assert result.exit_code == 0 and "clear text" not in result.output


# ------------------------------------------------------------------------- the one scrubber


@pytest.mark.parametrize("form", sorted(FORMS))
def test_scrub_hides_every_form_of_the_key(form):
    from smmsheet.errors import scrub

    assert scrub(f"before {form} after", [KEY]) == "before *** after"


def test_scrub_hides_secret_url_parameters_and_passwords_but_not_look_alikes():
    from smmsheet.errors import scrub

    text = "https://bob:pw@h/x?api_key=abc&Token%3Dzz&monkey=1&keyword=shoes mail a@b.c"
    assert (
        scrub(text)
        == "https://bob:***@h/x?api_key=***&Token%3D***&monkey=1&keyword=shoes mail a@b.c"
    )


def test_scrubbing_a_json_reply_keeps_it_json():
    import json

    from smmsheet.errors import scrub

    body = json.dumps({"error": f'bad "{KEY}" see https://p/?key=abc\\"x', "n": 1})
    assert json.loads(scrub(body, [KEY]))["n"] == 1


@pytest.mark.parametrize(
    "echo",
    [
        lambda key: key.replace("/", "\\/"),  # PHP's json_encode escaping "/", escaped once more
        lambda key: key.replace("&", "&amp;").replace("<", "&lt;"),  # an HTML-escaped echo
    ],
    ids=["php-escaped", "html-escaped"],
)
def test_a_key_echoed_in_service_names_never_reaches_the_terminal_or_the_sheet(tmp_path, echo):
    """Found by an attacker's review: a service list repeating the key JSON-escaped."""
    import json

    key = "ab/cd+ef<&TAIL"
    services = [
        {
            "service": 1,
            "name": f"Followers {echo(key)}",
            "type": "Default",
            "rate": "1",
            "min": 10,
            "max": 100,
        }
    ]
    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://x", 100)])
    with ScriptedPanel(lambda form: json_reply(json.dumps(services))) as panel:
        for args in (["services"], ["services", "--json"], ["services", "--into", str(book)]):
            result = CliRunner().invoke(cli, [*args, "--panel-url", panel.url, "--api-key", key])
            assert "TAIL" not in result.output, result.output
    for name in zipfile.ZipFile(book).namelist():
        assert b"TAIL" not in zipfile.ZipFile(book).read(name), name


def test_a_key_echoed_in_json_unicode_escapes_never_reaches_the_sheet_or_journal(tmp_path):
    """A reply may spell any character as ``\\u0061``: the key decoded from such escapes was
    not in the reply's text, so it went unscrubbed into the Error cell and the journal."""
    escaped = "".join(f"\\u{ord(char):04x}" for char in KEY)

    def echo(form):
        if form["action"] == "services":
            return json_reply(SERVICES)
        if form["action"] == "balance":
            return json_reply('{"balance":"50","currency":"USD"}')
        return json_reply('{"error": "Incorrect link for key ' + escaped + '"}')

    book = make_orders_book(tmp_path / "o.xlsx", [(1, "https://a", 10)])
    with ScriptedPanel(echo) as panel:
        result = CliRunner().invoke(
            cli, ["place", str(book), "--yes"], env=environment(tmp_path, panel.url)
        )
    [row] = read_orders(book)
    assert row["Error"].startswith("Incorrect link for key ***")
    assert leaks(result.output) == [] and leaks(everything_written(tmp_path)) == []
