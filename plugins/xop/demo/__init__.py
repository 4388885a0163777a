"""The quickstart: run every DAG once on the embedded default (``make demo``), or the UI."""
