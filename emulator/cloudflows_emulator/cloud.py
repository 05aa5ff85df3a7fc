"""``CloudEmulator``: the vendor-neutral :class:`~cloudflows_emulator.core.emulator.Emulator` serving every
built-in vendor unless told otherwise.

The core is given its handlers; this module is where the default set is chosen, above both the core and the
vendor packages, so neither has to import the other to build one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from airflow_provider_cloudflows.credentials import Credentials
from cloudflows_emulator.core.emulator import Emulator
from cloudflows_emulator.core.handler import VendorHandler
from cloudflows_emulator.vendors import default_handlers

__all__ = ["CloudEmulator"]


class CloudEmulator(Emulator):
    """The emulated clouds' state and control surface; see :class:`Emulator` for the arguments.

    ``handlers`` None serves every built-in vendor (:func:`~cloudflows_emulator.vendors.default_handlers`).
    """

    def __init__(
        self,
        *,
        handlers: Sequence[VendorHandler] | None = None,
        credentials: Mapping[str, Iterable[Credentials]] | None = None,
        rate_limits: Mapping[tuple[str, str], int | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            handlers=default_handlers() if handlers is None else handlers,
            credentials=credentials,
            rate_limits=rate_limits,
            clock=clock,
            wall_clock=wall_clock,
        )
