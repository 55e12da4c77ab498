"""`probe checks`: the check catalogue with its standard references (and, with --json, the
remediation each check's baseline entry gives)."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def checks_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalogue as JSON.")] = False,
) -> None:
    """The check catalogue: id, capability, 8259A elements, EN 303 645, OWASP IoT, severity."""
    import json as _json
    import sys

    from lanprobe.baseline import load_baseline
    from lanprobe.runner import load_catalogue

    catalogue, missing = load_catalogue()
    base = load_baseline()
    rows: list[dict[str, Any]] = []
    for cid in sorted(set(catalogue) | set(base.checks)):
        cdef = base.checks.get(cid)
        spec = catalogue.get(cid)
        rows.append(
            {
                "id": cid,
                "capability": (spec.capability if spec else cdef.capability).value,  # type: ignore[union-attr]
                "nistir_8259a": cdef.elements if cdef else [],
                "en_303_645": cdef.en_303_645 if cdef else [],
                "owasp_iot": cdef.owasp_iot if cdef else [],
                "severity": cdef.severity.value if cdef else "medium",
                "services": list(spec.services) if spec else [],
                "bench": bool(spec and spec.bench),
                "registered": spec is not None,
                "description": spec.description if spec else "",
                "remediation": cdef.remediation if cdef else "",
            }
        )
    if as_json:
        typer.echo(_json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} checks, baseline {base.id} {base.version}")
    for col in ("id", "capability", "8259A", "EN 303 645", "OWASP IoT", "severity"):
        table.add_column(col)
    for row in rows:
        mark = "" if row["registered"] else " (not registered)"
        table.add_row(
            row["id"] + mark,
            row["capability"],
            ", ".join(row["nistir_8259a"]),
            ", ".join(row["en_303_645"]) or "-",
            ", ".join(row["owasp_iot"]) or "-",
            row["severity"],
        )
    Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160).print(table)
    if missing:
        typer.echo(f"note: check modules not present: {', '.join(missing)}", err=True)
