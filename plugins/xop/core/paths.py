"""Where the pipeline's files are: the repository root and the folders under it.

Every module that needs a path of the checkout (SQL, templates, config, ``var/``) takes it from
here, so moving a module never changes what it reads.
"""

from __future__ import annotations

from pathlib import Path

#: The checkout (or the image's ``/opt/airflow``): ``plugins/xop/core/paths.py`` is three below it.
REPO_ROOT = Path(__file__).resolve().parents[3]
INCLUDE = REPO_ROOT / "include"
SQL_DIR = INCLUDE / "sql"
TEMPLATES_DIR = INCLUDE / "templates"
CONFIG_DIR = INCLUDE / "config"
VAR_DIR = REPO_ROOT / "var"
