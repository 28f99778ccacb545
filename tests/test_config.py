"""Panel settings: flags, profiles, environment; the key never lives in a workbook."""

from __future__ import annotations

from decimal import Decimal

import pytest

from smmsheet.config import WorkbookSettings, resolve_panel, spending_cap, workbook_settings
from smmsheet.errors import ConfigError


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        'default_profile = "main"\n'
        "[profiles.main]\n"
        'url = "https://main.example/api/v2"\n'
        'api_key_env = "MAIN_KEY"\n'
        "max_workers = 6\n"
        "[profiles.other]\n"
        'url = "https://other.example/api/v2"\n'
        'api_key = "other-secret"\n'
    )
    return {"SMMSHEET_CONFIG": str(path), "MAIN_KEY": "main-secret"}


def test_flags_win_over_everything(cfg):
    s = resolve_panel(url="https://flag/api/v2", api_key="k", environ=cfg)
    assert (s.url, s.api_key) == ("https://flag/api/v2", "k")


def test_default_profile_with_key_from_named_env_var(cfg):
    s = resolve_panel(environ=cfg)
    assert (s.url, s.api_key, s.profile, s.max_workers) == (
        "https://main.example/api/v2",
        "main-secret",
        "main",
        6,
    )


def test_env_vars_win_over_the_default_profile_but_not_a_named_one(cfg):
    env = {**cfg, "SMMSHEET_PANEL_URL": "https://env/api/v2", "SMMSHEET_API_KEY": "env-key"}
    assert resolve_panel(environ=env).url == "https://env/api/v2"
    named = resolve_panel(environ=env, profile="other")
    assert (named.url, named.api_key) == ("https://other.example/api/v2", "other-secret")
    by_workbook = resolve_panel(environ=env, workbook=WorkbookSettings(profile="other"))
    assert by_workbook.url == "https://other.example/api/v2"


def test_a_profile_that_is_not_there_says_who_named_it(cfg):
    # The newcomer's workbook said Profile "thrid" on its Settings sheet; the run said only
    # "no profile 'thrid' in ...config.toml", and no --profile had been typed anywhere.
    with pytest.raises(ConfigError, match=r"'thrid' \(the Settings sheet's Profile\) in "):
        resolve_panel(environ=cfg, workbook=WorkbookSettings(profile="thrid"))
    with pytest.raises(ConfigError, match=r"'thrid' \(SMMSHEET_PROFILE\) in "):
        resolve_panel(environ={**cfg, "SMMSHEET_PROFILE": "thrid"})
    with pytest.raises(ConfigError, match=r"no profile 'thrid' in "):  # its flag is in sight
        resolve_panel(environ=cfg, profile="thrid")


def test_missing_key_is_one_clear_error(tmp_path):
    env = {"SMMSHEET_CONFIG": str(tmp_path / "none.toml"), "SMMSHEET_PANEL_URL": "https://x"}
    with pytest.raises(ConfigError, match="no API key"):
        resolve_panel(environ=env)
    with pytest.raises(ConfigError, match="no panel URL"):
        resolve_panel(environ={"SMMSHEET_CONFIG": str(tmp_path / "none.toml")})


def test_unknown_profile_lists_the_known_ones(cfg):
    with pytest.raises(ConfigError, match="main, other"):
        resolve_panel(environ=cfg, profile="nope")


def test_broken_config_file_is_one_clear_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="cannot read config file"):
        resolve_panel(environ={"SMMSHEET_CONFIG": str(path)})


def test_bad_url_scheme_refused(tmp_path):
    env = {"SMMSHEET_CONFIG": str(tmp_path / "n"), "SMMSHEET_API_KEY": "k"}
    with pytest.raises(ConfigError, match="http"):
        resolve_panel(url="panel.example/api/v2", environ=env)


def test_settings_repr_hides_the_key(cfg):
    assert "main-secret" not in repr(resolve_panel(environ=cfg))


def test_workbook_settings_sheet():
    s = workbook_settings([["Setting", "Value"], ["Profile", " other "], ["Max spend", "12.5"]])
    assert s == WorkbookSettings(profile="other", max_spend=Decimal("12.5"))


@pytest.mark.parametrize("name", ["API key", "api_key", "Key", "Token"])
def test_a_key_in_the_workbook_settings_is_refused(name):
    with pytest.raises(ConfigError, match="API key"):
        workbook_settings([[name, "abc123"]])


def test_settings_sheet_is_found_in_any_case(tmp_path):
    from openpyxl import Workbook

    from smmsheet.config import settings_of
    from smmsheet.workbook import open_workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "SETTINGS"
    sheet.append(["Max spend", 7])
    book.save(tmp_path / "s.xlsx")
    assert settings_of(open_workbook(str(tmp_path / "s.xlsx"))).max_spend == Decimal(7)
    book.remove(sheet)
    book.create_sheet("Orders")
    book.save(tmp_path / "none.xlsx")
    assert settings_of(open_workbook(str(tmp_path / "none.xlsx"))) == WorkbookSettings()


# ------------------------------------------------------------- the key goes where it belongs


def test_another_panel_url_never_gets_the_profile_key(cfg):
    with pytest.raises(ConfigError) as info:
        resolve_panel(url="https://evil.example/api/v2", environ=cfg)
    message = str(info.value)
    assert "profile 'main'" in message and "https://main.example" in message
    assert "https://evil.example" in message and "--api-key" in message
    assert "main-secret" not in message and "\n" not in message


def test_the_profile_key_goes_to_another_path_of_the_same_panel(cfg):
    s = resolve_panel(url="https://MAIN.example:443/api/v3", environ=cfg)
    assert s.api_key == "main-secret"


@pytest.mark.parametrize(
    "url",
    ["http://main.example/api/v2", "https://main.example:8443/api/v2", "https://example/api/v2"],
)
def test_a_different_scheme_port_or_host_is_another_panel(cfg, url):
    with pytest.raises(ConfigError, match="not sent to"):
        resolve_panel(url=url, environ=cfg)


@pytest.mark.parametrize("url", ["http://[::1/api/v2", "https://[fe80::1/api/v2?key=x"])
def test_an_ipv6_address_left_open_is_one_clear_error(cfg, url):
    """urlsplit raises a bare ValueError ("Invalid IPv6 URL") for these: it came out as a
    traceback instead of the one line a broken config gets."""
    with pytest.raises(ConfigError, match="invalid panel URL"):
        resolve_panel(url=url, api_key="typed", environ=cfg)


def test_an_explicit_api_key_goes_with_the_url_of_this_run(cfg):
    s = resolve_panel(url="https://evil.example/api/v2", api_key="typed", environ=cfg)
    assert (s.url, s.api_key) == ("https://evil.example/api/v2", "typed")


def test_the_env_key_pairs_with_the_env_url(tmp_path):
    env = {
        "SMMSHEET_CONFIG": str(tmp_path / "none.toml"),
        "SMMSHEET_PANEL_URL": "https://env.example/api/v2",
        "SMMSHEET_API_KEY": "env-key",
    }
    assert resolve_panel(environ=env).api_key == "env-key"
    with pytest.raises(ConfigError, match="SMMSHEET_API_KEY belongs to https://env.example"):
        resolve_panel(url="https://other.example/api/v2", environ=env)
    alone = {k: v for k, v in env.items() if k != "SMMSHEET_PANEL_URL"}
    with pytest.raises(ConfigError, match="has no panel URL of its own"):
        resolve_panel(url="https://other.example/api/v2", environ=alone)


def test_the_env_key_goes_to_the_profile_url_when_no_env_url_is_set(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('default_profile = "p"\n[profiles.p]\nurl = "https://p.example/api/v2"\n')
    env = {"SMMSHEET_CONFIG": str(path), "SMMSHEET_API_KEY": "env-key"}
    assert resolve_panel(environ=env).api_key == "env-key"
    with pytest.raises(ConfigError, match="not sent to https://q.example"):
        resolve_panel(url="https://q.example/api/v2", environ=env)


def test_a_profile_url_with_the_env_key_of_another_panel_is_refused(cfg):
    env = {**cfg, "SMMSHEET_PANEL_URL": "https://env/api/v2", "SMMSHEET_API_KEY": "env-key"}
    path = cfg["SMMSHEET_CONFIG"]
    with open(path, "a") as fh:
        fh.write('[profiles.keyless]\nurl = "https://keyless.example/api/v2"\n')
    with pytest.raises(ConfigError, match="SMMSHEET_API_KEY belongs to https://env"):
        resolve_panel(environ=env, profile="keyless")


def test_a_key_in_the_url_query_is_refused_and_not_repeated(tmp_path):
    env = {"SMMSHEET_CONFIG": str(tmp_path / "none.toml")}
    with pytest.raises(ConfigError, match="query string") as info:
        resolve_panel(url="https://p.example/api/v2?key=s3cr%2Bt", api_key="s3cr+t", environ=env)
    assert "s3cr" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["ftp://p.example/s3cr3tkey", "https://p.example:99999/s3cr3tkey", "https://[::1/s3cr3tkey"],
)
def test_a_key_pasted_into_a_refused_url_path_is_not_repeated(tmp_path, url):
    env = {"SMMSHEET_CONFIG": str(tmp_path / "none.toml"), "SMMSHEET_API_KEY": "s3cr3tkey"}
    with pytest.raises(ConfigError) as info:
        resolve_panel(url=url, environ=env)
    assert "s3cr3tkey" not in str(info.value)


def test_profile_deadline_and_rate_limit(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.slow]\nurl = "https://s.example/api/v2"\napi_key = "k"\n'
        "deadline = 15\nmax_requests_per_minute = 120\n"
    )
    s = resolve_panel(environ={"SMMSHEET_CONFIG": str(path)}, profile="slow")
    assert (s.deadline, s.max_requests_per_minute) == (15.0, 120)
    client = s.client()
    assert client.deadline == 15.0 and client.max_requests_per_minute == 120
    default = resolve_panel(url="https://x/api/v2", api_key="k", environ={"SMMSHEET_CONFIG": "n"})
    assert (default.deadline, default.max_requests_per_minute) == (60.0, None)


@pytest.mark.parametrize(
    ("name", "value"), [("deadline", "-1"), ("max_requests_per_minute", '"x"')]
)
def test_bad_limits_are_one_clear_error(tmp_path, name, value):
    path = tmp_path / "config.toml"
    path.write_text(f'[profiles.p]\nurl = "https://s/api/v2"\napi_key = "k"\n{name} = {value}\n')
    with pytest.raises(ConfigError, match=f"{name} must be a positive"):
        resolve_panel(environ={"SMMSHEET_CONFIG": str(path)}, profile="p")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            'default_profile = "p"\n[profiles.p]\nurl = "https://s/api/v2"\napi_kye = "k"\n',
            "unknown setting 'api_kye' in profile 'p' (did you mean 'api_key'?)",
        ),
        (
            'defualt_profile = "p"\n[profiles.p]\nurl = "https://s/api/v2"\napi_key = "k"\n',
            "unknown setting 'defualt_profile' (did you mean 'default_profile'?)",
        ),
        (
            'default_profile = "p"\n[profiles.p]\nurl = "https://s/api/v2"\napi_key = "k"\n'
            "max_request_per_minute = 60\n",
            "'max_request_per_minute' in profile 'p' (did you mean 'max_requests_per_minute'?)",
        ),
        (
            'default_profile = "p"\n[profile.p]\nurl = "https://s/api/v2"\napi_key = "k"\n',
            "unknown setting 'profile' (did you mean 'profiles'?)",
        ),
    ],
)
def test_a_misspelt_config_setting_is_named_not_ignored(tmp_path, text, said):
    # A typo used to be dropped in silence: a key not found ("profile 'p' names None"), a
    # rate limit not kept, or "no panel URL" beside a profile that has one.
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        resolve_panel(environ={"SMMSHEET_CONFIG": str(path)})
    assert said in str(info.value) and str(path) in str(info.value)


def test_a_key_env_variable_that_is_not_set_is_named(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        'default_profile = "p"\n[profiles.p]\nurl = "https://s/api/v2"\napi_key_env = "P_KEY"\n'
    )
    with pytest.raises(ConfigError, match="profile 'p' reads it from P_KEY, which is not set"):
        resolve_panel(environ={"SMMSHEET_CONFIG": str(path)})
    path.write_text('default_profile = "p"\n[profiles.p]\nurl = "https://s/api/v2"\n')
    with pytest.raises(ConfigError) as info:
        resolve_panel(environ={"SMMSHEET_CONFIG": str(path)})
    assert "None" not in str(info.value)


@pytest.mark.parametrize(
    "name",
    ["API-Key", "Key:", "Panel key", "token", "secret", "api_token", "Password", "API key"],
)
def test_every_way_of_labelling_a_key_in_the_settings_sheet_is_refused(name):
    with pytest.raises(ConfigError, match="API key or another secret"):
        workbook_settings([["Profile", "main"], [name, "abc123"]])


def test_settings_labels_that_are_not_secrets_are_read():
    s = workbook_settings([["Keywords", "shoes"], ["Max-spend:", "3"], ["Hotline", "x"]])
    assert s.max_spend == Decimal(3)


@pytest.mark.parametrize("typed", [25, "25", "$25", "25 USD", "25,00", "25.00 €", " 25 "])
def test_max_spend_reads_the_same_in_the_sheet_and_on_the_command_line(typed):
    assert workbook_settings([["Max spend", typed]]).max_spend == Decimal(25)
    assert spending_cap(typed, "--max-spend") == Decimal(25)
    assert spending_cap("1,234.50", "--max-spend") == Decimal("1234.50")


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("two dollars", "got 'two dollars'"),
        ("1,500", "could mean 1500 or 1.5"),
        (True, "got TRUE"),
        ("-5", "must not be negative"),
    ],
)
def test_an_unreadable_max_spend_in_the_sheet_names_its_cell(typed, why):
    rows = [["Setting", "Value"], ["Profile", "main"], ["Max spend", typed]]
    with pytest.raises(ConfigError, match="Max spend in Settings!B3") as caught:
        workbook_settings(rows)
    assert why in str(caught.value) and "\n" not in str(caught.value)


def test_an_empty_max_spend_cell_is_no_cap():
    assert workbook_settings([["Max spend", None]]).max_spend is None
    assert workbook_settings([["Max spend", "  "]]).max_spend is None


@pytest.mark.parametrize(
    ("label", "meant"),
    [
        ("Max spnd", "Max spend"),
        ("Maximum spend", "Max spend"),
        ("Spend limit", "Max spend"),
        ("Daily max spend", "Max spend per day"),
        ("Max spend a day", "Max spend per day"),
        ("Max per day", "Max spend per day"),  # read as no setting: no cap at all
        ("Daily budget", "Max spend per day"),
        ("Limit/day", "Max spend per day"),
        ("Profil", "Profile"),
        ("Curency", "Currency"),
        ("Refill warning day", "Refill warning days"),
    ],
)
def test_a_misspelt_settings_label_stops_the_run_naming_its_cell(label, meant):
    # "Max spnd" was read as no setting at all: the run went on without the cap the user
    # typed (or, for "Profil", on the default panel's account).
    rows = [["Setting", "Value"], ["Keywords", "shoes"], [label, "25"]]
    with pytest.raises(ConfigError) as caught:
        workbook_settings(rows)
    said = str(caught.value)
    assert f"Settings!A3 ({label!r})" in said and f"did you mean {meant!r}?" in said


def test_a_unit_after_a_settings_label_is_read_and_own_rows_are_left_alone():
    s = workbook_settings(
        [
            ["Max spend (USD)", "25"],
            ["Tax rate", "0.2"],
            ["Currency rate", 1],
            ["Max posts per day", 3],
        ]
    )
    assert s.max_spend == Decimal(25)
    assert workbook_settings([["Max spnd", None]]).max_spend is None  # nothing typed: no harm


def test_max_spend_per_day_is_read_as_max_spend_is():
    s = workbook_settings([["Max spend", "$5"], ["Max spend per day (USD)", "25,00"]])
    assert (s.max_spend, s.max_spend_per_day) == (Decimal(5), Decimal(25))
    assert workbook_settings([["Max spend per day", None]]).max_spend_per_day is None
    with pytest.raises(ConfigError, match=r"Max spend per day in Settings!B1 must be an amount"):
        workbook_settings([["Max spend per day", "twenty"]])


def test_a_setting_named_twice_never_drops_the_value_typed_first():
    """The last row won: an empty second Max spend (or 'Max spend (EUR)') ran uncapped."""
    assert workbook_settings([["Max spend", 10], ["Max spend", None]]).max_spend == 10
    assert workbook_settings([["Max spend (USD)", 10], ["Max spend (EUR)", ""]]).max_spend == 10
    assert workbook_settings([["Profile", None], ["Profile", "b"]]).profile == "b"
    with pytest.raises(ConfigError, match=r"Settings!B1 and Settings!B2 both set 'Max spend'"):
        workbook_settings([["Max spend", 10], ["Max spend", 500]])
