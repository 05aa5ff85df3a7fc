"""The vendors the emulator serves by default, assembled in the order requests are routed.

Adding an API: write its module in its vendor package and list it in that package's ``api_handler``.
Adding a vendor: write its package (``protocol``, products, ``api_handler``, ``metadata_handlers``) and add
it here.
"""

from __future__ import annotations

from cloudflows_emulator import alibaba, huawei, tencent
from cloudflows_emulator.core.handler import VendorHandler

__all__ = ["default_handlers"]


def default_handlers() -> list[VendorHandler]:
    """Fresh instances of every built-in vendor handler with its services."""
    return [
        tencent.api_handler(),
        alibaba.api_handler(),
        huawei.api_handler(),
        # The metadata services answer unsigned paths no API handler claims: tried last.
        *tencent.metadata_handlers(),
        *alibaba.metadata_handlers(),
        *huawei.metadata_handlers(),
    ]
