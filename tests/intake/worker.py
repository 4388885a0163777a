"""An intake run in its own process, for the crash and parallel-run tests.

``python -m tests.intake.worker DB_URL CONFIG NOW [KILL_AFTER]``: with KILL_AFTER = n, the process
kills itself with SIGKILL right after the n-th message's commit, before its move.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime


def main() -> None:
    from xop.core.config import load_config
    from xop.db.engine import engine_from_url
    from xop.intake.run import run_intake

    url, config, now = sys.argv[1:4]
    kill_after = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    committed = 0

    def on_committed(uid: int) -> None:
        nonlocal committed
        committed += 1
        if kill_after and committed >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    stats = run_intake(
        engine_from_url(url), load_config(config), now=datetime.fromisoformat(now), on_committed=on_committed
    )
    print(json.dumps(stats.as_dict()))


if __name__ == "__main__":
    main()
