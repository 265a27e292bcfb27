"""Writing a benchmark's results: the Markdown file the README links, echoed to the terminal."""

from __future__ import annotations

from pathlib import Path


def write_results(path: Path, lines: list[str]) -> None:
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
