"""Jinja2 templates for every file edgewasm puts on a host (and its compliance reports), installed with edgewasm as the
package ``edgewasm.templates`` (pyproject.toml maps it here), so deploys find them from
any working directory.

    host_files.template(src="k3s/config.yaml.j2", ...)            # on a host (operations/host_files.py)
    templates.render("policies/constraints.yaml.j2", **values)       # in memory
"""

from __future__ import annotations

from pathlib import Path

import jinja2

DIR = Path(__file__).resolve().parent

# Only HTML (the compliance report) is escaped: a host's message must never become markup.
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(DIR)), undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True, autoescape=jinja2.select_autoescape(["html.j2"]))


def path(template: str) -> str:
    """Absolute path of a template (for pyinfra operations that take a path)."""
    found = DIR / template
    if not found.is_file():
        raise FileNotFoundError(f"no template {template} in {DIR}")
    return str(found)


def render(template: str, /, **values) -> str:
    return _env.get_template(template).render(**values)
