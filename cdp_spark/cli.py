"""The ``cdp-spark`` command.

Exit codes: 0 success, 1 a stage or command failed, 2 configuration invalid, 3 runtime
unavailable (Java, jars), 4 quality gate, 5 another run holds the date's lock. ``run`` ends
with one ``CDP_RUN status=...`` line on stdout that schedulers can parse.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from cdp_spark import __version__
from cdp_spark.config import Config, load_config
from cdp_spark.errors import CdpSparkError
from cdp_spark.logs import configure_logging

if TYPE_CHECKING:
    from cdp_spark.facade import Cdp

log = logging.getLogger("cdp_spark.cli")
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="cdp-spark",
    help="Customer Data Platform on Spark and Delta Lake: ingest, cleanse, resolve identities, build profiles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks; each writes a JSON result file.", no_args_is_help=True)
table_app = typer.Typer(help="Inspect and maintain lake tables.", no_args_is_help=True)
profile_app = typer.Typer(help="Customer 360 profiles.", no_args_is_help=True)
identity_app = typer.Typer(help="Identity resolution maintenance.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(table_app, name="table")
app.add_typer(profile_app, name="profile")
app.add_typer(identity_app, name="identity")


class _State:
    config_path: Path | None = None
    workspace: str | None = None
    log_level: str = "INFO"


state = _State()


@app.callback()
def _main(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Main config file (default conf/local.yaml or $CDP_SPARK_CONFIG)."
    ),
    workspace: str | None = typer.Option(
        None,
        "--workspace",
        "-w",
        help="Workspace folder, or URI (s3://, abfss://, dbfs:/ ... with the cluster runtime); overrides config and $CDP_SPARK_WORKSPACE.",
    ),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    state.config_path = config
    state.workspace = workspace
    state.log_level = log_level
    configure_logging(log_level)


def _config(extra: dict[str, Any] | None = None) -> Config:
    overrides: dict[str, Any] = dict(extra or {})
    if state.workspace:
        overrides["workspace"] = state.workspace
    return load_config(state.config_path, overrides=overrides)


def _context(extra: dict[str, Any] | None = None) -> Any:
    from cdp_spark.context import CdpContext

    return CdpContext.create(_config(extra))


def _fail(exc: BaseException) -> typer.Exit:
    code = exc.exit_code if isinstance(exc, CdpSparkError) else 1
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(code)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date as YYYY-MM-DD, got {value!r}") from None


@app.command()
def version() -> None:
    """Print the cdp-spark, Spark and delta-rs versions (does not start Spark)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as pkg_version

    def v(name: str) -> str:
        try:
            return pkg_version(name)
        except PackageNotFoundError:
            return "not installed"

    console.print(f"cdp-spark {__version__}")
    for name in ("pyspark", "deltalake", "pyarrow", "mlflow", "delta-spark", "graphframes-py"):
        console.print(f"  {name} {v(name)}")


@app.command()
def validate() -> None:
    """Check every config file without starting Spark; report all problems at once."""
    try:
        config = _config()
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    console.print(f"[green]ok[/] {config.source}: workspace={config.workspace}")
    for name in sorted(config.domains):
        console.print(f"[green]ok[/] {config.conf_dir}/{name}")
    from cdp_spark.pipeline import registered_stages

    console.print(f"stages: {', '.join(registered_stages()) or '(none registered)'}")


@app.command()
def doctor() -> None:
    """Check Java, Spark, the runtime, optional jars, the workspace and the MLflow store."""
    problems = 0
    try:
        config = _config()
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    from cdp_spark.session import find_java

    try:
        java = find_java()
        console.print(
            f"[green]ok[/] Java {java.version} from {java.source} ({java.runtime_home or java.home})",
            highlight=False,
        )
        for line in java.explain():
            console.print(f"    {line}", highlight=False, markup=False)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    from cdp_spark.workspace import Workspace

    try:
        ws = Workspace.at(config.workspace)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    if ws.is_local:
        try:
            ws.root.mkdir(parents=True, exist_ok=True)
            probe = ws.root / ".doctor-probe"
            probe.write_text("ok")
            probe.unlink()
            console.print(f"[green]ok[/] workspace {ws.root} is writable")
        except OSError as exc:
            problems += 1
            console.print(f"[red]!![/] workspace {ws.root} is not writable: {exc}")
    else:
        console.print(
            f"[yellow]--[/] workspace {ws.root_uri} is a {ws.scheme}: URI: not probed from here; "
            "its tables need the cluster runtime",
            highlight=False,
        )
    try:
        ctx = _context()
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    rt = ctx.runtime
    console.print(f"[green]ok[/] Spark {rt.spark_version} master={rt.master}")
    console.print(f"[green]ok[/] runtime: [bold]{rt.kind}[/] ({rt.reason})")
    console.print(
        f"    delta-spark: {rt.delta_spark_version or 'not on classpath (embedded runtime uses delta-rs)'}"
    )
    console.print(
        f"    GraphFrames: {'on classpath' if rt.graphframes_available else 'not on classpath (native connected components)'}"
    )
    for warning in rt.warnings:
        problems += 1
        console.print(f"[yellow]!![/] {warning}")
    _doctor_sizing(ctx)
    try:
        import deltalake

        console.print(f"[green]ok[/] deltalake (delta-rs) {deltalake.__version__}")
    except ImportError:
        problems += 1
        console.print("[red]!![/] deltalake is not installed")
    try:
        import mlflow

        store = ctx.workspace.mlflow_uri if ctx.workspace.is_local else "none (needs a local workspace)"
        console.print(f"[green]ok[/] MLflow {mlflow.__version__}, tracking store {store}")
    except ImportError:
        problems += 1
        console.print("[red]!![/] mlflow is not installed")
    console.print(
        f"CDP_DOCTOR status={'ok' if problems == 0 else 'warnings'} runtime={rt.kind} problems={problems}"
    )


def _doctor_sizing(ctx: Any) -> None:
    """What a run of today would get from spark.sizing, and what each size class sets."""
    from datetime import date as _date

    from cdp_spark.pipeline import landing_subdir
    from cdp_spark.sizing import choose, small_input_conf

    spark_settings = ctx.config.settings.spark
    sizing = choose(ctx.spark, spark_settings, ctx.workspace, landing_subdir(ctx), _date.today())
    console.print(f"[green]ok[/] spark sizing: {spark_settings.sizing}; a run today: {sizing.describe()}")
    small = ", ".join(f"{k}={v}" for k, v in sorted(small_input_conf(ctx.spark, spark_settings).items()))
    console.print(
        f"    small input (<= {spark_settings.small_input_mb} MB landed): {small or 'nothing to change'}"
    )
    console.print("    large input: the session's own settings", highlight=False)


def _cdp() -> Cdp:
    from cdp_spark.facade import Cdp

    return Cdp(_config())


@app.command()
def stages() -> None:
    """List the registered stages with their groups (conf/pipelines.yaml) and dependencies."""
    from cdp_spark.groups import group_stages
    from cdp_spark.pipeline import registered_stages

    groups = group_stages(_config())
    member = {n: [g for g, spec in groups.items() if n in spec.stages] for n in registered_stages()}
    table = Table("groups", "stage", "depends on", "description")
    for st in registered_stages().values():
        table.add_row(
            ", ".join(member[st.name]) or "-", st.name, ", ".join(st.depends_on) or "-", st.description
        )
    console.print(table)


@app.command()
def plan(target: str = typer.Argument(..., help="A group of conf/pipelines.yaml, or one stage.")) -> None:
    """Print the stages ``run TARGET`` would execute, in order, without starting Spark."""
    from cdp_spark.groups import group_stages
    from cdp_spark.pipeline import registered_stages

    try:
        cdp = _cdp()
        names = cdp.plan(target)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    stages_by_name = registered_stages()
    spec = group_stages(cdp.config).get(target)
    if spec is not None and spec.description:
        console.print(f"{target}: {spec.description}", highlight=False)
    for i, name in enumerate(names, 1):
        deps = stages_by_name[name].depends_on
        console.print(f"{i}. {name}" + (f"  (after {', '.join(deps)})" if deps else ""), highlight=False)
    if not names:
        console.print(f"{target} has no stages yet", highlight=False)
    typer.echo(f"CDP_PLAN target={target} stages={','.join(names) or '-'}")


@app.command()
def run(
    target: str = typer.Argument(
        ..., help="A group of conf/pipelines.yaml (nightly, maintenance, ...) or one stage."
    ),
    run_date: str = typer.Option(..., "--date", "-d", help="Business date YYYY-MM-DD (always explicit)."),
    force: bool = typer.Option(False, "--force", help="Rerun stages that already succeeded for this date."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan without starting Spark."),
    accept_merges: bool = typer.Option(
        False, "--accept-merges", help="Publish identity merges the quality gate stopped."
    ),
    full: bool = typer.Option(
        False, "--full", help="Full rebuild instead of incremental where a stage supports it."
    ),
) -> None:
    """Run a group or one stage for one date; resumes a failed date."""
    day = _parse_date(run_date)
    try:
        cdp = _cdp()
        names = cdp.plan(target)
        if dry_run:
            for i, name in enumerate(names, 1):
                console.print(f"{i}. {name}")
            console.print(f"CDP_PLAN target={target} date={day.isoformat()} stages={len(names)}")
            return
        if not names:
            raise CdpSparkError(f"{target} has no stages yet (conf/pipelines.yaml); nothing to run")
        with console.status(f"running {target} for {day}") as status:

            def on_event(name: str, event: str) -> None:
                if event == "started":
                    status.update(f"[bold]{name}[/] running ({target} {day})")
                else:
                    colour = {"succeeded": "green", "skipped": "cyan"}.get(event, "red")
                    console.print(f"[{colour}]{event:>9}[/] {name}")

            outcome = cdp.run(
                target,
                day,
                force=force,
                options={k: True for k, on in (("accept_merges", accept_merges), ("full", full)) if on},
                on_event=on_event,
            )
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    for done in outcome.stages:
        if done.error:
            err_console.print(f"[red]{done.stage}[/]: {done.error}", highlight=False)
    typer.echo(outcome.summary_line())
    if not outcome.ok:
        raise typer.Exit(1)


@app.command()
def generate(
    persons: int = typer.Option(10_000, help="Size of the hidden population."),
    days: int = typer.Option(3, help="Number of daily deliveries."),
    seed: int = typer.Option(42, help="Same seed and parameters give identical files."),
    start_date: str = typer.Option("2026-01-01", help="Date of day 0 (YYYY-MM-DD)."),
    day: list[int] | None = typer.Option(None, "--day", help="Generate only these day indexes (repeatable)."),
) -> None:
    """Write synthetic multi-source landing files (and ground truth) into the workspace."""
    from cdp_spark.datagen import DatagenSettings
    from cdp_spark.datagen import generate as run_generate

    try:
        config = _config()
        base = config.domain("datagen.yaml")
        settings = base.model_copy(
            update={"persons": persons, "days": days, "seed": seed, "start_date": _parse_date(start_date)}
        )
        settings = DatagenSettings.model_validate(settings.model_dump())
        ctx = _context()
        with console.status(f"generating {persons:,} persons x {days} days"):
            root = ctx.workspace.require_local("cdp-spark generate")
            result = run_generate(ctx.spark, root, settings, days=list(day) if day else None)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    console.print(f"landing files in {ctx.workspace.landing}, ground truth in {ctx.workspace.truth}")
    typer.echo(
        f"CDP_GENERATE status=ok persons={persons} days={days} seed={seed} "
        f"records={result.total_records} seconds={result.elapsed_seconds:.1f}"
    )


STORY_MEMBER_ID_HINT = "M95679010"  # cdp_spark.datagen.story.STORY_MEMBER_ID, without importing datagen


@app.command()
def demo(
    persons: int = typer.Option(
        1_000, help="Population size (1,000 x 4 days takes about 8 minutes on 2 cores)."
    ),
    days: int = typer.Option(4, help="Days delivered and processed one after another (the story needs 4)."),
    seed: int = typer.Option(7, help="Generator seed."),
    start_date: str = typer.Option("2026-01-01", help="Date of the first delivery."),
    fresh: bool = typer.Option(True, "--fresh/--keep", help="Start from an empty workspace."),
) -> None:
    """Generate data, run the nightly pipeline day by day, print a summary and where results are."""
    import shutil

    from cdp_spark.demo import run_demo

    try:
        from cdp_spark.workspace import Workspace

        config = _config()
        config.require_conf_dir()
        root = Workspace.at(config.workspace).require_local("cdp-spark demo")
        if fresh and root.exists():
            for sub in ("landing", "truth", "lake", "locks", "reports", "checkpoints"):
                shutil.rmtree(root / sub, ignore_errors=True)
        ctx = _context()
        with console.status("demo running") as status:

            def on_event(name: str, event: str) -> None:
                if event == "started":
                    status.update(f"[bold]{name}[/] running")

            summary = run_demo(
                ctx,
                persons=persons,
                days=days,
                seed=seed,
                start_date=_parse_date(start_date),
                on_event=on_event,
            )
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    for run_info in summary.runs:
        console.print(run_info["line"], highlight=False)
        for stage_name, error in run_info["errors"].items():
            err_console.print(f"[red]{stage_name}[/]: {error}", highlight=False)
    table = Table("table", "rows", title="lake tables")
    for name, rows in summary.tables.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    if summary.quarantine_by_reason:
        console.print(
            "quarantined lines by reason: "
            + ", ".join(f"{k}={v:,}" for k, v in sorted(summary.quarantine_by_reason.items()))
        )
    layers = ", ".join(f"{k}={v:,}" for k, v in summary.rows_per_layer.items())
    console.print(f"rows per layer: {layers}", highlight=False)
    console.print(
        f"persons: {summary.persons:,} ({summary.known_persons:,} known); identity changes: "
        + (", ".join(f"{k}={v:,}" for k, v in summary.identity_changes.items()) or "none"),
        highlight=False,
    )
    console.print(
        "lifecycle: " + (", ".join(f"{k}={v:,}" for k, v in summary.lifecycle.items()) or "none"),
        highlight=False,
    )
    console.print(
        "top tags: " + (", ".join(f"{k}={v:,}" for k, v in summary.top_tags.items()) or "none"),
        highlight=False,
    )
    if summary.story_person:
        console.print(
            f"Antarctic story person {summary.story_person['person_id']}: tags "
            + (", ".join(summary.story_person["tags"]) or "none")
            + f"  (cdp-spark profile show member_id:{STORY_MEMBER_ID_HINT})",
            highlight=False,
        )
    console.print(f"workspace: {ctx.workspace.root_uri}")
    console.print(
        f"tables:    {ctx.workspace.lake}/<layer>/<table> (Delta; open with deltalake, Spark, DuckDB, Polars)"
    )
    for path in summary.report_paths:
        console.print(f"report:    {path}")
    typer.echo(
        f"CDP_DEMO status={'succeeded' if summary.ok else 'failed'} days={len(summary.runs)} "
        f"tables={len(summary.tables)}"
    )
    if not summary.ok:
        raise typer.Exit(1)


# ------------------------------------------------------------------ tables


@table_app.command("history")
def table_history(name: str, limit: int = typer.Option(10, help="Most recent versions to show.")) -> None:
    """Versions of a table with operation and metrics."""
    try:
        rows = _cdp().tables.history(name, limit=limit)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    table = Table("version", "timestamp", "operation", "details")
    for h in rows:
        ts = h.get("timestamp")
        when = (
            datetime.utcfromtimestamp(ts / 1000).isoformat(timespec="seconds")
            if isinstance(ts, int)
            else str(ts)
        )
        details = {k: v for k, v in h.items() if k.startswith("cdp.") or k == "operationParameters"}
        table.add_row(
            str(h.get("version")), when, str(h.get("operation")), json.dumps(details, default=str)[:120]
        )
    console.print(table)


@table_app.command("show")
def table_show(
    name: str, limit: int = typer.Option(20), version_: int | None = typer.Option(None, "--version")
) -> None:
    """Print rows of a table (optionally as of a version)."""
    try:
        df = _cdp().tables.read(name, version=version_)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    typer.echo(
        df._jdf.showString(limit, 40, False) if hasattr(df, "_jdf") else str(df.limit(limit).collect())
    )


@table_app.command("vacuum")
def table_vacuum(
    name: str,
    retention_hours: int | None = typer.Option(None, help="Default from storage.vacuum_retention_hours."),
    dry_run: bool = typer.Option(False, "--dry-run"),
) -> None:
    """Delete files no longer referenced within the retention window."""
    try:
        removed = _context().store.maintenance.vacuum(name, retention_hours=retention_hours, dry_run=dry_run)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    console.print(f"{'would remove' if dry_run else 'removed'} {len(removed)} files")


@table_app.command("optimize")
def table_optimize(name: str, target_file_mb: int | None = typer.Option(None)) -> None:
    """Compact small files (data unchanged)."""
    try:
        result = _context().store.maintenance.optimize(name, target_file_mb=target_file_mb)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    console.print(
        f"version {result.version}: {result.files_removed} files compacted into {result.files_added}"
    )


# ------------------------------------------------------------------ benchmarks


def _report_bench(
    name: str, result: dict[str, Any], out: Path | None, workspace: Path, summary: str = ""
) -> None:
    """Save the JSON, show it, and print the parseable last line every bench command ends with."""
    path = _write_bench(name, result, out, workspace)
    console.print_json(json.dumps(result, default=str))
    typer.echo(f"CDP_BENCH name={name} result={path}{summary}")


def _write_bench(name: str, result: dict[str, Any], out: Path | None, workspace: Path) -> Path:
    path = out or workspace / "bench" / f"{name}-{datetime.utcnow():%Y%m%dT%H%M%S}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


@bench_app.command("storage")
def bench_storage(
    rows: int = typer.Option(5_000_000, help="Rows of the 10-column table."),
    repeats: int = typer.Option(3, help="Alternating repetitions of baseline and store."),
    out: Path | None = typer.Option(None, help="JSON result path (default <workspace>/bench/)."),
) -> None:
    """Embedded store append vs plain df.write.parquet, and a 1% merge (same process)."""
    from cdp_spark.bench_storage import run_storage_benchmark

    try:
        ctx = _context()
        result = run_storage_benchmark(ctx, rows=rows, repeats=repeats)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    _report_bench("storage", result, out, ctx.workspace.root)


_GLOBAL_OPTIONS = ("--config", "-c", "--workspace", "-w", "--log-level")


def job_main(command: list[str], argv: list[str] | None = None) -> None:
    """Entry for ``jobs/*.py`` under spark-submit: global options may come anywhere in argv."""
    args = list(sys.argv[1:] if argv is None else argv)
    global_args: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in _GLOBAL_OPTIONS:
            global_args += args[i : i + 2]
            i += 2
        else:
            rest.append(args[i])
            i += 1
    sys.argv = ["cdp-spark", *global_args, *command, *rest]
    main()


@bench_app.command("generate")
def bench_generate_cmd(
    persons: int = typer.Option(1_000_000, help="Population size."),
    days: int = typer.Option(7, help="Days generated."),
    seed: int = typer.Option(42),
    out: Path | None = typer.Option(None, help="JSON result path."),
) -> None:
    """Generator throughput (rows per second per source and in total)."""
    from cdp_spark.datagen import bench_generate

    try:
        ctx = _context()
        result = bench_generate(
            ctx.spark, ctx.workspace.bench / "generate", persons=persons, days=days, seed=seed
        )
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    _report_bench("generate", result, out, ctx.workspace.root)


@profile_app.command("show")
def profile_show(
    ref: str = typer.Argument(..., help="A person id, or <id_type>:<value> such as email:anna@example.com."),
    events: int = typer.Option(15, help="How many of the latest events and orders to list."),
) -> None:
    """The Customer 360 view: golden record with provenance, identifiers, tags, lifecycle, latest events."""
    from cdp_spark.profile.show import GOLDEN_GROUPS

    try:
        view = _cdp().profiles.show(ref, events=events)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    prof = view["profile"] or {}
    console.print(
        f"[bold]person {view['person_id']}[/]  lifecycle: {prof.get('lifecycle_stage', '-')}  "
        f"known: {prof.get('is_known', '-')}  as of: {prof.get('as_of_date', '-')}",
        highlight=False,
    )
    golden = Table("attribute", "value", "source", "record", title="golden record")
    for group, cols in GOLDEN_GROUPS:
        value = ", ".join(str(prof[c]) for c in cols if prof.get(c) is not None)
        golden.add_row(
            group,
            value or "-",
            str(prof.get(f"{group}_source") or "-"),
            str(prof.get(f"{group}_record_id") or "-")[:16],
        )
    console.print(golden)
    behaviour = Table("measure", "value", title="behaviour")
    for key in (
        "first_seen",
        "last_seen",
        "active_days",
        "last_channel",
        "channels",
        "events",
        "searches",
        "search_terms",
        "orders",
        "revenue",
        "avg_order_value",
        "repurchase_cycle_days",
        "top_categories",
        "preferred_store",
        "wechat_following",
        "consent",
        "rfm_score",
        "rfm_segment",
    ):
        behaviour.add_row(key, str(prof.get(key, "-")))
    console.print(behaviour)
    console.print(
        "identifiers: " + (", ".join(f"{t}:{v}" for t, v in view["identifiers"]) or "-"), highlight=False
    )
    console.print("tags: " + (", ".join(f"{t}={v}" for t, v in view["tags"]) or "-"), highlight=False)
    latest = Table("time (UTC)", "channel", "source", "what", title="latest activity")
    for at, channel, source, what in view["events"]:
        latest.add_row(str(at), str(channel), str(source), str(what))
    console.print(latest)


@identity_app.command("unlink")
def identity_unlink(
    id_type: str = typer.Option(..., "--id-type", help="Identifier type, e.g. email."),
    id_value: str = typer.Option(..., "--id-value", help="The value as stored in gold.identity_map."),
    reason: str | None = typer.Option(None, help="Why (kept with the exclusion for audits)."),
) -> None:
    """Cut an identifier's links; the next identity run splits the person it joined, as a recorded split."""
    try:
        matches = _cdp().identity.unlink(id_type, id_value, reason=reason)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    console.print(
        f"exclusion recorded; {matches} identity-map row(s) currently hold this identifier. "
        "Run `cdp-spark run identity --date <date> --force` (or the next nightly) to apply it."
    )
    typer.echo(f"CDP_UNLINK status=ok id_type={id_type} matches={matches}")


@bench_app.command("nightly")
def bench_nightly_cmd(
    persons: int = typer.Option(1_000, help="Population."),
    days: int = typer.Option(4, help="Nights: the first (empty lake) and steady-state ones."),
    repeats: int = typer.Option(3, help="Fresh workspaces, each running every night; medians over them."),
    seed: int = typer.Option(42),
    out: Path | None = typer.Option(None, help="JSON result path."),
) -> None:
    """The nightly day by day, per stage: wall seconds, Spark jobs, stages, tasks, Delta commits."""
    from cdp_spark.bench_nightly import bench_nightly

    try:
        ctx = _context()
        result = bench_nightly(ctx, persons=persons, days=days, repeats=repeats, seed=seed)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    first, steady = result["first_night"]["total"], result["steady_state_night"]["total"]
    summary = (
        f" first_s={first['seconds']} first_jobs={first['spark_jobs']:.0f}"
        f" steady_s={steady['seconds']} steady_jobs={steady['spark_jobs']:.0f}"
        f" steady_commits={steady['delta_commits']:.0f}"
    )
    _report_bench("nightly", result, out, ctx.workspace.root, summary)


@bench_app.command("gold")
def bench_gold_cmd(
    persons: int = typer.Option(100_000, help="Population (the issue's target scale is 1,000,000)."),
    days: int = typer.Option(5, help="Days of history; the last one is the measured nightly."),
    seed: int = typer.Option(42),
    activity: float = typer.Option(
        1.0, help="Generator activity factor (0 < x <= 3): daily chance of being active online; 1.0 is dense."
    ),
    catch_up: bool = typer.Option(
        False,
        "--catch-up/--day-by-day",
        help="Build the history in one run (long histories) or one run per day.",
    ),
    out: Path | None = typer.Option(None, help="JSON result path."),
) -> None:
    """Full profile + tags build vs the incremental nightly of one new day (ratio, same process).

    The default session (4g driver, 8 shuffle partitions) is sized for the demo. The issue's scale
    (--persons 1000000 --days 45 --activity 0.1 --catch-up) needs about 20 GB of workspace and
    CDP_SPARK__SPARK__DRIVER_MEMORY=16g CDP_SPARK__SPARK__SHUFFLE_PARTITIONS=32; timings of
    such runs are in docs/benchmarks.md.
    """
    from cdp_spark.profile.bench import bench_gold

    if not 0 < activity <= 3:
        raise typer.BadParameter(f"--activity must be in (0, 3], got {activity}")
    try:
        ctx = _context()
        result = bench_gold(ctx, persons=persons, days=days, seed=seed, activity=activity, catch_up=catch_up)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    _report_bench("gold", result, out, ctx.workspace.root)


def _engine_names(spec: str) -> list[Any]:
    """Validate `--engines` here so a typo fails before a Spark session starts."""
    from cdp_spark.identity.bench import DEFAULT_ENGINES

    names = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in names if name not in DEFAULT_ENGINES]
    if unknown or not names:
        raise typer.BadParameter(f"unknown engine(s) {unknown}; choose from {', '.join(DEFAULT_ENGINES)}")
    return names


@bench_app.command("cc")
def bench_cc(
    edges: int = typer.Option(1_000_000, help="Identity-like edges (long chains included)."),
    seed: int = typer.Option(42),
    engines: str = typer.Option(
        "native,native_distributed_only,graphx,scipy", help="Comma-separated engines."
    ),
    out: Path | None = typer.Option(None, help="JSON result path."),
) -> None:
    """Connected components: native engine vs GraphX vs scipy on the same edge list."""
    from cdp_spark.identity.bench import run_cc_benchmark

    engine_names = _engine_names(engines)
    try:
        ctx = _context()
        result = run_cc_benchmark(ctx.spark, edges=edges, seed=seed, engines=engine_names, out=None)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    _report_bench("cc", result, out, ctx.workspace.root)


@bench_app.command("identity")
def bench_identity_cmd(
    persons: int = typer.Option(10_000, help="Population (other generator settings from datagen.yaml)."),
    days: int = typer.Option(3, help="Days delivered and resolved one after another."),
    seed: int = typer.Option(42),
    accept_merges: bool = typer.Option(
        False, "--accept-merges", help="Do not let the identity gate stop the run."
    ),
    out: Path | None = typer.Option(None, help="JSON result path."),
) -> None:
    """Identity quality against the generator's truth, with and without guards (precision, recall, over-merge)."""
    from cdp_spark.identity.quality import bench_identity

    try:
        ctx = _context()
        result = bench_identity(ctx, persons=persons, days=days, seed=seed, accept_merges=accept_merges)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    _report_bench(
        "identity", result, out, ctx.workspace.root, f" targets_met={str(result['targets_met']).lower()}"
    )


@bench_app.command("ingest")
def bench_ingest_cmd(
    lines: int = typer.Option(20_000_000, help="About this many JSON lines of landing files."),
    seed: int = typer.Option(42),
    reuse: bool = typer.Option(True, "--reuse/--regenerate", help="Reuse landing files of an earlier run."),
    repeats: int = typer.Option(
        1, min=1, help="Timed repetitions of both paths; the ratio uses the medians."
    ),
    out: Path | None = typer.Option(None, help="JSON result path."),
) -> None:
    """Bronze ingestion vs plain spark.read.json().write.parquet() (same files, same process); silver rows/s."""
    from cdp_spark.ingest.bench import run_ingest_benchmark

    try:
        ctx = _context()
        result = run_ingest_benchmark(ctx, lines=lines, seed=seed, reuse=reuse, repeats=repeats)
    except CdpSparkError as exc:
        raise _fail(exc) from exc
    _report_bench("ingest", result, out, ctx.workspace.root, f" ratio={result['ratio']}")


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        app()
    except CdpSparkError as exc:  # pragma: no cover - commands convert their own errors
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
