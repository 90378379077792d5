# Two commands for a newcomer: `make demo` and `make test`. Both build their own venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv fuzz bench lab clean

$(STAMP): pyproject.toml setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@$(VENV)/bin/pcaptls diagnose captures/mra-login/capture.pcap \
	    --log captures/mra-login/expressway.log \
	    --trust-store captures/mra-login/truststore.pem || test $$? -eq 1

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

fuzz: $(STAMP)
	PCAPTLS_FUZZ_INPUTS=$${PCAPTLS_FUZZ_INPUTS:-1000000} $(PY) -m pytest -q tests/fuzz --hypothesis-profile=long -p no:xdist

bench: $(STAMP)
	$(PY) benchmarks/run.py

lab:
	$(PY) captures/lab.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
