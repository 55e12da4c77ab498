"""docs/ci: the three nightly CI files say the same thing. tests/test_fleet_lab.py runs the
GitLab file's commands against a lab bench; here the GitHub Actions workflow and the Jenkinsfile
are held to the same commands (so they cannot drift from the tested one), their shell is valid,
and each publishes JUnit and the HTML report, runs on a runner of its bench and fails only on a
regression."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ruamel.yaml import YAML

CI = Path(__file__).resolve().parents[1] / "docs" / "ci"


def _gitlab() -> dict:
    return YAML(typ="safe").load((CI / "gitlab-ci.yml").read_text())


def _github() -> dict:
    return YAML(typ="safe").load((CI / "github-nightly.yml").read_text())


def _commands(script: str) -> list[str]:
    """The lanprobe command lines of a script, with the extra-options knob left out."""
    lines = [ln.strip() for ln in script.splitlines()]
    return [ln.replace(" $LANPROBE_ARGS", "") for ln in lines if "probe " in ln]


def _jenkins_scripts() -> list[str]:
    text = (CI / "Jenkinsfile").read_text()
    return re.findall(r"sh '''#!/bin/bash\n(.*?)'''", text, flags=re.S)


def test_the_three_files_run_the_same_scan() -> None:
    gitlab = _commands("\n".join(_gitlab()[".lanprobe-nightly"]["script"]))
    scan_step = _github()["jobs"]["scan"]["steps"][0]["run"]
    github = _commands(scan_step)
    jenkins = _commands(_jenkins_scripts()[0])
    tested = [c for c in gitlab if not c.startswith("probe --help")]
    assert len(tested) == 2  # the baseline test and the scan
    assert github == tested and jenkins == tested
    assert "--baseline last --fail-on regression" in tested[0]  # a regression fails the job
    assert "--fail-on never" in "\n".join(_gitlab()[".lanprobe-nightly"]["script"])


def test_each_publishes_junit_and_html_and_runs_on_its_bench() -> None:
    gitlab = _gitlab()
    for name in ("nightly:bench-a", "nightly:bench-b"):
        job = gitlab[name]
        assert job["tags"] == [f"lanprobe-{job['variables']['BENCH']}"]
    assert (
        gitlab[".lanprobe-nightly"]["artifacts"]["reports"]["junit"] == "reports/$BENCH/junit.xml"
    )
    gh = _github()["jobs"]["scan"]
    assert "${{ matrix.bench }}" in gh["runs-on"]
    uploads = [s for s in gh["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["with"]["path"] == "reports/${{ matrix.bench }}/"
    jenkins = (CI / "Jenkinsfile").read_text()
    assert 'junit testResults: "reports/${bench}/junit.xml"' in jenkins
    assert 'archiveArtifacts artifacts: "reports/${bench}/**"' in jenkins
    assert 'node("lanprobe && ${bench}")' in jenkins
    for text in ((CI / "gitlab-ci.yml").read_text(), str(_github()), jenkins):
        assert "probe report --fleet" in text


def test_shell_in_every_file_parses() -> None:
    scripts = [
        "\n".join(_gitlab()[".lanprobe-nightly"]["script"]),
        "\n".join(_gitlab()["fleet"]["script"]),
        *(
            step["run"]
            for job in _github()["jobs"].values()
            for step in job["steps"]
            if "run" in step
        ),
        *_jenkins_scripts(),
    ]
    assert len(scripts) == 6
    for script in scripts:
        res = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert res.returncode == 0, (script, res.stderr)


def test_each_run_records_its_own_report_url() -> None:
    """Each scan keeps where its report is published, with the CI system's id of this job or
    run in it, so the fleet page links last night and the night before to their own reports."""
    gitlab = _gitlab()[".lanprobe-nightly"]["variables"]["LANPROBE_REPORT_URL"]
    assert gitlab.startswith("$CI_JOB_URL/artifacts/file/reports/$BENCH/")
    github = _github()["jobs"]["scan"]["env"]["LANPROBE_REPORT_URL"]
    assert "${{ github.run_id }}" in github
    jenkins = (CI / "Jenkinsfile").read_text()
    assert '"LANPROBE_REPORT_URL=${env.BUILD_URL}artifact/reports/${bench}/report.html"' in jenkins
