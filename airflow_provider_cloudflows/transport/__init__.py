"""HTTP transport: signed requests over shared httpx pools, typed errors and bounded retries."""
