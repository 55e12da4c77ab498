"""Logging (probe/logs.py): -v shows each verdict and why, -vv also what was sent where;
--log-file and --log-json write JSON lines a machine can read. No lab: a local HTTP server and
the runner with a fake inventory."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from lanprobe import logs
from lanprobe.checks.clients import http
from lanprobe.checks.context import CheckContext
from lanprobe.cli import app
from lanprobe.model import Result, Verdict
from lanprobe.options import Timeouts
from typer.testing import CliRunner

from tests.clients.localhttp import serving
from tests.test_runner import WIDGET, profiles, run_with, spec  # noqa: F401 (fixture)


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    logs.setup(0)
    for handler in list(logging.getLogger(logs.ROOT).handlers):
        logging.getLogger(logs.ROOT).removeHandler(handler)
        handler.close()


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_http() -> Iterator[int]:
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Ok)) as port:
        yield port


def test_vv_json_logs_each_http_request_and_answer(local_http: int, tmp_path: Path) -> None:
    out = tmp_path / "log.jsonl"
    logs.setup(2, out, json_lines=True)
    fast = Timeouts(connect_s=1.0, read_s=1.0)
    asyncio.run(http.fetch("127.0.0.1", local_http, "/status", tls=False, timeouts=fast))
    sent = [r for r in records(out) if r.get("event") == "send"]
    got = [r for r in records(out) if r.get("event") == "answer"]
    assert sent[0]["url"] == f"http://127.0.0.1:{local_http}/status"
    assert sent[0]["method"] == "GET" and sent[0]["level"] == "debug"
    assert got[0]["status"] == 204


def test_v_logs_verdicts_with_the_reason_but_no_requests(local_http: int, tmp_path: Path) -> None:
    out = tmp_path / "log.txt"
    logs.setup(1, out)
    fast = Timeouts(connect_s=1.0, read_s=1.0)
    asyncio.run(http.fetch("127.0.0.1", local_http, "/", tls=False, timeouts=fast))
    logging.getLogger("lanprobe.runner").info("a verdict")
    text = out.read_text(encoding="utf-8")
    assert "a verdict" in text
    assert "HTTP GET" not in text  # requests are -vv


def test_runner_logs_every_verdict_and_why(profiles: Path, tmp_path: Path) -> None:  # noqa: F811
    async def telnet_open(ctx: CheckContext) -> AsyncIterator[Result]:
        yield ctx.result(Verdict.fail, "telnet is open", target=ctx.target(ctx.services()[0]))

    out = tmp_path / "log.jsonl"
    logs.setup(1, out, json_lines=True)
    run = asyncio.run(
        run_with(profiles, [spec("access.cleartext-admin", telnet_open)], devices=[WIDGET])
    )
    verdicts = [r for r in records(out) if r.get("event") == "verdict"]
    assert len(verdicts) == len(run.results) == 1
    assert verdicts[0]["check"] == "access.cleartext-admin"
    assert verdicts[0]["device"] == WIDGET.key
    assert verdicts[0]["verdict"] == "fail" and verdicts[0]["reason"] == "telnet is open"
    assert verdicts[0]["level"] == "info"


def test_quiet_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup(0)
    logging.getLogger("lanprobe.runner").info("not shown")
    assert "not shown" not in capsys.readouterr().err


def test_cli_options_set_up_the_log(tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl"
    res = CliRunner().invoke(
        app, ["-vv", "--log-file", str(out), "--log-json", "profile", "schema"]
    )
    assert res.exit_code == 0, res.output
    [start] = [r for r in records(out) if r.get("event") == "start"]
    assert start["logger"] == "lanprobe.cli" and start["level"] == "debug"
