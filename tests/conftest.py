# regopy (rego-cpp) must be loaded before greenlet (pulled in by gevent, pyinfra's event
# loop): loaded the other way round the two native libraries corrupt each other's heap
# ("free(): invalid pointer", then an abort). This file loads before any test module.
# The host checks (edgewasm/compliance/checks) are outside tests/ and never load this
# file; where regopy is not installed (no test extra) there is nothing to order.
try:
    import regopy  # noqa: F401
except ImportError:
    pass

# The editable install maps edgewasm.templates to the checkout it was installed from
# (setuptools' editable finder); tests run in another worktree of the repository (their
# pythonpath is ".") must render that worktree's templates, not the installed checkout's.
import importlib.util  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import edgewasm  # noqa: E402

_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
if "edgewasm.templates" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("edgewasm.templates", _TEMPLATES / "__init__.py",
                                                   submodule_search_locations=[str(_TEMPLATES)])
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["edgewasm.templates"] = _module
    _spec.loader.exec_module(_module)
    edgewasm.templates = _module
