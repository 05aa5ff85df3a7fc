"""The worker side every wait shares, whichever task waits (``worker``): one bounded check, the deferral's own
timeout, and the trigger's event turned into the task's outcome."""
