"""The 4 am audit: usage from call detail records, health probes, backup, one emailed report.

Modules: :mod:`.days` (the audited local day), :mod:`.usage` (CDR figures; SQL in
``include/sql/audit_*.sql``), :mod:`.health` with :mod:`.hosts` (local / SSH runners),
:mod:`.probes_network`, :mod:`.probes_host` and :mod:`.findings`, :mod:`.tables`, :mod:`.report`
(template in ``include/templates/audit``) and :mod:`.run` (one run: plan, one system, the report;
called by :mod:`xop.tasks.audit`). Its settings are :mod:`xop.core.specs.audit`.
"""
