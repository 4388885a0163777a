"""The trunk check's manual-run form: the monitored systems and their trunks as choices; a system
or trunk the check does not cover fails at once, naming the valid ids, and is not retried.

``dag.test()`` on the DAG file parsed with a config, then run after the config changed (as when
someone edits it between the DAG processor's parse and the run): the probe task refuses the
stale id without dialling anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.param import ParamValidationError
from airflow.sdk.exceptions import AirflowFailException

from tests.conftest import REPO

SIP = {"host": "127.0.0.1", "port": 9, "dial_number": "+15125550100"}


def write_config(path: Path, *, with_conf2: bool = True) -> Path:
    systems = [
        {"id": "acme-conf1", "name": "Acme bridge 1", "trunks": [{"id": "acme-sip-main", **SIP}]},
        {"id": "acme-lab", "name": "Acme lab"},  # nothing to check: not offered
    ]
    if with_conf2:
        systems.append(
            {
                "id": "acme-conf2",
                "name": "Acme bridge 2",
                "trunks": [{"id": "acme-sip-2", **SIP}, {"id": "acme-pri-2", "kind": "pri", "span": 1}],
                "ami": {"host": "127.0.0.1", "port": 9, "conn_id": "acme_ami"},
            }
        )
    config = {
        "extends": str(REPO / "include" / "config" / "xop.yaml"),
        "customers": [
            {"id": "acme", "name": "Acme Conferencing", "monitoring": True, "systems": systems},
            {
                "id": "globex",
                "name": "Globex",
                "monitoring": False,
                "systems": [
                    {"id": "globex-conf1", "name": "Globex bridge", "trunks": [{"id": "g-sip", **SIP}]}
                ],
            },
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def parse_trunk_dag():
    bag = DagBag(str(REPO / "dags" / "xop_trunk_check.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("xop_trunk_check")


def test_the_form_offers_the_monitored_systems_and_trunks(airflow_db, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XOP_CONFIG", str(write_config(tmp_path / "xop.yaml")))
    dag = parse_trunk_dag()
    system, trunk = dag.params.get_param("system"), dag.params.get_param("trunk")
    assert system.schema["enum"] == [None, "acme-conf1", "acme-conf2"]  # no consent, nothing to check: out
    assert system.schema["values_display"] == {
        "null": "every monitored system",
        "acme-conf1": "acme-conf1 · Acme bridge 1 (Acme Conferencing)",
        "acme-conf2": "acme-conf2 · Acme bridge 2 (Acme Conferencing)",
    }
    assert trunk.schema["enum"] == [None, "acme-sip-main", "acme-sip-2", "acme-pri-2"]
    assert trunk.schema["values_display"]["acme-pri-2"] == "acme-pri-2 · PRI · acme-conf2"
    assert system.resolve(None) is None and trunk.resolve(None) is None  # the schedule's runs: all
    with pytest.raises(
        ParamValidationError, match=r"'globex-conf1' is not one of \[None, 'acme-conf1', 'acme-conf2'\]"
    ):
        system.resolve("globex-conf1")


def test_without_a_readable_config_the_form_takes_free_text_and_says_why(
    airflow_db, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("XOP_CONFIG", str(tmp_path / "missing.yaml"))
    system = parse_trunk_dag().params.get_param("system")
    assert "enum" not in system.schema
    assert "could not be read when this form was built" in system.description
    assert system.resolve("anything") == "anything"  # the task checks it (below)


def test_an_unknown_system_fails_once_naming_the_valid_ids(run_dag, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XOP_CONFIG", str(write_config(tmp_path / "before.yaml")))
    monkeypatch.setenv(
        "AIRFLOW_CONN_XOP_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "x.db")})
    )
    dag = parse_trunk_dag()  # the form still offers acme-conf2
    monkeypatch.setenv("XOP_CONFIG", str(write_config(tmp_path / "after.yaml", with_conf2=False)))

    dr = dag.test(run_conf={"system": "acme-conf2", "now": "2026-03-02T15:00:00+00:00"})
    assert dr.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in dr.get_task_instances()}
    assert states["probe_trunks"] == ("failed", 1)  # DEFAULT_ARGS retry twice; a wrong form never
    assert states["record_and_ticket"][0] == "upstream_failed"


def test_the_probe_task_names_the_field_and_the_valid_ids(tmp_path, monkeypatch) -> None:
    from xop.core.config import load_config
    from xop.tasks.trunks import check_selection

    path = write_config(tmp_path / "xop.yaml")
    monkeypatch.setenv("XOP_CONFIG", str(path))
    config = load_config(path)
    with pytest.raises(
        AirflowFailException,
        match=r"^params.system: 'nope' is not a system the trunk check covers \(not in the configuration\); "
        r"valid: acme-conf1, acme-conf2$",
    ):
        check_selection(config, system="nope", trunk=None)
    with pytest.raises(AirflowFailException, match=r"\(customer 'globex' has not consented to monitoring\)"):
        check_selection(config, system="globex-conf1", trunk=None)
    with pytest.raises(AirflowFailException, match=r"\(it has no trunks or AMI spans to check\)"):
        check_selection(config, system="acme-lab", trunk=None)
    with pytest.raises(
        AirflowFailException,
        match=r"^params.trunk: 'acme-sip-main' is not a trunk of 'acme-conf2'; "
        r"valid: acme-sip-2, acme-pri-2$",
    ):
        check_selection(config, system="acme-conf2", trunk="acme-sip-main")
    with pytest.raises(
        AirflowFailException, match=r"^params.trunk: 'g-sip' is not a trunk of a monitored system"
    ):
        check_selection(config, system=None, trunk="g-sip")
    assert check_selection(config, system=" acme-conf2 ", trunk="") == ("acme-conf2", None)
    assert check_selection(config, system=None, trunk="acme-pri-2") == (None, "acme-pri-2")
