# stanzalink: the targets a newcomer looks for.
#   make demo    the main job (see README)
#   make try     a throwaway server and device for your own chat client, until Ctrl-C
#   make test    set up everything on a fresh Debian 12 machine and run all tests
#   make lint    ruff (lint + format check) and mypy
#   make bench   benchmarks against the peers; results in bench/results, numbers in README
#   make bench-fleet  1,000 simulated devices on a two-node ejabberd cluster through a
#                node's crash (bench/bench_fleet.py; FLEET_ARGS="--devices 200" for fewer)
#   make fuzz    a longer libFuzzer run of the tokenizer
#   make deb     the Debian package (debian/), into dist/
#   make chaos   the device's link cut 8 times while 120 console commands flow, 20 runs
#                on Prosody and 20 on ejabberd: none lost or duplicated (bench/chaos.py)
#   make screenshots  the console in Pidgin (under Xvfb) and profanity (in tmux), as
#                PNGs in docs/img (scripts/screenshots.py)
VENV ?= .venv
PY := $(VENV)/bin/python
PYSRC := $(wildcard agent tests bench examples native/tools native/build_ffi.py)

.PHONY: setup demo try test test-native test-python test-cross lint format bench bench-fleet chaos fuzz fuzz-smoke screenshots clean deb

setup:
	./scripts/bootstrap.sh

demo: setup
	$(PY) examples/demo.py

try: setup
	$(PY) examples/try_it.py $(TRY_ARGS)

test: setup lint test-native test-python test-cross

test-native:
	$(MAKE) -C native test
	$(MAKE) -C native fuzz-smoke

test-python:
	$(PY) -m pytest -q

# the native module cross-compiled for ARM, installed as a wheel into Debian's
# target Python and tested under qemu-user: the C tests and every Python test that
# needs no server (see scripts/cross/build-and-test.sh)
test-cross:
	./scripts/cross/build-and-test.sh arm64 --python-tests
	./scripts/cross/build-and-test.sh armhf --python-tests

lint: setup
	$(VENV)/bin/ruff check $(PYSRC)
	$(VENV)/bin/ruff format --check $(PYSRC)
	$(VENV)/bin/mypy
	./scripts/lint-packaging.sh

format: setup
	$(VENV)/bin/ruff format $(PYSRC)
	$(VENV)/bin/ruff check --fix $(PYSRC)

bench:
	./scripts/bootstrap.sh --bench
	$(VENV)/bin/pip install -q -r requirements-bench.txt
	$(PY) bench/run.py
	$(PY) bench/bench_session.py --readme

bench-fleet: setup
	$(VENV)/bin/pip install -q -r requirements-bench.txt
	$(PY) bench/bench_fleet.py $(FLEET_ARGS)

chaos: setup
	$(PY) bench/chaos.py --server both --runs $${CHAOS_RUNS:-20} --cuts 8 --commands 120

screenshots: setup
	./scripts/bootstrap.sh --screenshots
	PYTHONPATH=agent $(PY) scripts/screenshots.py --out docs/img

fuzz: setup
	$(MAKE) -C native fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-300}

fuzz-smoke:
	$(MAKE) -C native fuzz-smoke

# the Debian package, built by dpkg-buildpackage from a copy of the files git
# tracks (as they are in the work tree; no build products), so it builds what
# a clean checkout would.  The build dependencies: sudo apt-get build-dep ./
# PATH is Debian's own and PYTHONPATH unset: a pyenv or venv python3 ahead of
# /usr/bin would be the interpreter pybuild builds for.
DEB_BUILD ?= build/deb
DEB_OUT ?= dist
deb:
	rm -rf $(DEB_BUILD) && mkdir -p $(DEB_BUILD)/stanzalink $(DEB_OUT)
	git ls-files -z | tar --null --ignore-failed-read -T - -cf - | tar -xf - -C $(DEB_BUILD)/stanzalink
	cd $(DEB_BUILD)/stanzalink && env -u PYTHONPATH -u PYTHONHOME PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -us -uc -b
	mv $(DEB_BUILD)/*.deb $(DEB_OUT)/
	@ls $(DEB_OUT)/stanzalink_*.deb

clean:
	$(MAKE) -C native clean
	rm -rf build dist agent/*.egg-info agent/stanzalink/_sl_native.*
