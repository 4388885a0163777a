"""The base of the pipeline's Airflow hooks (:mod:`xop.hooks`): connection id, labels, Test button.

Kept here, in the one layer that touches Airflow connections, so that the hooks above only
subclass it and read their connections through this layer's settings classes. The labels come
from the ``xop-provider-info`` declaration (``providers/xop-provider-info``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseHook
from xop_provider_info import CONNECTION_TYPES

from xop.core.errors import ConfigError


class XopHookBase(BaseHook):
    """``conn_name_attr``, ``default_conn_name``, ``conn_type`` and ``hook_name`` as Airflow's
    providers manager reads them; ``test_connection`` turns a bad setting into ``(False, why)``."""

    conn_name_attr: ClassVar[str]
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.conn_id = kwargs.pop(self.conn_name_attr, None) or conn_id or self.default_conn_name
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The standard fields' labels, placeholders and hidden ones.

        Airflow 3.2+ reads the same table declaratively and does not call this; it stays for
        callers of the classic hook API."""
        behaviour = CONNECTION_TYPES[cls.conn_type]["ui-field-behaviour"]
        return {
            "hidden_fields": list(behaviour.get("hidden-fields", [])),
            "relabeling": dict(behaviour.get("relabeling", {})),
            "placeholders": dict(behaviour.get("placeholders", {})),
        }

    def test_connection(self) -> tuple[bool, str]:
        try:
            return self._test()
        except ConfigError as exc:
            return False, str(exc)

    def _test(self) -> tuple[bool, str]:
        raise NotImplementedError


__all__ = ["XopHookBase"]
