# Jinn Guard. `make run` starts it on embedded defaults; `make test` runs every test.
SWIFT ?= swift
BIN := .build/debug
PYTEST := python3 -m pytest

.PHONY: deps bpf build run test unit e2e demo bench clean release fuzz fuzz-smoke differential test-asan test-ubsan e2e-asan check

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

# Fuzzing and sanitizers (docs/fuzzing.md). `make fuzz` runs every fuzz target FUZZ_SECONDS (or FUZZ_RUNS
# executions) each; `make check` is `make test` plus what CI adds: a fuzz smoke of every target, the
# differential runs, the unit tests under ASan and UBSan, and a short e2e run against an ASan daemon.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 15
DIFF_COUNT ?= 20000
# Resident-memory bounds do not hold under ASan (shadow memory, redzones, quarantine): not run there.
E2E_ASAN_SKIP ?= --deselect tests/e2e/test_frames.py::test_many_idle_connections_then_normal_request
E2E_ASAN_TESTS ?= tests/e2e/test_frames.py tests/e2e/test_connection.py tests/e2e/test_audit.py tests/e2e/test_network.py tests/e2e/test_policy_bounds.py

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

fuzz-smoke: deps
	FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) scripts/fuzz.sh
	python3 scripts/fuzz_differential.py fuzzing/.build/debug/jg-fuzz --count $(DIFF_COUNT)

differential: deps
	FUZZ_TARGETS=json FUZZ_SECONDS=1 scripts/fuzz.sh
	python3 scripts/fuzz_differential.py fuzzing/.build/debug/jg-fuzz --count $(DIFF_COUNT)

# Own scratch paths: a sanitizer build never replaces the plain one that `make test` uses.
test-asan: deps
	# Leak checking off: LeakSanitizer reports the XCTest runner's and FoundationEssentials' own allocations.
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --scratch-path .build/asan --sanitize=address

# swiftc has no -sanitize=undefined (Swift traps overflow and bounds itself): UBSan instruments the C
# shims, where the pointer work is, and any report is fatal.
UBSAN_FLAGS := -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=all -Xswiftc -Xclang-linker -Xswiftc -fsanitize=undefined
test-ubsan: deps
	$(SWIFT) test --scratch-path .build/ubsan $(UBSAN_FLAGS)

e2e-asan: deps
	$(SWIFT) build --scratch-path .build/asan --sanitize=address
	$(MAKE) -C bpf OUT=$(CURDIR)/.build/asan/debug/bpf
	JINNGUARD_BIN=$(CURDIR)/.build/asan/debug/jinnguard ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 $(PYTEST) -q $(E2E_ASAN_TESTS) $(E2E_ASAN_SKIP)

check: test fuzz-smoke test-asan test-ubsan e2e-asan

demo: build
	JINNGUARD_BIN=$(CURDIR)/$(BIN)/jinnguard python3 scripts/demo.py

bench: deps
	scripts/bench.sh

clean:
	rm -rf .build jinnguard-state

# Installed layout (docs/deployment.md): binaries and BPF objects in $(LIBDIR), units, sysusers.d and
# tmpfiles.d snippets, a default policy in /etc/jinnguard (kept when present). DESTDIR for staging.
PREFIX ?= /usr
LIBDIR ?= $(PREFIX)/lib/jinnguard
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL_BIN ?= $(BIN)
COMPONENTS := jinnguard jg-gate jg-prover jg-kernel jg-broker

.PHONY: install install-files deb deb-package
install: build install-files

install-files:
	install -d $(DESTDIR)$(LIBDIR)/bpf $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d $(DESTDIR)$(PREFIX)/share/doc/jinnguard
	install -d -m 0700 $(DESTDIR)/etc/jinnguard
	for c in $(COMPONENTS); do install -m 0755 $(INSTALL_BIN)/$$c $(DESTDIR)$(LIBDIR)/$$c || exit 1; done
	install -m 0644 $(INSTALL_BIN)/bpf/*.bpf.o $(DESTDIR)$(LIBDIR)/bpf/
	ln -sf $(LIBDIR)/jinnguard $(DESTDIR)$(PREFIX)/bin/jinnguard
	for u in deploy/units/*; do sed 's|/usr/lib/jinnguard|$(LIBDIR)|g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; done
	install -m 0644 deploy/sysusers.d/jinnguard.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/jinnguard.conf
	install -m 0644 deploy/tmpfiles.d/jinnguard.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/jinnguard.conf
	install -m 0644 docs/deployment.md $(DESTDIR)$(PREFIX)/share/doc/jinnguard/deployment.md
	[ -e $(DESTDIR)/etc/jinnguard/policy.yaml ] || install -m 0600 deploy/policy.yaml $(DESTDIR)/etc/jinnguard/policy.yaml

# Debian package (dpkg-deb) from a release build with the Swift runtime linked in; `deb-package`
# packages whatever DEB_BIN holds (the systemd tests package the debug build).
DEB_BIN ?= .build/release
DEB_OUT ?= .
DEB_VERSION ?= 0.1.0
deb: deps
	$(SWIFT) build -c release --static-swift-stdlib
	$(MAKE) -C bpf OUT=$(CURDIR)/.build/release/bpf
	$(MAKE) deb-package DEB_BIN=.build/release

deb-package:
	rm -rf $(DEB_OUT)/deb-root && mkdir -p $(DEB_OUT)/deb-root/DEBIAN
	$(MAKE) install-files DESTDIR=$(abspath $(DEB_OUT))/deb-root PREFIX=/usr INSTALL_BIN=$(DEB_BIN)
	sed -e 's/@VERSION@/$(DEB_VERSION)/' -e "s/@ARCH@/$$(dpkg --print-architecture)/" deploy/debian/control.in > $(DEB_OUT)/deb-root/DEBIAN/control
	install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm $(DEB_OUT)/deb-root/DEBIAN/
	echo /etc/jinnguard/policy.yaml > $(DEB_OUT)/deb-root/DEBIAN/conffiles
	dpkg-deb --root-owner-group --build $(DEB_OUT)/deb-root $(DEB_OUT)/jinnguard_$(DEB_VERSION)_$$(dpkg --print-architecture).deb
	rm -rf $(DEB_OUT)/deb-root
