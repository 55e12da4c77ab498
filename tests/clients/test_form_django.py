"""Form logins against Django's admin (PyPI django, unmodified): a CSRF token tied to a cookie,
200 with an error message on failure, 302 on success. The campaign keeps the cookie session and
sends the token, finds a default past position 10 of the generic list at standard depth and
proves it; a POST without the token is answered 403 and is no refusal (issue 11)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from lanprobe.checks.clients import http as http_client
from lanprobe.checks.clients.login import Prompts
from lanprobe.checks.configuration import default_login
from lanprobe.checks.context import CheckContext, CheckMeta, DeviceSession, RunOptions, Timeouts
from lanprobe.model import Capability, Device, Service, Severity, Verdict
from lanprobe.paths import data_file
from lanprobe.profile_schema import Credentials, HttpLogin, Interfaces, Profile
from lanprobe.scope import Scope

pytestmark = pytest.mark.realsw  # Django's runserver

T = Timeouts(connect_s=3, read_s=10)
PASSWORD = "admin123"  # 19th in profiles/credentials/generic.txt
LOGIN = HttpLogin(kind="form", path="/admin/login/", success_status=[302])

SETTINGS = """
SECRET_KEY = "lanprobe-test-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                  "django.contrib.sessions", "django.contrib.messages"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
              "django.middleware.common.CommonMiddleware",
              "django.middleware.csrf.CsrfViewMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware"]
ROOT_URLCONF = "lpurls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": [
                  "django.template.context_processors.request",
                  "django.contrib.auth.context_processors.auth",
                  "django.contrib.messages.context_processors.messages"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "DBPATH"}}
USE_TZ = True
# Django's documented speed-up for tests: a fast hasher (the login flow is the same).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def django_admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("django")
    (root / "lpsettings.py").write_text(SETTINGS.replace("DBPATH", str(root / "db.sqlite3")))
    (root / "lpurls.py").write_text(
        "from django.contrib import admin\nfrom django.urls import path\n"
        "urlpatterns = [path('admin/', admin.site.urls)]\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "lpsettings", "PYTHONPATH": str(root),
           "DJANGO_SUPERUSER_PASSWORD": PASSWORD}  # fmt: skip
    django = [sys.executable, "-m", "django"]
    run = {"env": env, "cwd": root, "check": True, "timeout": 120, "capture_output": True}
    subprocess.run([*django, "migrate", "-v", "0"], **run)  # type: ignore[call-overload]
    subprocess.run([*django, "createsuperuser", "--noinput", "--username", "admin",  # type: ignore[call-overload]
                    "--email", "a@example.invalid"], **run)  # fmt: skip
    port = _free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen(
        [*django, "runserver", f"127.0.0.1:{port}", "--noreload"], env=env, cwd=root, **quiet
    )
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                pytest.fail(f"django runserver exited with {proc.returncode}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ctx(port: int) -> CheckContext:
    device = Device(key="02:00:00:00:00:80", ips=["127.0.0.1"],
                    services=[Service(port=port, name="http")])  # fmt: skip
    creds = Credentials(lists=["generic"], pacing_s=0, depth="standard", window=None)
    profile = Profile(id="t", interfaces=Interfaces(http_login=LOGIN), credentials=creds)
    session = DeviceSession(device=device, profile=profile, scope=Scope.build(["127.0.0.1/32"]),
                            options=RunOptions(timeouts=T))  # fmt: skip
    meta = CheckMeta(capability=Capability.device_configuration, severity=Severity.critical)
    return CheckContext(session=session, check_id="configuration.default-login", meta=meta)


async def test_django_admin_default_found_with_its_csrf_token(django_admin: int) -> None:
    [res] = [r async for r in default_login(_ctx(django_admin))]
    assert res.verdict is Verdict.fail, res.title
    ok = res.evidence["accepted"]
    assert ok["user"] == "admin" and ok["answer"].startswith("302")
    assert ok["hidden_fields"] == ["csrfmiddlewaretoken", "next"]  # sent back as the page had them
    wrong = res.evidence["wrong_password"]
    assert wrong["accepted"] is False and wrong["judged"].startswith("failure message")
    assert len(res.evidence["tried"]) == 19  # the 19th candidate of the generic list


async def test_a_post_without_the_csrf_token_is_no_refusal(django_admin: int) -> None:
    prompts = Prompts.load(data_file("login-prompts.txt"))
    answer = await http_client.fetch("127.0.0.1", django_admin, LOGIN.path, tls=False,
                                     timeouts=T, method="POST",
                                     data={"username": "admin", "password": "x"})  # fmt: skip
    assert answer.status == 403
    verdict = http_client.judge_form(answer, LOGIN, prompts)
    assert verdict.accepted is None and "token" in verdict.why
