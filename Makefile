# clubsim developer tasks. `make demo` and `make test` work on a fresh clone:
# they create .venv (Python >= 3.12, found by .ci/find-python) and install the
# package with its test extras first; the install reruns only when pyproject.toml changes.

SHELL := /bin/sh
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINT_PATHS := $(wildcard sim tests benchmarks)

CHROMIUM := /usr/bin/chromium

.PHONY: venv install browser demo test lint clean distclean

venv: $(PY)

$(PY):
	@python="$$(sh .ci/find-python)" && echo "creating $(VENV) with $$python" && "$$python" -m venv --clear $(VENV)

install: $(STAMP)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: install
	$(VENV)/bin/clubsim compare experiments/exclusivity_vs_complementarity.yaml --runs 300

# the browser tests drive Debian's chromium (never a downloaded browser); as root (CI) apt-get installs it
# once, otherwise they are skipped with the reason
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "note: $(CHROMIUM) is missing (apt-get install chromium as root); the browser tests will be skipped"; \
	  fi; \
	fi

test: install browser
	$(PY) -m pytest -q

lint: install
	$(PY) -m ruff check $(LINT_PATHS)

# build artefacts and caches; keeps .venv and run outputs (runs/, results/)
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o \( -name "*.nbi" -o -name "*.nbc" \) -type f -exec rm -f {} +

# also the virtual environment
distclean: clean
	rm -rf $(VENV)
