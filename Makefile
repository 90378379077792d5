# Two commands for a newcomer: `make demo` and `make test`. Both build their own venv, and the
# Rust engine with it (pip builds it through maturin, the build backend, which pip fetches itself;
# cargo fetches the crates). `make demo` installs only pcaptls and what it needs to run; `make test`
# adds the test extras (pytest, tshark's driver, dask, Jupyter, matplotlib...: several hundred MB).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
CARGO ?= cargo
RUST := rust
EXT := pcaptls/_core.abi3.so
RUST_SRC := $(shell find $(RUST)/core/src $(RUST)/python/src -name '*.rs' 2>/dev/null) \
	$(RUST)/Cargo.toml $(RUST)/Cargo.lock $(RUST)/core/Cargo.toml $(RUST)/python/Cargo.toml

.PHONY: demo test pytest rust-test venv test-venv fuzz cargo-fuzz bench lab clean

# The package alone, editable (pip builds the Rust engine into pcaptls/ through maturin).
$(STAMP): pyproject.toml setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $(STAMP)

# The test extras on top (maturin among them: make rebuilds the engine in place with it).
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[test]'
	touch $(TEST_STAMP)

# The extension in place; rebuilt when a Rust source changes: by pip again (no maturin in a demo
# venv), or by maturin develop once the test extras are in. (pip built it with the venv; make may
# not see that, hence the test before building again.)
$(EXT): $(RUST_SRC) | $(STAMP)
	@if [ ! -f $(EXT) ] || [ -n "$$(find $(RUST_SRC) -newer $(EXT))" ]; then \
	    if [ -x $(VENV)/bin/maturin ]; then \
	        VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop -q --release \
	            --manifest-path $(RUST)/python/Cargo.toml >/dev/null || exit 1; \
	    else $(PY) -m pip install -q --no-deps -e . || exit 1; fi; \
	    touch $(EXT); fi
	@test -f $(EXT) || (echo "the Rust engine did not build" >&2; exit 1)

venv: $(EXT)

test-venv: $(TEST_STAMP) $(EXT)

demo: $(EXT)
	@$(VENV)/bin/pcaptls diagnose captures/mra-login/capture.pcap \
	    --log captures/mra-login/expressway.log \
	    --trust-store captures/mra-login/truststore.pem || test $$? -eq 1
	@echo
	@echo "pcaptls is installed in $(VENV): run it as $(VENV)/bin/pcaptls, or 'source $(VENV)/bin/activate' first."

# The Rust core's own tests and lints, then the whole Python suite (both engines where it matters).
test: rust-test pytest

rust-test:
	cd $(RUST) && $(CARGO) test -q --locked -p pcaptls-core --lib
	cd $(RUST) && $(CARGO) clippy -q --locked --all-targets -- -D warnings

pytest: test-venv
	$(PY) -m pytest -n 2 -q

fuzz: test-venv
	PCAPTLS_FUZZ_INPUTS=$${PCAPTLS_FUZZ_INPUTS:-1000000} $(PY) -m pytest -q tests/fuzz --hypothesis-profile=long -p no:xdist

# libFuzzer over the Rust parsers (cargo install cargo-fuzz; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain take its -Z flags): seeds from the corpus and the lab, then FUZZ_SECONDS per target.
cargo-fuzz: test-venv
	$(PY) $(RUST)/core/fuzz/seeds.py
	cd $(RUST)/core/fuzz && for t in $$(RUSTC_BOOTSTRAP=1 $(CARGO) fuzz list); do \
	    RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$${FUZZ_SECONDS:-60} -rss_limit_mb=2048 || exit 1; done

bench: test-venv
	$(PY) benchmarks/run.py

lab:
	$(PY) captures/lab.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis $(EXT) $(RUST)/target
