"""The manual-run forms: id fields with the configured choices, and the check a task makes of them.

Import-light on purpose (DAG files call :func:`id_param` at parse time): ``airflow.sdk.Param``
and :mod:`xop.core.formchoices`, which peeks at the YAML config without validating it.

A field offers the ids as a drop-down (``enum``, labelled by ``values_display``), so the UI and
the REST API refuse an unknown id before a run exists (Airflow's message names the field and
lists the ids). When the config could not be read at parse time the field takes free text and
says why. Either way the task checks the value again with :func:`check_choice` against the
configuration it runs with: a wrong id fails at once, naming the field and the valid ids,
and is not retried (a retry would read the same form).
"""

from __future__ import annotations

from typing import Any, NoReturn

from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException

from xop.core.formchoices import Choices

#: values_display key of the empty choice (the UI looks labels up by the JSON value, ``null``)
NULL_KEY = "null"


def id_param(
    choices: Choices,
    *,
    title: str,
    description: str,
    optional: str | None = None,
) -> Param:
    """A string field choosing one of ``choices``.

    ``optional`` (the label of the empty choice, e.g. "every monitored system") makes the field
    nullable with ``None`` as its default; otherwise it is required and defaults to ``""``
    (which no id equals, so the form asks for one).
    """
    schema: dict[str, Any] = {"type": ["null", "string"] if optional else "string"}
    default = None if optional else ""
    if choices.labels:
        schema["enum"] = ([None] if optional else []) + choices.ids
        schema["values_display"] = ({NULL_KEY: optional} if optional else {}) | dict(choices.labels)
    else:
        description = f"{description} (type the id: {choices.problem})"
    return Param(default, title=title, description=description, **schema)


def refuse(field: str, message: str) -> NoReturn:
    """Fail the task for good: the form's ``field`` is wrong (a retry would read the same form)."""
    raise AirflowFailException(f"params.{field}: {message}")


def check_choice(field: str, value: str | None, choices: Choices, *, what: str, why: str = "") -> str:
    """``value`` if it is one of ``choices``, else :func:`refuse` naming the valid ids.

    ``what`` says what the ids are ("a system with a backup section"); ``why`` may add why this
    value is not one (its customer's consent, say).
    """
    value = (value or "").strip()
    if value in choices.labels:
        return value
    valid = ", ".join(choices.ids) if choices.labels else f"none ({choices.problem})"
    shown = repr(value) if value else "nothing"
    refuse(field, f"{shown} is not {what}{f' ({why})' if why else ''}; valid: {valid}")


__all__ = ["NULL_KEY", "check_choice", "id_param", "refuse"]
