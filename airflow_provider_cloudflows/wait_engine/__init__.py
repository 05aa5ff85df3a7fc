"""The machinery every wait shares, whichever task waits: its hook, and its worker side.

``hook_factory`` builds a wait's hook for the worker and the triggerer alike; ``worker`` holds what sensors
and operators do on the worker (one bounded check, the deferral's own timeout, the trigger's event turned
into the task's outcome). Nothing is imported here, so the triggers can use the hook factory without loading
the worker side.
"""
