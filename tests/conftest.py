# regopy (rego-cpp) must be loaded before greenlet (pulled in by gevent, pyinfra's event
# loop): loaded the other way round the two native libraries corrupt each other's heap
# ("free(): invalid pointer", then an abort). This file loads before any test module.
# The host checks (edgewasm/compliance/checks) are outside tests/ and never load this
# file; where regopy is not installed (no test extra) there is nothing to order.
try:
    import regopy  # noqa: F401
except ImportError:
    pass
