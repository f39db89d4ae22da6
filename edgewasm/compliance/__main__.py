"""``python -m edgewasm.compliance INVENTORY ...``: edgewasm-check (edgewasm.compliance.cli),
exiting 2 also when it cannot even start: an import that fails (a broken install, a
missing wheel) ends Python with its own status for an uncaught exception, 1, which
edgewasm-check means as "not compliant" and the nightly unit counts a successful run.
The nightly unit runs this (templates/check/edgewasm-check.service.j2).
"""

import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    try:
        # Imported here, not at the top: an import that fails must exit 2, not Python's 1.
        from edgewasm.compliance import cli
    except BaseException:  # noqa: BLE001 - whatever stops the import, the check did not run
        traceback.print_exc()
        print("edgewasm-check: CRASHED while starting, no report written (exit 2): the installation is broken; "
              "fix: run the nightly deploy again (it rebuilds the venv)", file=sys.stderr)
        return 2
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
