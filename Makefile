# lanprobe: `make demo` and `make test` work on a fresh Debian machine as root.
VENV    := .venv
PY      := $(VENV)/bin/python
PROBE   := $(VENV)/bin/probe
PYTEST  := $(VENV)/bin/pytest
# System packages the probe and the lab bench need (installed only when missing).
SYSPKGS := nmap curl mosquitto iproute2 libwireshark-data tcpdump procps chromium postgresql dnsmasq-base openssh-server snmpd vsftpd tftpd-hpa chrony miniupnpd-nftables \
	gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good
DEMO_OUT ?= reports/demo
# The demo bench (override to keep off another bench: make demo DEMO_BRIDGE=plab3 DEMO_SUBNET=...).
DEMO_BRIDGE ?= plab0
DEMO_SUBNET ?= 198.18.0.0/24

.PHONY: setup sysdeps venv demo test lint bench clean

setup: sysdeps venv

sysdeps:
	@missing=""; for p in $(SYSPKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# node and npm for tests/clients/test_nodered.py (npm installs Node-RED): Debian's nodejs and
	@# npm packages where no node/npm is installed (a NodeSource nodejs brings its own npm).
	@command -v npm >/dev/null 2>&1 || { echo "installing system packages: nodejs npm"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; }

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: setup
	@$(PROBE) lab down --bridge $(DEMO_BRIDGE) >/dev/null 2>&1 || true
	@# The bench comes down whatever happens: a failed `up`, a failed scan, Ctrl-C.
	@rc=0; trap '$(PROBE) lab down --bridge $(DEMO_BRIDGE) >/dev/null 2>&1' INT TERM; \
	$(PROBE) lab up --bridge $(DEMO_BRIDGE) --subnet $(DEMO_SUBNET) && { \
		$(PROBE) scan --lab --bridge $(DEMO_BRIDGE) --out $(DEMO_OUT) --format console,json,junit,html \
			--fail-on never || rc=$$?; \
	} || rc=$$?; \
	$(PROBE) lab down --bridge $(DEMO_BRIDGE); exit $$rc

# pytest exits 5 when it collected no test: for this suite that means it is broken, so fail.
# The suite mostly waits on lab devices (login pacing, timeouts), so it runs on TEST_WORKERS
# pytest-xdist workers even on 2 cores; --dist loadgroup keeps each bench's tests on one worker
# (tests/conftest.py). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 3
test: setup
	@# Strict: everything is installed and we are root, so a test missing a need fails (tests/requires.py).
	@rc=0; LANPROBE_TESTS_STRICT=1 $(PYTEST) -q -p no:randomly -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken"; exit 1; fi; \
	exit $$rc

# Benchmarks (docs/performance.md): the default lab bench at login depths quick/standard/deep
# (times, login attempts per second per device), then 10 and 50 lab devices, lanprobe against
# nmap -sV + NSE on the same bench. Bench bridges/subnets are overridable; BENCH_ARGS=--no-nmap
# skips nmap, BENCH_ARGS='--depths ""' the depth runs.
BENCH_BRIDGE ?= plab9
BENCH_SUBNET ?= 198.18.9.0/24
BENCH_BIG_BRIDGE ?= plab9x
BENCH_BIG_SUBNET ?= 198.18.90.0/24
bench: setup
	$(PY) scripts/bench.py --bridge $(BENCH_BRIDGE) --subnet $(BENCH_SUBNET) \
		--big-bridge $(BENCH_BIG_BRIDGE) --big-subnet $(BENCH_BIG_SUBNET) $(BENCH_ARGS)

lint: venv
	$(VENV)/bin/ruff check probe checks lab tests
	$(VENV)/bin/ruff format --check probe checks lab tests

clean:
	rm -rf $(VENV) build *.egg-info reports
