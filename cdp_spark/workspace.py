"""The workspace: everything a run writes lives below one root, nothing outside.

The root is the ``workspace`` setting, of one of two kinds:

* a local folder: a path, or a ``file:`` URI (``file:///srv/cdp``), made absolute;
* a URI on another file system (``s3://bucket/cdp``, ``abfss://c@account.dfs.core.windows.net/cdp``,
  ``gs://``, ``dbfs:/mnt/cdp``, ``hdfs://namenode/cdp`` ...), kept as it was given, trailing
  slashes aside. It must not go through :class:`~pathlib.Path`, which reads ``s3://b/cdp`` as
  the relative folder ``s3:/b/cdp``.

:attr:`Workspace.root_uri`, :meth:`Workspace.uri` and :meth:`Workspace.table_uri` are what
storage and Spark receive, for both kinds. The :class:`~pathlib.Path` properties (``root``,
``landing``, ``locks`` ...) serve code that works on the local file system (listing landing
files, the run lock, the generator, reports) and raise
:class:`~cdp_spark.errors.WorkspaceNotLocalError` on a URI root.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cdp_spark.errors import ConfigError, WorkspaceNotLocalError

# Two characters at least, so that a Windows drive (``C:\cdp``) stays a path.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_LOCAL_HOSTS = ("", "localhost")


def _scheme(text: str) -> str | None:
    match = _SCHEME.match(text)
    return match.group(1).lower() if match else None


def _normalise(root: str | Path) -> str:
    """An absolute local path, or the URI without trailing slashes; see the module docstring.

    A :class:`Path` is local by definition (``Path("s3://b")`` has already lost the URI).
    """
    if isinstance(root, Path):
        return str(root.resolve())
    scheme = _scheme(root)
    if scheme is None:
        return str(Path(root).resolve())
    rest = root[len(scheme) + 1 :]
    if not rest.strip("/"):
        raise ConfigError(
            [f'workspace: expected a location after "{root}", such as s3://bucket/cdp or file:///srv/cdp']
        )
    if scheme != "file":
        return root.rstrip("/")
    parts = urlsplit(root)
    if parts.netloc not in _LOCAL_HOSTS:
        raise ConfigError(
            [
                f'workspace: "{root}" names host {parts.netloc!r}; a file: URI must be local '
                "(file:///path or file:/path); use the host's own URI scheme (hdfs://, s3:// ...) instead"
            ]
        )
    return str(Path(unquote(parts.path)).resolve())


@dataclass(frozen=True)
class Workspace:
    """Where a run's files and tables live; see the layout in README.md.

    Build it with :meth:`at`. ``root_uri`` is the absolute path of a local workspace, or its
    URI (``s3://bucket/cdp``) otherwise.
    """

    root_uri: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root_uri", _normalise(self.root_uri))

    @classmethod
    def at(cls, root: str | Path) -> Workspace:
        """``/srv/cdp``, ``.cdp_workspace``, ``file:///srv/cdp``, ``s3://bucket/cdp``, ``dbfs:/mnt/cdp`` ..."""
        return cls(_normalise(root))

    # ------------------------------------------------------------------ any root

    @property
    def scheme(self) -> str | None:
        """The URI scheme of a non-local root (``s3``, ``abfss``, ``dbfs`` ...); None when local."""
        return _scheme(self.root_uri)

    @property
    def is_local(self) -> bool:
        """True when the root is a folder on this machine's file system (or a mount of it)."""
        return self.scheme is None

    def uri(self, *parts: str) -> str:
        """``parts`` below the root, joined with ``/``: ``uri("lake", "gold")`` → ``s3://b/cdp/lake/gold``."""
        base = Path(self.root_uri).as_posix() if self.is_local else self.root_uri
        return "/".join([base.rstrip("/"), *parts]) if parts else base

    def table_uri(self, name: str) -> str:
        """Where a store keeps a table: ``bronze.web_events`` → ``<root>/lake/bronze/web_events``."""
        layer, _, table = name.partition(".")
        return self.uri("lake", layer, table)

    # ------------------------------------------------------------------ local roots only

    def require_local(self, purpose: str) -> Path:
        """The root as a local :class:`Path`; raises, naming ``purpose``, when it is a URI."""
        if self.is_local:
            return Path(self.root_uri)
        raise WorkspaceNotLocalError(
            f"{purpose} needs the workspace on a local (or mounted) file system, but workspace is "
            f"{self.root_uri}, a {self.scheme}: URI (its tables are for the cluster runtime only). Fix: set `workspace` (--workspace, CDP_SPARK_WORKSPACE or CDP_SPARK__WORKSPACE) "
            "to a local folder, or to a file system mounted at the same path on the driver and executors."
        )

    @property
    def root(self) -> Path:
        return self.require_local("local file access to the workspace")

    @property
    def landing(self) -> Path:
        return self.require_local("listing and writing landing files (landing/)") / "landing"

    @property
    def truth(self) -> Path:
        return self.require_local("the generator's ground truth (truth/)") / "truth"

    @property
    def lake(self) -> Path:
        return self.require_local("listing lake tables on disk (lake/)") / "lake"

    @property
    def locks(self) -> Path:
        return self.require_local("the per-date run lock (locks/)") / "locks"

    @property
    def reports(self) -> Path:
        return self.require_local("writing reports (reports/)") / "reports"

    @property
    def exports(self) -> Path:
        return self.require_local("writing exports (exports/)") / "exports"

    @property
    def bench(self) -> Path:
        return self.require_local("benchmarks (bench/)") / "bench"

    @property
    def checkpoints(self) -> Path:
        return self.require_local("the Spark checkpoint folder (checkpoints/)") / "checkpoints"

    @property
    def mlflow_uri(self) -> str:
        """The SQLite MLflow tracking store ``<root>/mlflow.db``."""
        return f"sqlite:///{self.require_local('the MLflow SQLite store (mlflow.db)') / 'mlflow.db'}"

    def table_path(self, name: str) -> Path:
        """The folder of a table on local disk; :meth:`table_uri` works for any root."""
        layer, _, table = name.partition(".")
        return self.lake / layer / table
