"""Reports: the markdown table of a report's numbers, and reading a report.json back."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def markdown(res: dict[str, Any], title: str) -> str:
    """The report's headline numbers as a markdown table, with the 95% interval where there is one."""
    lines = [f"## {title}", "", "| metric | value | 95% interval |", "| --- | --- | --- |"]
    for k, v in res.items():
        if k == "examples" or isinstance(v, (dict, list)):
            continue
        ci = res.get(f"{k}_ci95")
        shown = f"{v:.3f}" if isinstance(v, float) else f"{v}"
        lines.append(f"| {k} | {shown} | {f'{ci[0]:.3f}-{ci[1]:.3f}' if ci else ''} |")
    return "\n".join(lines) + "\n"


def read_report(path: Path) -> dict[str, Any]:
    """A report.json, given as the file or its folder."""
    file = path / "report.json" if path.is_dir() else path
    try:
        return json.loads(file.read_text())
    except FileNotFoundError:
        raise ValueError(f"{file}: no such report; pass a report.json written by sam-eval, or its folder") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{file}: not a JSON report ({e}); pass a report.json written by sam-eval") from None
