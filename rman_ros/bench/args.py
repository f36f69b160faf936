"""Small argument helpers shared by the benchmark's commands (no imports of the commands themselves)."""
from __future__ import annotations

from typing import List, Optional


def split_csv(text: Optional[str]) -> Optional[List[str]]:
    """'a, b,,c' -> ['a', 'b', 'c']; None or '' -> None."""
    if not text:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]
