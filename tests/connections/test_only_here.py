"""Nothing outside ``xop.connections`` reads an Airflow connection (issue 11/20).

import-linter's layer contract keeps imports pointing down; this test keeps the reading itself
in one place: no other module calls ``get_connection`` or builds a provider hook.
"""

from __future__ import annotations

import re

from xop.core.paths import REPO_ROOT

READS = re.compile(
    r"BaseHook|\.get_connection\(|Connection\.get\(|"
    r"providers\.(postgres|ssh|smtp|ftp|imap)\.hooks\.\w+ import (?!.*TYPE_CHECKING)"
)


def test_connections_are_read_only_in_the_connections_layer():
    offenders = []
    for path in sorted((REPO_ROOT / "plugins" / "xop").rglob("*.py")):
        if "connections" in path.relative_to(REPO_ROOT / "plugins" / "xop").parts[:1]:
            continue
        in_type_checking = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith("if TYPE_CHECKING:"):
                in_type_checking = True
                continue
            if in_type_checking and line and not line.startswith(" "):
                in_type_checking = False
            if not in_type_checking and READS.search(line) and not line.lstrip().startswith(("#", ":")):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    for path in sorted((REPO_ROOT / "dags").glob("*.py")):
        offenders += [
            f"{path.name}: {line.strip()}" for line in path.read_text().splitlines() if READS.search(line)
        ]
    assert not offenders, "read connections through xop.connections:\n" + "\n".join(offenders)
