# CNNs for Computer Vision: one command to build the book, one to test it.
#
#   make book   create .venv if needed, install everything, execute every notebook
#               and build the static site into _build/html
#   make test   lessonkit's unit tests, nbval regression checks of every notebook,
#               a build of the book from the checked outputs, and a browser test of it
#
# Other targets: venv, portable, execute, syllabus, full-profile, results, unit, nbval, site, browser, linkcheck, app, bench, colab, colab-like, backbones, clean.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
JB     := $(VENV)/bin/jupyter-book
# torch is installed first and on its own: on the course's build machines these
# exact releases lie on disk (a plain `pip install torch` would download several GB).
# Elsewhere override it, e.g.  make book TORCH_SPEC="torch torchvision"
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

# The offline data mirror, used when it exists beside the repository.
MIRROR ?= $(abspath ../shared/data)
ifneq ($(wildcard $(MIRROR)),)
export LESSONKIT_MIRROR ?= $(MIRROR)
endif
# The committed outputs, nbval and the book are all made with the fast profile,
# and without progress bars (frozen snapshots of timing, not results).
export LESSONKIT_PROFILE ?= fast
export LESSONKIT_PROGRESS ?= 0
export PYTHONHASHSEED ?= 0
# glibc's malloc returns large freed blocks (activations of tens of MB) to the kernel, and the
# next batch's activations then fault in fresh zeroed pages, one 4 KB page at a time: on two
# cores that can be half the CPU time of a training step at 150 px (benchmarks/allocator.py
# measures it side by side). Keeping freed memory in the process's heap avoids it. Other C
# libraries ignore these variables; on Colab and on a GPU nothing changes.
export MALLOC_MMAP_THRESHOLD_ ?= 2147483647
export MALLOC_TRIM_THRESHOLD_ ?= 2147483647
export MALLOC_TOP_PAD_ ?= 536870912

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
NB        ?= $(NOTEBOOKS)

.PHONY: help venv book test portable unit nbval site browser execute syllabus full-profile results linkcheck app bench clean colab colab-like backbones

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

# The venv is (re)made when pyproject.toml changes; the stamp records a complete install.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PY) -c "import torch, torchvision" 2>/dev/null || $(PIP) install $(TORCH_SPEC)
	$(PIP) install --quiet -e ".[book,test,app,bench,lightning]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lessonkit)" >/dev/null
	touch $@

venv: $(VENV)/.installed

# Execute every notebook in place, then build the site from those outputs: the
# same build `make test` checks (there it is made from the committed outputs).
book: venv
	$(PY) scripts/execute_notebooks.py $(NOTEBOOKS)
	$(MAKE) --no-print-directory site
	@echo "The book is in _build/html/index.html"

# Re-execute notebooks in place (authors: do this, then commit the outputs).
execute: venv
	$(PY) scripts/execute_notebooks.py $(NB)

syllabus: venv
	$(PY) scripts/make_syllabus.py

# Run the lessons that book/results.md reports in the full profile (minutes each on
# a GPU, tens of minutes on a CPU), keep their records in results/full/, and
# regenerate the results page from them. Only lessons whose record is missing or
# stale run, one at a time, so an interrupted run resumes where it stopped;
# FULL_NB="notebooks/04_training_a_cnn.ipynb" runs one whatever its record says.
# The page is regenerated even when a lesson failed; the target still fails then.
FULL_NB ?=
full-profile: venv
	$(PY) scripts/run_full_profile.py $(FULL_NB); status=$$?; $(PY) scripts/make_results.py && exit $$status

results: venv
	$(PY) scripts/make_results.py

# The unit tests, the conventions test and every docstring example of lessonkit.
unit: venv
	$(PY) -m pytest -q -m "not browser" --doctest-modules tests lessonkit

nbval: venv
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=2400 --durations=15 $(NOTEBOOKS)

# Build the site from the notebooks' stored outputs (_config.yml never executes):
# in `make test` those are the committed outputs, which nbval has just re-run.
site: venv
	$(JB) build . --warningiserror --nitpick --keep-going --builder html

browser: venv
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest -q -m browser tests

test: unit nbval site browser

# The same checks as another machine would run them: one thread, then torch's
# portable (non-vectorised) kernels. Training results change in their last
# digits; the checks must not. Slow: the second run takes several times longer.
portable: venv
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory unit nbval
	ATEN_CPU_CAPABILITY=default $(MAKE) --no-print-directory unit nbval

linkcheck: venv
	$(JB) build . --builder linkcheck

# The "find similar images" app of lesson 13 (http://127.0.0.1:7860; ARGS="--help" for options).
app: venv
	$(PY) -m lessonkit.app $(ARGS)

# The lessons' Jupyter/Colab copies in colab/ (what the site's Colab buttons open):
# regenerate after editing or re-executing a lesson, and commit them (tests/test_colab.py checks).
colab: venv
	$(PY) scripts/make_colab.py

# Every colab/ notebook, top to bottom, in a fresh venv with Colab's preinstalled versions
# (ipywidgets 7, numpy 2.1), lessonkit from a built wheel, no book tools and no mirror variable.
colab-like: venv
	$(PY) scripts/colab_like_test.py $(COLAB_NB)

bench: venv
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Run lessons 09-11 top to bottom on each backbone of lk.pretrained_model()'s fall-back chain
# (LESSONKIT_BACKBONE; ResNet-18 as its offline stand-in, whose claim checks may fail).
# BACKBONE_NB="notebooks/09_inside_a_cnn.ipynb" runs one lesson; BACKBONES="squeezenet1_0" one backbone.
BACKBONE_NB ?=
BACKBONES   ?= resnet18-standin efficientnet_lite0 squeezenet1_0 mobilenet_v2
backbones: venv
	$(PY) scripts/run_backbones.py $(BACKBONE_NB) --backbones $(BACKBONES)

clean:
	rm -rf _build
