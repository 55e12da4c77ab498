"""pytest plugin: per-device-model check suites (the `pytest11` entry point `lanprobe`).

Options (group `lanprobe`; none is required, and without a scope nothing is scanned):

    --probe-lab [--probe-bridge plab0 --probe-subnet 198.18.0.0/24 --probe-lab-models m1,m2]
    --probe-iface IF --probe-cidr CIDR (repeatable)    scan a bench that is already there
    --probe-run RUN.json                               use an earlier scan instead of scanning
    --probe-profiles DIR   --probe-out DIR   --probe-check ID   --probe-ca FILE
    --probe-depth quick|standard|deep                  default-login depth (issue 12)
    --probe-baseline                                   every check x device as a test item

Fixtures: `bench` (session: the ScanRun of the session's one scan), `device` (parametrized over the
bench's devices, ids `<profile>@<ip>`, a `probe.device_api.DeviceUnderTest`). The marker
`@pytest.mark.model("<profile id>", ...)` keeps a test to devices of those models; with none on
the bench the test is skipped with the reason. Without a scope or run, tests using `bench` or
`device` are skipped with the reason, so a plain `pytest` elsewhere is not disturbed.

Collection: `--probe-baseline` adds `<profile>@<ip>::<check id>[<port>]` items (probe.pytest_items);
a profile YAML named on the command line collects the items of that model's devices.

The plugin imports only pytest and the standard library at load; the engine is imported when a
scan, a run or a device is needed. See probe/pytest_bench.py for the scan and pytest-xdist.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from lanprobe.pytest_bench import (
    NO_BENCH,
    SESSION_KEY,
    WORKER_ERROR_KEY,
    WORKER_RUN_KEY,
    BenchUnavailable,
    ProbeOptions,
    ProbeSession,
)

if TYPE_CHECKING:
    from lanprobe.device_api import DeviceUnderTest
    from lanprobe.model import ScanRun

# The capabilities of probe.model.Capability, as markers (kept equal by tests/plugin).
CAPABILITY_MARKERS = (
    "device_identification",
    "device_configuration",
    "data_protection",
    "logical_access",
    "software_update",
    "cybersecurity_state_awareness",
    "declarations",
)
_SCAN_FAILED = "lanprobe:scan-failed"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lanprobe", "lanprobe: IoT device check suites")
    group.addoption(
        "--probe-lab",
        action="store_true",
        default=False,
        help="Bring the lab bench up for the session (on --probe-bridge), scan it, take it down.",
    )
    group.addoption("--probe-bridge", default="plab0", help="Lab bench bridge (default plab0).")
    group.addoption(
        "--probe-subnet", default="198.18.0.0/24", help="Lab bench subnet (default 198.18.0.0/24)."
    )
    group.addoption(
        "--probe-lab-models",
        default="",
        help="Comma list of lab models to bring up (default: all). With --probe-lab.",
    )
    group.addoption(
        "--probe-iface", action="append", default=[], help="Interface to scan from (repeatable)."
    )
    group.addoption(
        "--probe-cidr", action="append", default=[], help="Network to scan (repeatable)."
    )
    group.addoption(
        "--probe-profiles",
        default=None,
        help="Your profiles directory, layered over lanprobe's built-in profiles "
        "(default: ini probe_profiles, else the built-in profiles only).",
    )
    group.addoption("--probe-out", default=None, help="Write the session's run.json to DIR.")
    group.addoption(
        "--probe-run", default=None, metavar="RUN.json", help="Use this scan instead of scanning."
    )
    group.addoption(
        "--probe-baseline",
        action="store_true",
        default=False,
        help="Collect every check x device (x port) of the run as a test item.",
    )
    group.addoption(
        "--probe-check",
        action="append",
        default=[],
        help="Scan only this check id or capability prefix (repeatable).",
    )
    group.addoption(
        "--probe-ca", action="append", default=[], help="Trust this CA file too (repeatable)."
    )
    group.addoption(
        "--probe-timeout-s",
        type=float,
        default=60.0,
        help="Deadline of one check run, in seconds (default 60).",
    )
    group.addoption(
        "--probe-depth",
        default=None,
        choices=("quick", "standard", "deep"),
        help="Default-login depth: quick, standard or deep (default: each profile's, else quick).",
    )
    group.addoption(
        "--probe-gateway",
        action="store_true",
        default=False,
        help="Gateway mode: be the bench's DHCP/DNS/NTP with a sinkhole and a capture during "
        "the scan (offline: nothing forwarded), and judge what devices send on their own.",
    )
    group.addoption(
        "--probe-observe",
        default="10s",
        help="Gateway mode: how long to watch what devices send (60, 60s, 2m; default 10s).",
    )
    parser.addini(
        "probe_profiles",
        "your lanprobe profiles directory, layered over the built-in profiles (relative to the "
        "ini file)",
    )


def _path(base: Path, value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _options(config: pytest.Config) -> ProbeOptions:
    here = config.invocation_params.dir
    profiles = _path(here, config.getoption("probe_profiles"))
    if profiles is None:
        ini = config.getini("probe_profiles")
        base = config.inipath.parent if config.inipath else config.rootpath
        profiles = _path(base, str(ini) if ini else None)
    models = config.getoption("probe_lab_models") or ""
    return ProbeOptions(
        lab=bool(config.getoption("probe_lab")),
        bridge=config.getoption("probe_bridge"),
        subnet=config.getoption("probe_subnet"),
        lab_models=tuple(m.strip() for m in models.split(",") if m.strip()),
        ifaces=tuple(config.getoption("probe_iface") or ()),
        cidrs=tuple(config.getoption("probe_cidr") or ()),
        profiles=profiles,
        out=_path(here, config.getoption("probe_out")),
        run_file=_path(here, config.getoption("probe_run")),
        baseline=bool(config.getoption("probe_baseline")),
        checks=tuple(config.getoption("probe_check") or ()),
        cas=tuple(p for p in (_path(here, c) for c in config.getoption("probe_ca") or ()) if p),
        check_timeout_s=float(config.getoption("probe_timeout_s")),
        depth=config.getoption("probe_depth"),
        gateway=bool(config.getoption("probe_gateway")),
        observe_s=_seconds(config.getoption("probe_observe"), "--probe-observe"),
    )


def _seconds(value: str, name: str) -> float:
    from lanprobe.options import parse_seconds

    try:
        return parse_seconds(value, name)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc


def _say(config: pytest.Config) -> Any:
    def say(text: str) -> None:
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is None:
            return
        # The scan may start during collection, while output is captured: show it anyway.
        capman = config.pluginmanager.get_plugin("capturemanager")
        if capman is None:
            tr.write_line(text)
            return
        with capman.global_and_fixture_disabled():
            tr.write_line(text)

    return say


# pytest-asyncio (installed beside lanprobe's dev tools) warns at start-up in every project that
# leaves this option unset, async code or not. Unset, it keeps its current behaviour; the notice
# is about a future default the user never chose, so a project that sets nothing is not told.
_ASYNCIO_LOOP_SCOPE = "asyncio_default_fixture_loop_scope"


def _quiet_unset_asyncio_scope(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin("asyncio"):
        return
    try:
        unset = not config.getini(_ASYNCIO_LOOP_SCOPE)
    except ValueError:  # a pytest-asyncio without the option
        return
    if unset:
        # Inside pytest's configure-time warning filters (they are restored at cleanup).
        warnings.filterwarnings(
            "ignore",
            message=f'The configuration option "{_ASYNCIO_LOOP_SCOPE}" is unset',
            category=pytest.PytestDeprecationWarning,
        )


@pytest.hookimpl(tryfirst=True)  # before pytest-asyncio's own pytest_configure warns
def pytest_configure(config: pytest.Config) -> None:
    _quiet_unset_asyncio_scope(config)
    config.addinivalue_line(
        "markers",
        "model(*profile_ids): run the test on devices of these lanprobe models only "
        "(skipped when the bench has none)",
    )
    config.addinivalue_line("markers", "lanprobe: a lanprobe baseline check item")
    for cap in CAPABILITY_MARKERS:
        config.addinivalue_line("markers", f"{cap}: lanprobe checks of the {cap} capability")
    opts = _options(config)
    problem = opts.problem()
    if problem:
        raise pytest.UsageError(problem)
    probe = ProbeSession(opts, say=_say(config), worker_input=getattr(config, "workerinput", None))
    config.stash[SESSION_KEY] = probe
    config.add_cleanup(probe.close)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistController(probe), "lanprobe-xdist")


def probe_session(config: pytest.Config) -> ProbeSession:
    return config.stash[SESSION_KEY]


class _XdistController:
    """The xdist controller scans once, before the workers start, and hands them the run."""

    def __init__(self, probe: ProbeSession) -> None:
        self.probe = probe

    def pytest_configure_node(self, node: Any) -> None:
        if self.probe.error:
            node.workerinput[WORKER_ERROR_KEY] = self.probe.error
        elif self.probe.run_path is not None:
            node.workerinput[WORKER_RUN_KEY] = str(self.probe.run_path)


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    probe = probe_session(config)
    if probe.is_worker or not probe.opts.active:
        return
    if config.pluginmanager.hasplugin("dsession"):
        # xdist controller: scan now, so that workers only read (see probe/pytest_bench.py).
        # An error is kept: every worker reports it where the run is needed.
        with contextlib.suppress(BenchUnavailable):
            probe.get_run()


def _run_errors(probe: ProbeSession) -> list[str]:
    """Check ids whose results in the session's run are `error` (lanprobe's own failure)."""
    if probe.is_worker or probe.error or not probe.loaded:
        return []
    run = probe.get_run()
    return sorted({r.check_id for r in run.results if r.verdict.value == "error"})


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run with `error` results is incomplete: the session fails even when every test
    passed, as `probe scan` exits non-zero (probe/cli/common.py EXIT_ERRORS)."""
    if exitstatus == pytest.ExitCode.OK and _run_errors(probe_session(session.config)):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest) -> ScanRun:
    """The ScanRun of the session's one scan (or of --probe-run)."""
    probe = probe_session(request.config)
    if not probe.opts.active:
        pytest.skip(NO_BENCH)
    try:
        return probe.get_run()
    except BenchUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def device(request: pytest.FixtureRequest) -> DeviceUnderTest:
    """One device of the bench (the test runs once per device, or per device of its model)."""
    probe = probe_session(request.config)
    key = getattr(request, "param", None)
    if key is None or not probe.opts.active:
        pytest.skip(NO_BENCH)
    try:
        if key == _SCAN_FAILED:
            probe.get_run()
        return probe.device(str(key))
    except BenchUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


# --- parametrization and the model marker -------------------------------------------------------


def _ours(metafunc: pytest.Metafunc) -> bool:
    """`device` resolves to this plugin's fixture (a project may have its own `device`)."""
    defs = getattr(metafunc, "_arg2fixturedefs", {}).get("device")
    if not defs:
        return False
    func = getattr(defs[-1], "func", None)
    return getattr(func, "__module__", "") == __name__ and getattr(func, "__name__", "") == "device"


def _directly_parametrized(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if "device" in names:
            return True
    return False


def _wanted_models(node: Any) -> tuple[str, ...]:
    marker = node.get_closest_marker("model")
    if marker is None:
        return ()
    models = tuple(str(a) for a in marker.args)
    if not models:
        raise pytest.UsageError(f"{node.nodeid}: @pytest.mark.model needs a profile id")
    return models


def _absent(models: tuple[str, ...], run: ScanRun) -> str:
    if not run.devices:
        return f"the bench has no devices (run {run.run_id} found none)"
    found = ", ".join(sorted({d.profile or "generic" for d in run.devices}))
    return f"no device of model {', '.join(models)} on the bench (found: {found})"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "device" not in metafunc.fixturenames:
        return
    probe = probe_session(metafunc.config)
    if not probe.opts.active or not _ours(metafunc) or _directly_parametrized(metafunc):
        return  # `device` skips with the reason (or is not ours to fill)
    models = _wanted_models(metafunc.definition)
    try:
        run = probe.get_run()
    except BenchUnavailable:
        metafunc.parametrize("device", [_SCAN_FAILED], ids=["no-bench"], indirect=True)
        return
    from lanprobe.pytest_items import device_labels

    labels = device_labels(run)
    devices = [d for d in run.devices if not models or (d.profile or "generic") in models]
    if not devices:
        skip = pytest.mark.skip(reason=_absent(models, run))
        absent = pytest.param(None, marks=skip, id=f"no-{'-'.join(models) or 'device'}")
        metafunc.parametrize("device", [absent], indirect=True)
        return
    metafunc.parametrize(
        "device", [d.key for d in devices], ids=[labels[d.key] for d in devices], indirect=True
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    # A model-marked test without `device` (e.g. one using `bench`) still needs that model.
    if "device" in getattr(item, "fixturenames", ()) or item.get_closest_marker("model") is None:
        return
    probe = probe_session(item.config)
    if not probe.opts.active:
        return
    models = _wanted_models(item)
    try:
        run = probe.get_run()
    except BenchUnavailable:
        return  # `bench` reports it
    if not any((d.profile or "generic") in models for d in run.devices):
        pytest.skip(_absent(models, run))


# --- collection ----------------------------------------------------------------------------------


def _named_on_command_line(config: pytest.Config, path: Path) -> bool:
    here = config.invocation_params.dir
    for arg in config.args:
        part = Path(str(arg).split("::", 1)[0])
        if (part if part.is_absolute() else here / part).resolve() == path.resolve():
            return True
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    if not _named_on_command_line(parent.config, file_path):
        return None
    from lanprobe.pytest_items import ProfileFile

    return ProfileFile.from_parent(parent, path=file_path)  # type: ignore[no-any-return]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # First, so that -k, -m and --deselect see the baseline items too.
    probe = probe_session(config)
    if not probe.opts.baseline:
        return
    if not probe.opts.active:
        raise pytest.UsageError(f"--probe-baseline: {NO_BENCH}")
    from lanprobe.pytest_items import baseline_items

    items.extend(baseline_items(session, probe))


# --- reporting -----------------------------------------------------------------------------------


def pytest_terminal_summary(terminalreporter: Any) -> None:
    probe = probe_session(terminalreporter.config)
    if probe.is_worker or not probe.loaded:
        return
    tr = terminalreporter
    tr.ensure_newline()
    tr.section("lanprobe")
    if probe.error:
        tr.write_line(f"no run: {probe.error}")
        return
    run = probe.get_run()
    errors = _run_errors(probe)
    if errors:
        n = sum(1 for r in run.results if r.verdict.value == "error")
        tr.write_line(
            f"ERROR: {n} result(s) of the run are lanprobe's own failures, not the devices' "
            f"({', '.join(errors)}): the run is incomplete and the session fails",
            red=True,
            bold=True,
        )
    if probe.scans_done:
        how = f"scanned {probe.scans_done}x in {probe.scan_seconds:g} s"
        if tr.config.pluginmanager.hasplugin("dsession"):
            how += " by the xdist controller; workers read " + str(probe.run_path)
    else:
        how = f"read from {probe.run_path}"
    tr.write_line(f"run {run.run_id}: {len(run.devices)} device(s), {how}")
    from lanprobe.pytest_items import device_labels

    labels = device_labels(run)
    for dev in run.devices:
        score = run.scores.get(dev.key)
        if score is not None:
            value = "-" if score.score is None else f"{score.score:.1f}"
            tr.write_line(f"  {labels[dev.key]:<32} {score.verdict.value:<17} score {value}")
    if probe.opts.out is not None and probe.run_path is not None:
        tr.write_line(f"run.json: {probe.run_path}")
