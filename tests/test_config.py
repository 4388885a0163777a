"""Configuration as data: the shipped defaults, `extends`, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from xop.core.config import load_config, parse_target
from xop.core.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "xop.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_defaults_are_the_seed_tables():
    cfg = load_config(REPO / "include" / "config" / "xop.yaml")
    hours = {
        (clock, u): cfg.target_seconds(None, clock, u) / 3600
        for clock in ("l2_response", "l3_response", "l3_recovery", "l3_rca", "l4_resolution")
        for u in ("critical", "major", "minor")
    }
    assert [hours["l2_response", u] for u in ("critical", "major", "minor")] == [2, 2, 2]
    assert [hours["l3_response", u] for u in ("critical", "major", "minor")] == [2, 8, 24]
    assert [hours["l3_recovery", u] for u in ("critical", "major", "minor")] == [6, 12, 24]
    assert [hours["l3_rca", u] for u in ("critical", "major", "minor")] == [10, 20, 30]  # 1/2/3 business days
    assert [hours["l4_resolution", u] for u in ("critical", "major", "minor")] == [30, 70, 300]
    assert cfg.escalation.level2.email == "support@xopnetworks.com"
    assert cfg.escalation.level2.phone == "972-590-0200, option 2"
    assert (
        cfg.escalation.emergency.email == "mgmt@xopnetworks.com"
        and cfg.escalation.emergency.phone == "972-590-0219"
    )
    assert cfg.calendar.timezone == "America/Chicago" and (cfg.calendar.opens, cfg.calendar.closes) == (
        "08:00",
        "18:00",
    )
    assert (
        cfg.sla.clocks["l2_response"].on_breach == "escalate"
        and cfg.sla.clocks["l3_rca"].on_breach == "notify"
    )


def test_demo_config_extends_the_defaults():
    cfg = load_config(REPO / "include" / "config" / "demo.yaml")
    assert [c.id for c in cfg.customers] == ["demo"]
    assert cfg.escalation.emergency.email == "mgmt@xopnetworks.com"
    assert [s.id for _, s in cfg.systems(monitored_only=True)] == ["demo-conf1"]


def test_env_var_names_the_file(tmp_path, monkeypatch):
    p = write(
        tmp_path,
        f"extends: {REPO / 'include/config/xop.yaml'}\nsupport:\n  internal_recipients: [ops@x.example]\n",
    )
    monkeypatch.setenv("XOP_CONFIG", str(p))
    assert load_config().support.internal_recipients == ("ops@x.example",)


def test_monitoring_consent_filters_systems(xop_config):
    assert [s.id for _, s in xop_config.systems()] == ["acme-conf1", "globex-conf1"]
    assert [s.id for _, s in xop_config.systems(monitored_only=True)] == ["acme-conf1"]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("calendar:\n  opens: '8am'\n", r"calendar\.opens: .*HH:MM.*'8am'"),
        ("calendar:\n  timezone: Mars/Olympus\n", r"calendar\.timezone: .*unknown time zone 'Mars/Olympus'"),
        (
            "sla:\n  clocks:\n    l3_rca:\n      targets: {critical: 1 week}\n",
            r"sla\.clocks\.l3_rca\.targets",
        ),
        ("sla:\n  warn_at: [0.5, 1.5]\n", r"sla\.warn_at: .*between 0 and 1"),
        ("escalation:\n  level2:\n    email: not-an-email\n", r"escalation\.level2\.email"),
        (
            "customers:\n  - {id: a, name: A, colour: blue}\n",
            r"customers\[0\]\.colour: Extra inputs are not permitted",
        ),
        (
            "customers:\n  - id: a\n    name: A\n    systems:\n"
            "      - {id: s1, name: S}\n      - {id: s1, name: T}\n",
            r"duplicate system id",
        ),
        ("customers: {a: 1}\n", r"customers: .*tuple"),
    ],
)
def test_errors_name_the_field_and_value(tmp_path, yaml_text, expected):
    p = write(tmp_path, f"extends: {REPO / 'include/config/xop.yaml'}\n" + yaml_text)
    with pytest.raises(ConfigError, match=expected):
        load_config(p)


def test_unreadable_files_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "a: [1, 2\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
    a = write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(a)


@pytest.mark.parametrize(
    ("text", "seconds"), [("2h", 7200), ("30m", 1800), ("1d", 36000), ("1.5h", 5400), (" 3d ", 108000)]
)
def test_targets_parse(text, seconds):
    assert parse_target(text, day_seconds=36000) == seconds


@pytest.mark.parametrize("text", ["2", "2 weeks", "-1h", "0h", "h"])
def test_bad_targets_refused(text):
    with pytest.raises(ValueError):
        parse_target(text, day_seconds=36000)


def test_an_edit_of_the_extended_parent_is_seen_by_the_next_load(tmp_path):
    shipped = f"extends: {REPO / 'include/config/xop.yaml'}\n"
    base = write(tmp_path, shipped + "support:\n  internal_recipients: [first@x.example]\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\ncalendar:\n  opens: '07:00'\n", "child.yaml")
    assert load_config(child).support.internal_recipients == ("first@x.example",)
    assert load_config(child) is load_config(child)  # cached while nothing changed
    base.write_text(shipped + "support:\n  internal_recipients: [second@x.example, other@x.example]\n")
    reloaded = load_config(child)
    assert reloaded.support.internal_recipients == ("second@x.example", "other@x.example")
    assert reloaded.calendar.opens == "07:00"


def test_schedule_mismatch_names_the_variable_to_set(monkeypatch):
    from xop.core.schedule import schedule_mismatch

    monkeypatch.delenv("XOP_DAILY_AUDIT_TIME", raising=False)
    assert schedule_mismatch("xop_daily_audit", "04:00") is None
    warning = schedule_mismatch("xop_daily_audit", "05:30")
    assert warning is not None and "XOP_DAILY_AUDIT_TIME=05:30" in warning
    monkeypatch.setenv("XOP_DAILY_AUDIT_TIME", "05:30")
    assert schedule_mismatch("xop_daily_audit", "05:30") is None
