"""Airflow hooks of the pipeline's own connection types: what Admin → Connections offers.

=================  ===================================  ==========================================
conn_type          hook                                 Test button runs
=================  ===================================  ==========================================
``xop_ftps``       :class:`~xop.hooks.hooks.XopFtpsHook`      login (AUTH TLS, PROT P) and ``PWD``
``xop_sip_trunk``  :class:`~xop.hooks.hooks.XopSipTrunkHook`  the trunk check's ``OPTIONS`` probe
``xop_ami``        :class:`~xop.hooks.hooks.XopAmiHook`       the trunk check's AMI ``Login``/``Logoff``
``xop_sysdb``      :class:`~xop.hooks.hooks.XopSystemDbHook`  ``SELECT 1``
=================  ===================================  ==========================================

The layer sits above the features so that each Test button runs the feature's own exchange with
the peer (one SIP and one AMI implementation, in :mod:`xop.trunks`), never a second copy. The
hooks read their connections through the settings classes of :mod:`xop.connections`. The fields
and labels are declared once, in the ``xop-provider-info`` distribution
(``providers/xop-provider-info``), which Airflow's providers manager reads; it names these classes
by their dotted path and imports them only when a connection of the type is used.
"""

from __future__ import annotations

from xop.hooks.hooks import XopAmiHook, XopFtpsHook, XopSipTrunkHook, XopSystemDbHook

__all__ = ["XopAmiHook", "XopFtpsHook", "XopSipTrunkHook", "XopSystemDbHook"]
