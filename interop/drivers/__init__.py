# One module per client library; each one runs a single scenario per process (see harness.py).
