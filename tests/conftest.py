# regopy (rego-cpp) must be loaded before greenlet (pulled in by gevent, pyinfra's event
# loop): loaded the other way round the two native libraries corrupt each other's heap
# ("free(): invalid pointer", then an abort). This file loads before any test module.
# The host checks (tests/host, also run by edgewasm-check on a management host) need no
# Rego engine: where regopy is not installed there is nothing to order.
try:
    import regopy  # noqa: F401
except ImportError:
    pass
