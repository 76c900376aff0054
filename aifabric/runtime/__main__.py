"""The detached supervisor process that ``aifabric up`` starts."""

from __future__ import annotations

import logging
import os
import signal

from aifabric.config import get_settings
from aifabric.runtime.stack import bootstrap_storage
from aifabric.runtime.supervisor import Supervisor, default_stages


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    extra = []
    if os.environ.get("AIFABRIC_SIMULATORS") == "1":
        from aifabric.adapters.simulators import simulator_specs

        extra = simulator_specs(settings)
    stages = default_stages(settings, extra)

    def after(i: int) -> None:
        if i == 0:  # S3 (embedded or external) answers from the first stage on
            bootstrap_storage(settings)

    sup = Supervisor(settings, stages, after_stage=after)
    signal.signal(signal.SIGTERM, lambda *_: sup.request_stop())
    signal.signal(signal.SIGINT, lambda *_: sup.request_stop())
    try:
        sup.start()
        sup.wait()
    finally:
        sup.stop()


if __name__ == "__main__":
    main()
