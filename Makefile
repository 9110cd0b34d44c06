# symctl: `make demo` and `make test` work on a fresh machine by themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
# Debian packages the tests use (C compilers, ARM cross toolchain, QEMU, cppcheck, Chromium).
DEBIAN_PACKAGES := gcc clang cppcheck gcc-arm-none-eabi libnewlib-arm-none-eabi picolibc-arm-none-eabi qemu-system-arm chromium

.PHONY: demo test test-slow lint bench system-packages clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Installs the Debian packages when running as root with apt (CI, fresh machines); elsewhere the
# tests that need them skip with the reason.
$(SYSTEM_STAMP):
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || echo "warning: could not install$$missing; tests that need them will skip"; \
	  fi; \
	fi
	@mkdir -p $(VENV) && touch $(SYSTEM_STAMP)

system-packages: $(SYSTEM_STAMP)

# The walkthrough's plant (examples/dc_motor.toml, in SI units) through the whole job: synthesis,
# certificate, C verified on the host and the emulated Cortex-M4. Exits 3 if either fails.
demo: $(STAMP) $(SYSTEM_STAMP)
	$(VENV)/bin/symctl run examples/dc_motor.toml --budget quick --out runs/demo

test: $(STAMP) $(SYSTEM_STAMP) lint
	$(PY) -m pytest -q -m "not slow" -n 2 --dist loadgroup --durations=25

test-slow: $(STAMP) $(SYSTEM_STAMP)
	$(PY) -m pytest -q -m slow

# Every kept benchmark in a quick mode (small sizes): checks that each runs end to end. Figures, full
# commands and bars are in bench/*_RESULTS.md. About 15 min on 2 cores (measured at load 4-8);
# not part of `make test`.
BENCH_OUT := /tmp/symctl-bench-quick
bench: $(STAMP) $(SYSTEM_STAMP)
	rm -rf $(BENCH_OUT)
	$(PY) bench/simulate.py --repeats 2
	$(PY) bench/validation_margins.py
	$(PY) bench/validation_sweep.py --repeats 1
	$(PY) bench/validation_worstcase.py
	$(PY) bench/codegen_size.py --policy 'GP-D run=bench/codegen_gpd_sho_noisy.json'
	$(PY) bench/pendulum_reference.py --grid 91 81
	$(PY) bench/gp_linear_bound.py --starts 1 --adam 300
	$(PY) bench/gp_sho.py --tasks sho/partial --methods gp-d --seeds 0 --budget quick --generations 1 --out $(BENCH_OUT)/gp
	$(PY) bench/gp_speed.py $(BENCH_OUT)/gp/sho-partial-gp-d-quick-0 --generations 2
	$(PY) bench/espl_bench.py mountaincar/continuous espl-s --seeds 0 --out $(BENCH_OUT)/espl
	$(PY) bench/pipeline_cache.py --generations 1

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
