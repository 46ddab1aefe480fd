"""The workspace folder: everything a run writes lives below it, nothing outside."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    """Paths under ``--workspace``; see the layout in README.md."""

    root: Path

    @classmethod
    def at(cls, root: str | Path) -> Workspace:
        return cls(Path(root).resolve())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def truth(self) -> Path:
        return self.root / "truth"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def bench(self) -> Path:
        return self.root / "bench"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def mlflow_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    def table_path(self, name: str) -> Path:
        """``bronze.web_events`` → ``<root>/lake/bronze/web_events``."""
        layer, _, table = name.partition(".")
        return self.lake / layer / table
