"""``edgewasm-deploy``: run the installed deploys without knowing where pip put them.

    edgewasm-deploy inventories/site-a.py -y              # = pyinfra INVENTORY deploys/full_stack.py -y
    edgewasm-deploy --uninstall inventories/site-a.py --limit edge-7

Everything after the inventory goes to pyinfra unchanged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEPLOYS = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    deploy_file = DEPLOYS / "full_stack.py"
    if args[:1] == ["--uninstall"]:
        deploy_file = DEPLOYS / "uninstall.py"
        args = args[1:]
    if not args or args[0].startswith("-"):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    inventory, *pyinfra_args = args
    os.execv(sys.executable, [sys.executable, "-m", "pyinfra", inventory, str(deploy_file), *pyinfra_args])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
