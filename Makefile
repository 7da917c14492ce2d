# Jinn Guard. `make run` starts it on embedded defaults; `make test` runs every test.
SWIFT ?= swift
BIN := .build/debug
PYTEST := python3 -m pytest

.PHONY: deps bpf build run test unit e2e demo bench clean release

deps:
	@scripts/install-deps.sh

# BPF objects go next to the binaries (jg-kernel's default bpf_dir). swift build runs first: it replaces
# .build/debug with a symlink, which would drop objects made before it.
bpf: deps
	$(SWIFT) build --product jg-kernel
	$(MAKE) -C bpf OUT=$(CURDIR)/$(BIN)/bpf

build: deps
	$(SWIFT) build
	$(MAKE) -C bpf OUT=$(CURDIR)/$(BIN)/bpf

release: deps
	$(SWIFT) build -c release
	$(MAKE) -C bpf OUT=$(CURDIR)/.build/release/bpf

run: build
	$(BIN)/jinnguard run

unit: build
	$(SWIFT) test

e2e: build
	JINNGUARD_BIN=$(CURDIR)/$(BIN)/jinnguard $(PYTEST) -q tests/e2e

test: build
	$(SWIFT) test
	JINNGUARD_BIN=$(CURDIR)/$(BIN)/jinnguard $(PYTEST) -q tests/e2e

demo: build
	JINNGUARD_BIN=$(CURDIR)/$(BIN)/jinnguard python3 scripts/demo.py

bench: deps
	scripts/bench.sh

clean:
	rm -rf .build jinnguard-state
