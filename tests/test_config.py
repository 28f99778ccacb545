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
