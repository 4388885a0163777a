"""What the manual-run forms offer: the configured systems and trunks, read when a DAG file is parsed.

The restore and trunk check DAGs show their ids as drop-down choices (Airflow ``Param`` with
``enum`` and ``values_display``). DESIGN section 2 allows a DAG file one cheap read of the YAML
config and nothing more, so this module reads the files (:mod:`xop.core.config_files`: ``yaml``
and the ``extends`` chain, a few milliseconds) and does *not* validate them with the pydantic
models: the tasks load the real configuration and check every id again. Whatever cannot be
read gives no choices and says why (:attr:`Choices.problem`): the form then takes free text,
and the task names the valid ids when one is wrong.

Backups are not offered here: they are files under the backup root, not configuration; a form
that listed them would become a new DAG version after every nightly backup, and the DAG
processor need not see the backup share. The restore task names the dates it has instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from xop.core.config_files import config_path, read_yaml
from xop.core.errors import ConfigError

Purpose = Literal["restore", "trunk_check"]


@dataclass(frozen=True)
class Choices:
    """Ids in config order, each with the label the form shows; ``problem`` when none could be read."""

    labels: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None

    @property
    def ids(self) -> list[str]:
        return list(self.labels)


def _items(value: Any) -> Iterator[Mapping[str, Any]]:
    # Unvalidated data: skip whatever is not a mapping with a string id (the tasks report it).
    for item in value if isinstance(value, list | tuple) else ():
        if isinstance(item, Mapping) and isinstance(item.get("id"), str) and item["id"]:
            yield item


def _label(system: Mapping[str, Any], customer: Mapping[str, Any]) -> str:
    name = system.get("name") or system["id"]
    return f"{system['id']} · {name} ({customer.get('name') or customer['id']})"


def _read(data: Mapping[str, Any] | None) -> tuple[list[Mapping[str, Any]], str | None]:
    """The customers of ``data`` (a task's loaded configuration, dumped), else of the YAML file
    (a DAG file being parsed)."""
    if data is None:
        path = config_path()
        try:
            data, _ = read_yaml(path)
        except (ConfigError, OSError) as exc:
            return [], f"the configuration could not be read when this form was built ({exc})"
    return list(_items(data.get("customers"))), None


def system_choices(purpose: Purpose, data: Mapping[str, Any] | None = None) -> Choices:
    """The systems a run of ``purpose`` can act on (in ``data``, else in the YAML file).

    One statement of the rule for the form and for the task's check of it: a task passes its
    loaded configuration (``cfg.model_dump()``), so it reads no file again.

    ``restore``: systems with a ``backup`` section; ``trunk_check``: systems whose customer
    consented to monitoring and that have trunks or AMI spans to check.
    """
    customers, problem = _read(data)
    labels: dict[str, str] = {}
    for customer in customers:
        if purpose == "trunk_check" and customer.get("monitoring") is not True:
            continue
        for system in _items(customer.get("systems")):
            if purpose == "restore":
                wanted = isinstance(system.get("backup"), Mapping)
            else:
                ami = system.get("ami")
                wanted = bool(list(_items(system.get("trunks")))) or (
                    isinstance(ami, Mapping) and bool(ami.get("spans"))
                )
            if wanted:
                labels[system["id"]] = _label(system, customer)
    if not labels and problem is None:
        problem = f"no system in {config_path()} qualifies for this run"
    return Choices(labels, problem)


def trunk_choices(system_id: str | None = None, data: Mapping[str, Any] | None = None) -> Choices:
    """The trunks of the systems a trunk check covers (of ``system_id`` only, if given):
    ``id -> "id · SIP · system"``."""
    customers, problem = _read(data)
    labels: dict[str, str] = {}
    for customer in customers:
        if customer.get("monitoring") is not True:
            continue
        for system in _items(customer.get("systems")):
            if system_id and system["id"] != system_id:
                continue
            for trunk in _items(system.get("trunks")):
                kind = str(trunk.get("kind") or "sip").upper()
                labels[trunk["id"]] = f"{trunk['id']} · {kind} · {system['id']}"
    if not labels and problem is None:
        problem = f"no monitored trunk in {config_path()}"
    return Choices(labels, problem)


__all__ = ["Choices", "system_choices", "trunk_choices"]
