"""Run history: every `ScanRun`, kept whole (its run.json) and as rows to query.

SQLite (stdlib sqlite3) by default, in the user's data dir (`default_db_path()`; `LANPROBE_DB`
overrides it); `--db PATH` picks another file; a SQLAlchemy URL (``postgresql://...``) selects
PostgreSQL, for teams whose benches report to one place (needs the `postgres` extra).

One run is saved in one transaction, so a reader, a concurrent writer or a scan killed half-way
sees the whole run or none of it. SQLite runs in WAL mode with a busy timeout and takes its write
lock up front (BEGIN IMMEDIATE), so several processes can write at once without "database is
locked" half-way through a run. The SQL is written once with ``:name`` parameters, which both
sqlite3 and SQLAlchemy's `text()` understand.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import platformdirs
from lanprobe.errors import ProbeError
from lanprobe.model import DeviceVerdict, ScanRun, ScopeInfo, Verdict

STORE_VERSION = 4
ENV_DB = "LANPROBE_DB"
_BUSY_TIMEOUT_S = 30.0
_PG_LOCK_KEY = 8259_0001  # advisory lock that serialises schema changes on PostgreSQL

# Store version 1: the schema of release 0.1.0, exactly as it shipped. A new database is made
# by this and then every migration in order, so a fresh store and a migrated one are the same.
_SCHEMA_V1 = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        started TEXT NOT NULL,
        finished TEXT,
        stored TEXT NOT NULL,
        interrupted INTEGER NOT NULL,
        partial INTEGER NOT NULL,
        tool_version TEXT NOT NULL,
        baseline_version TEXT NOT NULL,
        devices INTEGER NOT NULL,
        n_pass INTEGER NOT NULL,
        n_fail INTEGER NOT NULL,
        n_inconclusive INTEGER NOT NULL,
        n_not_applicable INTEGER NOT NULL,
        n_error INTEGER NOT NULL,
        d_conforms INTEGER NOT NULL,
        d_does_not_conform INTEGER NOT NULL,
        d_inconclusive INTEGER NOT NULL,
        mean_score DOUBLE PRECISION,
        run_json TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS device_runs (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        device TEXT NOT NULL,
        mac TEXT,
        serial TEXT,
        profile TEXT,
        ip TEXT NOT NULL,
        verdict TEXT,
        score DOUBLE PRECISION,
        coverage DOUBLE PRECISION
    )""",
    """CREATE TABLE IF NOT EXISTS results (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        device TEXT NOT NULL,
        check_id TEXT NOT NULL,
        capability TEXT NOT NULL,
        port INTEGER,
        transport TEXT NOT NULL,
        service TEXT NOT NULL,
        verdict TEXT NOT NULL,
        severity TEXT NOT NULL,
        title TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS runs_started ON runs (started)",
    "CREATE INDEX IF NOT EXISTS device_runs_run ON device_runs (run_id)",
    "CREATE INDEX IF NOT EXISTS results_check ON results (check_id, device)",
)


@dataclass(frozen=True)
class Migration:
    """One step from store version `to - 1` to `to`: DDL, then a backfill of the new columns
    from each stored run.json (the whole run is kept, so nothing has to be guessed)."""

    to: int
    release: str  # the lanprobe release that first ships it (never newer than this package)
    statements: tuple[str, ...]
    backfill: Callable[[_Tx], None] | None = None


def _backfill_v2(tx: _Tx) -> None:
    """Bench, probe host, and each device's observed model and firmware, from run.json."""
    for row in tx.query("SELECT run_id, run_json FROM runs"):
        run = ScanRun.from_json(row["run_json"])
        tx.execute(
            "UPDATE runs SET bench = :bench, probe_host = :host, json_bytes = :size "
            "WHERE run_id = :run_id",
            {
                "bench": run.bench,
                "host": run.host.hostname,
                "size": len(row["run_json"].encode()),
                "run_id": run.run_id,
            },
        )
        for dev in run.devices:
            dev.record_observed()
            tx.execute(
                "UPDATE device_runs SET model = :model, firmware = :firmware, "
                "profile_version = :pv WHERE run_id = :run_id AND device = :device",
                {
                    "model": dev.model,
                    "firmware": dev.firmware,
                    "pv": _profile_version(run, dev.profile),
                    "run_id": run.run_id,
                    "device": dev.key,
                },
            )


def _backfill_v3(tx: _Tx) -> None:
    """Each run's scope label (`ScopeInfo.label`: sorted, so equal scopes have equal labels)."""
    for row in tx.query("SELECT run_id, run_json FROM runs"):
        run = ScanRun.from_json(row["run_json"])
        tx.execute(
            "UPDATE runs SET scope = :scope WHERE run_id = :run_id",
            {"scope": run.scope.label(), "run_id": run.run_id},
        )


def _backfill_v4(tx: _Tx) -> None:
    """Where each run's report was published (`ScanRun.report_url`; empty before it existed)."""
    for row in tx.query("SELECT run_id, run_json FROM runs"):
        run = ScanRun.from_json(row["run_json"])
        if run.report_url:
            tx.execute(
                "UPDATE runs SET report_url = :url WHERE run_id = :run_id",
                {"url": run.report_url, "run_id": run.run_id},
            )


_TABLES = ("meta", "runs", "device_runs", "results")  # every table the store keeps

MIGRATIONS: tuple[Migration, ...] = (
    # Many benches share one history (issue 16).
    Migration(
        to=2,
        release="0.2.0",
        statements=(
            "ALTER TABLE runs ADD COLUMN bench TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE runs ADD COLUMN probe_host TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE runs ADD COLUMN json_bytes INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE device_runs ADD COLUMN model TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE device_runs ADD COLUMN firmware TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE device_runs ADD COLUMN profile_version TEXT NOT NULL DEFAULT ''",
            "CREATE INDEX IF NOT EXISTS runs_bench ON runs (bench, started)",
            "CREATE INDEX IF NOT EXISTS device_runs_model ON device_runs (profile, firmware)",
            "CREATE INDEX IF NOT EXISTS results_run_check ON results (run_id, check_id)",
        ),
        backfill=_backfill_v2,
    ),
    # `probe history` shows each run's scope; `--baseline last` picks the same scope.
    Migration(
        to=3,
        release="0.2.0",
        statements=(
            "ALTER TABLE runs ADD COLUMN scope TEXT NOT NULL DEFAULT ''",
            "CREATE INDEX IF NOT EXISTS runs_scope ON runs (scope, started)",
        ),
        backfill=_backfill_v3,
    ),
    # The fleet page and a unit's history link each run to its own published report.
    Migration(
        to=4,
        release="0.2.0",
        statements=("ALTER TABLE runs ADD COLUMN report_url TEXT NOT NULL DEFAULT ''",),
        backfill=_backfill_v4,
    ),
)
assert MIGRATIONS[-1].to == STORE_VERSION

_RUN_COLUMNS = (
    "run_id, started, finished, stored, interrupted, partial, tool_version, baseline_version, "
    "devices, n_pass, n_fail, n_inconclusive, n_not_applicable, n_error, d_conforms, "
    "d_does_not_conform, d_inconclusive, mean_score, bench, probe_host, json_bytes, scope, "
    "report_url"
)
# The same columns qualified with the runs table, for queries that join device rows.
_RUN_COLUMNS_Q = ", ".join("runs." + c.strip() for c in _RUN_COLUMNS.split(","))


@dataclass(frozen=True)
class RunFilter:
    """Which runs `probe history` and the fleet view read. Empty fields match everything;
    `model` is a profile id or an observed model name, `firmware` an observed version."""

    bench: str | None = None
    model: str | None = None
    firmware: str | None = None
    check: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    scope: str | None = None  # ScopeInfo.label(), as the runs table keeps it

    def where(self, params: dict[str, Any], devices: str | None = None) -> str:
        """SQL conditions on `runs`, adding their values to `params`. `devices`: the alias of
        device_runs rows joined in the query, which the model and firmware then select;
        without it a run matches when any of its devices does."""
        clauses = []
        if self.bench:
            clauses.append("runs.bench = :f_bench")
            params["f_bench"] = self.bench
        if self.since:
            clauses.append("runs.started >= :f_since")
            params["f_since"] = _ts(self.since)
        if self.until:
            clauses.append("runs.started < :f_until")
            params["f_until"] = _ts(self.until)
        if self.scope:
            clauses.append("runs.scope = :f_scope")
            params["f_scope"] = self.scope
        d = devices or "d"
        dev = []
        if self.model:
            dev.append(f"({d}.profile = :f_model OR {d}.model = :f_model)")
            params["f_model"] = self.model
        if self.firmware:
            dev.append(f"{d}.firmware = :f_fw")
            params["f_fw"] = self.firmware
        if dev and devices:
            clauses.extend(dev)
        elif dev:
            clauses.append(
                "EXISTS (SELECT 1 FROM device_runs d WHERE d.run_id = runs.run_id AND "
                + " AND ".join(dev)
                + ")"
            )
        if self.check:
            clauses.append(
                "EXISTS (SELECT 1 FROM results x WHERE x.run_id = runs.run_id "
                "AND x.check_id = :f_check)"
            )
            params["f_check"] = self.check
        return " AND ".join(clauses)


@dataclass(frozen=True)
class RunSummary:
    """One stored run as `probe history` lists it and the HTML trend chart plots it."""

    run_id: str
    started: datetime
    finished: datetime | None
    interrupted: bool
    partial: bool
    tool_version: str
    devices: int
    verdicts: dict[str, int] = field(default_factory=dict)  # result verdicts
    device_verdicts: dict[str, int] = field(default_factory=dict)
    mean_score: float | None = None
    bench: str = ""
    probe_host: str = ""
    json_bytes: int = 0  # size of the stored run.json (the bulk of a run's footprint)
    scope: str = ""  # ScopeInfo.label(): "lab plab0 198.18.0.0/24", "eth1 10.9.0.0/24"
    report_url: str = ""  # where the run's report was published (probe scan --report-url)

    @classmethod
    def of(cls, run: ScanRun) -> RunSummary:
        """The summary of a run that is not (yet) stored, e.g. the one being reported."""
        row = _run_row(run)
        return cls._from_row(row)

    @classmethod
    def _from_row(cls, row: dict[str, Any]) -> RunSummary:
        return cls(
            run_id=row["run_id"],
            started=_parse_ts(row["started"]),
            finished=_parse_ts(row["finished"]) if row["finished"] else None,
            interrupted=bool(row["interrupted"]),
            partial=bool(row["partial"]),
            tool_version=row["tool_version"],
            devices=int(row["devices"]),
            verdicts={v.value: int(row[f"n_{v.value}"]) for v in Verdict},
            device_verdicts={v.value: int(row[f"d_{v.value}"]) for v in DeviceVerdict},
            mean_score=row["mean_score"],
            bench=row.get("bench") or "",
            probe_host=row.get("probe_host") or "",
            json_bytes=int(row.get("json_bytes") or 0),
            scope=row.get("scope") or "",
            report_url=row.get("report_url") or "",
        )


class _Row:
    """A query row as a frozen dataclass: `started` parsed, NULL text as ""."""

    @classmethod
    def _from_row(cls, row: dict[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            value = row[f.name]
            if f.name == "started":
                value = _parse_ts(value)
            elif f.type == "str":
                value = value or ""
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class DeviceRow(_Row):
    """One device in one stored run."""

    run_id: str
    started: datetime
    bench: str
    device: str
    profile: str
    model: str
    firmware: str
    profile_version: str
    verdict: str
    score: float | None
    coverage: float | None
    report_url: str = ""  # the run's published report, if it recorded one


@dataclass(frozen=True)
class CheckRow(_Row):
    """One verdict of one check on one device in one stored run."""

    run_id: str
    started: datetime
    bench: str
    device: str
    profile: str
    model: str
    firmware: str
    port: int | None
    transport: str
    verdict: str
    severity: str
    title: str
    service: str = ""  # one port can carry two services (http and a websocket): tell them apart


def default_db_path() -> Path:
    """`$LANPROBE_DB` if set, else history.sqlite in the user's data dir."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("lanprobe", appauthor=False)) / "history.sqlite"


def is_url(db: str) -> bool:
    return "://" in db


class _Backend(Protocol):
    def transaction(self) -> Any: ...  # context manager yielding a _Tx
    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...
    def compact(self) -> None: ...
    def close(self) -> None: ...


class _Tx(Protocol):
    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None: ...
    def executemany(self, sql: str, rows: Sequence[dict[str, Any]]) -> None: ...
    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self._conn.execute(sql, params or {})

    def executemany(self, sql: str, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._conn.executemany(sql, rows)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        cur = self._conn.execute(sql, params or {})
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


class _SqliteBackend:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
            self._conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is crash-safe in WAL mode (an app crash loses nothing committed).
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise ProbeError(f"{path}: cannot open the history database: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTx]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise ProbeError(f"{self.path}: {exc}") from exc
        try:
            yield _SqliteTx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return _SqliteTx(self._conn).query(sql, params)

    def compact(self) -> None:
        """Give pruned pages back to the file system (outside any transaction)."""
        self._conn.execute("VACUUM")
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._conn.close()


class _SqlAlchemyTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        from sqlalchemy import text

        self._conn.execute(text(sql), params or {})

    def executemany(self, sql: str, rows: Sequence[dict[str, Any]]) -> None:
        from sqlalchemy import text

        if rows:
            self._conn.execute(text(sql), list(rows))

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from sqlalchemy import text

        return [dict(r._mapping) for r in self._conn.execute(text(sql), params or {})]


class _SqlAlchemyBackend:
    def __init__(self, url: str) -> None:
        try:
            from sqlalchemy import create_engine
            from sqlalchemy.exc import SQLAlchemyError
        except ImportError as exc:
            raise ProbeError(
                "a database URL needs SQLAlchemy: pip install 'lanprobe[postgres]'"
            ) from exc
        # psycopg 3 is the driver we ship with the extra; SQLAlchemy's default is psycopg2.
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.url = url
        self._errors: type[Exception] = SQLAlchemyError
        try:
            self._engine = create_engine(url, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise ProbeError(f"{_safe_url(url)}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[_SqlAlchemyTx]:
        try:
            with self._engine.begin() as conn:
                yield _SqlAlchemyTx(conn)
        except self._errors as exc:
            raise ProbeError(f"{_safe_url(self.url)}: {exc}") from exc

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        try:
            with self._engine.connect() as conn:
                return _SqlAlchemyTx(conn).query(sql, params)
        except self._errors as exc:
            raise ProbeError(f"{_safe_url(self.url)}: {exc}") from exc

    def compact(self) -> None:
        """Nothing to do: PostgreSQL's autovacuum reclaims deleted rows."""

    def close(self) -> None:
        self._engine.dispose()


def safe_source(db: str) -> str:
    """A path or URL of a history as it may be shown (no password)."""
    return _safe_url(db) if is_url(db) else db


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, _, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


class Store:
    """Run history. Use as a context manager, or call `close()`."""

    def __init__(self, backend: _Backend, *, postgres: bool = False) -> None:
        self._db = backend
        self._postgres = postgres
        try:
            self._init_schema()
        except BaseException:
            backend.close()  # a refused store leaves no connection behind
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _meta_exists(self, tx: _Tx) -> bool:
        if self._postgres:
            sql = "SELECT to_regclass('meta') IS NOT NULL AS ok"
        else:
            sql = "SELECT COUNT(*) > 0 AS ok FROM sqlite_master WHERE type='table' AND name='meta'"
        return bool(tx.query(sql)[0]["ok"])

    def _init_schema(self) -> None:
        """Create the tables, or bring an older store up to `STORE_VERSION`, in one transaction.

        DDL runs only when something is missing or old: on PostgreSQL, DDL beside another
        session's save (CREATE INDEX locks the table) can deadlock. An advisory lock makes
        concurrent openers wait for the first one's creation or migration and then see it.
        """
        with self._db.transaction() as tx:
            if self._postgres:
                tx.query("SELECT pg_advisory_xact_lock(:k) AS ok", {"k": _PG_LOCK_KEY})
            if not self._meta_exists(tx):
                for stmt in _SCHEMA_V1:
                    tx.execute(stmt)
                tx.execute("INSERT INTO meta (key, value) VALUES ('store_version', '1')")
            version = self._version(tx)
            if version > STORE_VERSION:
                raise ProbeError(
                    f"history store version {version} is newer than this lanprobe knows "
                    f"({STORE_VERSION}): upgrade lanprobe"
                )
            for step in MIGRATIONS:
                if step.to <= version:
                    continue
                for stmt in step.statements:
                    tx.execute(stmt)
                if step.backfill is not None:
                    step.backfill(tx)
                tx.execute(
                    "UPDATE meta SET value = :v WHERE key = 'store_version'", {"v": str(step.to)}
                )

    @staticmethod
    def _version(tx: _Tx) -> int:
        rows = tx.query("SELECT value FROM meta WHERE key = 'store_version'")
        text = rows[0]["value"] if rows else ""
        if not text.isdigit():
            raise ProbeError(f"history store version {text!r} is not one lanprobe knows")
        return int(text)

    def version(self) -> int:
        with self._db.transaction() as tx:
            return self._version(tx)

    # --- writing ----------------------------------------------------------------------------

    def save(self, run: ScanRun) -> None:
        """Store one run, replacing an earlier save of the same run_id, in one transaction."""
        run_row = _run_row(run)
        run_row["run_json"] = run.to_json()
        run_row["json_bytes"] = len(run_row["run_json"].encode())
        run_row["stored"] = _ts(datetime.now(UTC))
        device_rows = _device_rows(run)
        result_rows = _result_rows(run)
        with self._db.transaction() as tx:
            self._delete_rows(tx, run.run_id)
            cols = _RUN_COLUMNS + ", run_json"
            names = ", ".join(":" + c.strip() for c in cols.split(","))
            tx.execute(f"INSERT INTO runs ({cols}) VALUES ({names})", run_row)
            tx.executemany(
                "INSERT INTO device_runs (run_id, device, mac, serial, profile, ip, verdict, "
                "score, coverage, model, firmware, profile_version) VALUES (:run_id, :device, "
                ":mac, :serial, :profile, :ip, :verdict, :score, :coverage, :model, :firmware, "
                ":profile_version)",
                device_rows,
            )
            tx.executemany(
                "INSERT INTO results (run_id, seq, device, check_id, capability, port, "
                "transport, service, verdict, severity, title) VALUES (:run_id, :seq, :device, "
                ":check_id, :capability, :port, :transport, :service, :verdict, :severity, "
                ":title)",
                result_rows,
            )

    def delete(self, run_id: str) -> bool:
        with self._db.transaction() as tx:
            found = tx.query("SELECT run_id FROM runs WHERE run_id = :run_id", {"run_id": run_id})
            self._delete_rows(tx, run_id)
        return bool(found)

    @staticmethod
    def _delete_rows(tx: _Tx, run_id: str) -> None:
        key = {"run_id": run_id}
        tx.execute("DELETE FROM results WHERE run_id = :run_id", key)
        tx.execute("DELETE FROM device_runs WHERE run_id = :run_id", key)
        tx.execute("DELETE FROM runs WHERE run_id = :run_id", key)

    # --- reading ----------------------------------------------------------------------------

    def runs(
        self, limit: int = 50, *, complete_only: bool = False, where: RunFilter | None = None
    ) -> list[RunSummary]:
        """The newest `limit` runs (that match `where`), oldest first (the order a trend is
        drawn in)."""
        params: dict[str, Any] = {"n": int(limit)}
        clauses = [where.where(params)] if where else []
        if complete_only:
            clauses.append("runs.interrupted = 0")
        cond = " AND ".join(c for c in clauses if c)
        rows = self._db.query(
            f"SELECT {_RUN_COLUMNS_Q} FROM runs {'WHERE ' + cond if cond else ''} "
            "ORDER BY runs.started DESC, runs.run_id DESC LIMIT :n",
            params,
        )
        return [RunSummary._from_row(r) for r in reversed(rows)]

    def benches(self, *, complete_only: bool = True) -> list[RunSummary]:
        """Each bench's newest complete run (the fleet view's first table), by bench name;
        with `complete_only=False` its newest run, interrupted or not."""
        done = "AND runs.interrupted = 0" if complete_only else ""
        done_o = "AND o.interrupted = 0" if complete_only else ""
        rows = self._db.query(
            f"SELECT {_RUN_COLUMNS_Q} FROM runs WHERE runs.started = "
            f"(SELECT MAX(o.started) FROM runs o WHERE o.bench = runs.bench {done_o}) {done} "
            "ORDER BY runs.bench, runs.run_id"
        )
        seen: dict[str, RunSummary] = {}
        for r in rows:  # two runs of one bench started in the same microsecond: keep one
            seen.setdefault(r["bench"], RunSummary._from_row(r))
        return list(seen.values())

    def device_history(
        self, where: RunFilter | None = None, *, limit: int = 5000, complete_only: bool = True
    ) -> list[DeviceRow]:
        """One row per device per run (newest `limit`, oldest first): the per-model trend."""
        params: dict[str, Any] = {"n": int(limit)}
        clauses = [where.where(params, devices="dr")] if where else []
        if complete_only:
            clauses.append("runs.interrupted = 0")
        cond = " AND ".join(c for c in clauses if c)
        rows = self._db.query(
            "SELECT runs.run_id, runs.started, runs.bench, dr.device, dr.profile, dr.model, "
            "dr.firmware, dr.profile_version, dr.verdict, dr.score, dr.coverage, "
            "runs.report_url FROM device_runs dr JOIN runs ON runs.run_id = dr.run_id "
            f"{'WHERE ' + cond if cond else ''} "
            "ORDER BY runs.started DESC, runs.run_id DESC, dr.device LIMIT :n",
            params,
        )
        return [DeviceRow._from_row(r) for r in reversed(rows)]

    def check_history(
        self, check_id: str, where: RunFilter | None = None, *, limit: int = 5000
    ) -> list[CheckRow]:
        """Every verdict of one check (newest `limit`, oldest first), with bench and model."""
        params: dict[str, Any] = {"n": int(limit), "check": check_id}
        clauses = ["x.check_id = :check", "runs.interrupted = 0"]
        if where:
            clauses.append(where.where(params, devices="dr"))
        cond = " AND ".join(c for c in clauses if c)
        rows = self._db.query(
            "SELECT runs.run_id, runs.started, runs.bench, x.device, dr.profile, dr.model, "
            "dr.firmware, x.port, x.transport, x.verdict, x.severity, x.title, x.service "
            "FROM results x JOIN runs ON runs.run_id = x.run_id "
            "LEFT JOIN device_runs dr ON dr.run_id = x.run_id AND dr.device = x.device "
            f"WHERE {cond} ORDER BY runs.started DESC, runs.run_id DESC, x.seq DESC LIMIT :n",
            params,
        )
        return [CheckRow._from_row(r) for r in reversed(rows)]

    def prune(self, keep_days: int, *, now: datetime | None = None) -> list[str]:
        """Delete runs started more than `keep_days` ago, except each bench's newest run (a
        bench that has been off for a month still shows in the fleet view, with its age).
        Returns the deleted run ids. One transaction: a kill half-way deletes nothing."""
        if keep_days < 0:
            raise ProbeError(f"--keep-days must be 0 or more, not {keep_days}")
        cutoff = _ts((now or datetime.now(UTC)) - timedelta(days=keep_days))
        keep = {s.run_id for s in self.benches()}
        with self._db.transaction() as tx:
            old = [
                r["run_id"]
                for r in tx.query("SELECT run_id FROM runs WHERE started < :c", {"c": cutoff})
                if r["run_id"] not in keep
            ]
            for run_id in old:
                self._delete_rows(tx, run_id)
        if old:
            self._db.compact()
        return old

    def report_history(
        self, run: ScanRun, runs: int = 30
    ) -> tuple[list[RunSummary], list[DeviceRow]]:
        """What a run's HTML report draws from the history, oldest first, all from before the
        run (a report of an old run shows no later one): the trend of the runs of its bench (of
        every bench when it names none) and scope (a one-device scan is no point of the full
        scan's trend), and its units' past verdicts."""
        where = RunFilter(bench=run.bench or None, until=run.started)
        summaries = self.runs(
            runs, complete_only=True, where=replace(where, scope=run.scope.label())
        )
        keys = {d.key for d in run.devices}
        rows = self.device_history(where, limit=runs * max(1, len(keys)))
        return summaries, [r for r in rows if r.device in keys]

    def history_before(self, run: ScanRun, n: int = 10) -> list[ScanRun]:
        """The `n` complete runs of `run`'s bench (every bench when it names none) and scope
        before it, oldest first: where `probe.diff.compare` sees a check flap. Other benches'
        runs, or one-device scans of this bench, would crowd the last `n` and hide (or fake) a
        unit's flapping, as `--baseline last` takes the same bench and scope."""
        return self.recent(n, before=run, where=self.same_series(run))

    @staticmethod
    def same_series(run: ScanRun) -> RunFilter:
        """The runs `run` is one night of: its bench (when it names one) and its scope."""
        return RunFilter(bench=run.bench or None, scope=run.scope.label())

    def latest(self, where: RunFilter | None = None) -> ScanRun | None:
        """The newest complete run that matches `where` (for `probe diff --bench ...`)."""
        found = self.runs(1, complete_only=True, where=where)
        return self.load(found[0].run_id) if found else None

    def count(self) -> int:
        return int(self._db.query("SELECT COUNT(*) AS n FROM runs")[0]["n"])

    def size_bytes(self) -> int:
        """What the history takes on disk (scripts/store_sizes.py, README's sizes per run):
        SQLite's pages after a VACUUM; PostgreSQL's tables with their indexes and TOAST."""
        if self._postgres:
            total = " + ".join(f"pg_total_relation_size('{t}')" for t in _TABLES)
            return int(self._db.query(f"SELECT {total} AS n")[0]["n"])
        self._db.compact()
        pages = self._db.query("PRAGMA page_count")[0]
        size = self._db.query("PRAGMA page_size")[0]
        return int(next(iter(pages.values()))) * int(next(iter(size.values())))

    def load(self, run_id: str) -> ScanRun:
        rows = self._db.query("SELECT run_json FROM runs WHERE run_id = :r", {"r": run_id})
        if not rows:
            raise ProbeError(f"run {run_id!r} is not in the history")
        return ScanRun.from_json(rows[0]["run_json"])

    def recent(
        self,
        n: int = 10,
        *,
        before: ScanRun | None = None,
        complete_only: bool = True,
        where: RunFilter | None = None,
    ) -> list[ScanRun]:
        """The last `n` stored runs (oldest first) that match `where`, all started before
        `before` if given.

        This is the history `probe.diff.compare` reads flapping checks from.
        """
        params: dict[str, Any] = {"n": int(n)}
        clauses = [where.where(params)] if where else []
        if complete_only:
            clauses.append("interrupted = 0")
        if before is not None:
            clauses.append("started < :before AND run_id <> :exclude")
            params["before"] = _ts(before.started)
            params["exclude"] = before.run_id
        cond = " AND ".join(c for c in clauses if c)
        rows = self._db.query(
            f"SELECT run_json FROM runs {'WHERE ' + cond if cond else ''} "
            "ORDER BY started DESC, run_id DESC LIMIT :n",
            params,
        )
        return [ScanRun.from_json(r["run_json"]) for r in reversed(rows)]

    def last(
        self,
        *,
        exclude: str | None = None,
        complete_only: bool = True,
        scope: ScopeInfo | None = None,
        bench: str | None = None,
        before: datetime | None = None,
    ) -> ScanRun | None:
        """The newest stored run (not interrupted, not `exclude`, of `bench` and `scope` and
        started before `before` when given): `--baseline last`."""
        clauses = ["run_id <> :exclude"]
        params: dict[str, Any] = {"exclude": exclude or ""}
        if before is not None:
            clauses.append("started < :before")
            params["before"] = _ts(before)
        if complete_only:
            clauses.append("interrupted = 0")
        if scope is not None:
            clauses.append("scope = :scope")
            params["scope"] = scope.label()
        if bench:
            clauses.append("bench = :bench")
            params["bench"] = bench
        rows = self._db.query(
            f"SELECT run_json FROM runs WHERE {' AND '.join(clauses)} "
            "ORDER BY started DESC, run_id DESC LIMIT 1",
            params,
        )
        return ScanRun.from_json(rows[0]["run_json"]) if rows else None

    def check_consistency(self) -> list[str]:
        """Problems found (empty when consistent): every run's rows match its run.json."""
        problems: list[str] = []
        counts = {
            r["run_id"]: int(r["n"])
            for r in self._db.query("SELECT run_id, COUNT(*) AS n FROM results GROUP BY run_id")
        }
        for row in self._db.query("SELECT run_id, run_json FROM runs"):
            run = ScanRun.from_json(row["run_json"])
            if counts.pop(row["run_id"], 0) != len(run.results):
                problems.append(f"{row['run_id']}: result rows do not match its run.json")
        problems.extend(f"{rid}: result rows without a run" for rid in counts)
        return problems


def open_store(db: str | Path | None = None) -> Store:
    """Open (creating if needed) the history at a path or URL; None means the default path."""
    if db is None or str(db) == "":
        return Store(_SqliteBackend(default_db_path()))
    text = str(db)
    if not is_url(text):
        return Store(_SqliteBackend(Path(text).expanduser()))
    if text.startswith("sqlite:///"):
        return Store(_SqliteBackend(Path(text.removeprefix("sqlite:///")).expanduser()))
    if text.startswith(("postgresql", "postgres://")):
        return Store(_SqlAlchemyBackend(text), postgres=True)
    raise ProbeError(f"{_safe_url(text)}: unsupported database (use a path or postgresql://)")


# --- rows ---------------------------------------------------------------------------------------


def _ts(value: datetime) -> str:
    """ISO-8601 in UTC with fixed width, so text order is time order in any database."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _run_row(run: ScanRun) -> dict[str, Any]:
    verdicts = Counter(r.verdict for r in run.results)
    dverdicts = Counter(s.verdict for s in run.scores.values())
    scores = [s.score for s in run.scores.values() if s.score is not None]
    row: dict[str, Any] = {
        "run_id": run.run_id,
        "started": _ts(run.started),
        "finished": _ts(run.finished) if run.finished else None,
        "interrupted": int(run.interrupted),
        "partial": int(run.partial),
        "tool_version": run.tool.version,
        "baseline_version": run.baseline.get("version", ""),
        "devices": len(run.devices),
        "mean_score": round(sum(scores) / len(scores), 2) if scores else None,
        "bench": run.bench,
        "probe_host": run.host.hostname,
        "json_bytes": 0,
        "scope": run.scope.label(),
        "report_url": run.report_url,
    }
    for v in Verdict:
        row[f"n_{v.value}"] = verdicts.get(v, 0)
    for dv in DeviceVerdict:
        row[f"d_{dv.value}"] = dverdicts.get(dv, 0)
    return row


def _device_rows(run: ScanRun) -> list[dict[str, Any]]:
    rows = []
    for dev in run.devices:
        score = run.scores.get(dev.key)
        rows.append(
            {
                "run_id": run.run_id,
                "device": dev.key,
                "mac": dev.mac.lower() if dev.mac else None,
                "serial": dev.identifier("serial"),
                "profile": dev.profile,
                "ip": dev.ip,
                "verdict": score.verdict.value if score else None,
                "score": score.score if score else None,
                "coverage": score.coverage if score else None,
                "model": dev.model or dev.identifier("model") or "",
                "firmware": dev.firmware or dev.identifier("fw") or "",
                "profile_version": _profile_version(run, dev.profile),
            }
        )
    return rows


def _profile_version(run: ScanRun, profile: str | None) -> str:
    return str((run.profiles.get(profile or "") or {}).get("version", ""))


def _result_rows(run: ScanRun) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run.run_id,
            "seq": i,
            "device": r.device,
            "check_id": r.check_id,
            "capability": r.capability.value,
            "port": r.target.port,
            "transport": r.target.transport,
            "service": r.target.service,
            "verdict": r.verdict.value,
            "severity": r.severity.value,
            "title": r.title,
        }
        for i, r in enumerate(run.results)
    ]
