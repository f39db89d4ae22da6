# regopy (rego-cpp) must be loaded before greenlet (pulled in by gevent, pyinfra's event
# loop): loaded the other way round the two native libraries corrupt each other's heap
# ("free(): invalid pointer", then an abort). This file loads before any test module.
import regopy  # noqa: F401
