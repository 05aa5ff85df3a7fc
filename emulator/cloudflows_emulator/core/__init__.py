"""The emulator's core: what every emulated cloud shares, knowing no vendor.

``executions`` (scripted timelines and their store), ``faults`` (the injectable failures), ``accounts``
(keys, issued keys, nonces), ``limits`` (the provider's quota table, enforced per account), ``request_log``,
``handler`` (the vendor handler contract and its request pipeline), ``responses`` (the replies of
transport-level faults), ``metadata`` (the base of instance metadata services), ``app`` (the ASGI app and
the control API) and ``emulator`` (the facade over them). Vendor packages build on it; it imports none.
"""
