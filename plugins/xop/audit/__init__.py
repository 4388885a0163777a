"""The 4 am audit: usage from call detail records, health probes, backup, one emailed report.

Modules: :mod:`.spec` (settings), :mod:`.days` (the audited local day), :mod:`.usage` (CDR
figures; SQL in ``include/sql/audit_*.sql``), :mod:`.health` with :mod:`.hosts` (local / SSH
runners), :mod:`.probes_network`, :mod:`.probes_host` and :mod:`.findings`, :mod:`.tables`,
:mod:`.report` (template in ``include/templates/audit``), :mod:`.run` (the DAG's task bodies),
:mod:`.schedule` (its timetable), :mod:`.sample_cdr` (Asterisk-style CDRs for demo and tests).
Kept import-light: the configuration imports :mod:`.spec` at DAG parse time.
"""
