#!/usr/bin/env bash
# `make bench`: release build, C benchmark programs, stage microbenchmarks, one run of everything against a
# release daemon in a temporary directory, and BENCHMARKS.md regenerated at the repository root.
# BENCH_BUILD_PATH: use another release build directory (default: .build, what `make bench` users get).
# BENCH_REQUESTS:   sequential requests per latency case (default 10000).
# BENCH_SOURCE_DIR: build and measure another source tree (e.g. `git archive HEAD` unpacked while the working
#                   tree is mid-edit); BENCH_COMMIT then names what it is. BENCHMARKS.md is still written here.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
SRC=${BENCH_SOURCE_DIR:-$REPO}
SCRATCH=${BENCH_BUILD_PATH:-.build}
if [ "$SRC" != "$REPO" ]; then
    rm -rf "$SRC/Benchmarks" && mkdir -p "$SRC/Benchmarks"
    cp -a "$REPO/Benchmarks/Package.swift" "$REPO/Benchmarks/Sources" "$SRC/Benchmarks/"
    if [ -f "$REPO/Benchmarks/Package.resolved" ]; then cp "$REPO/Benchmarks/Package.resolved" "$SRC/Benchmarks/"; fi
fi
cd "$SRC"

echo "bench: swift build -c release (--scratch-path $SCRATCH)" >&2
swift build -c release --scratch-path "$SCRATCH"
BINDIR=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)
make -C "$REPO/bpf" OUT="$BINDIR/bpf" >&2

OUT=$(mktemp -d /tmp/jgbench-bin-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
chmod 755 "$OUT"   # the load generator runs as uid 10001
echo "bench: gcc -O2 bench/*.c" >&2
gcc -O2 -Wall -o "$OUT/floor" "$REPO/bench/floor.c"
gcc -O2 -Wall -Wno-deprecated-declarations -o "$OUT/loadgen" "$REPO/bench/loadgen.c" -lcrypto
gcc -O2 -Wall -Wno-deprecated-declarations -o "$OUT/stages" "$REPO/bench/stages.c" -lcrypto

# Stage microbenchmarks of the daemon's own Swift code (Benchmarks/: symlinks to Sources/). A failure here
# is reported in BENCHMARKS.md as "not measured", never hidden.
SWIFT_STAGES=""
echo "bench: swift build -c release (Benchmarks/)" >&2
if (cd Benchmarks && swift build -c release >&2); then
    SWIFT_STAGES="$SRC/Benchmarks/.build/release/jg-stage-bench"
else
    echo "bench: Benchmarks/ did not build; the Swift stage figures will be marked as not measured" >&2
fi

python3 "$REPO/bench/run_bench.py" --bindir "$BINDIR" --floor "$OUT/floor" --loadgen "$OUT/loadgen" --stages "$OUT/stages" \
    ${SWIFT_STAGES:+--swift-stages "$SWIFT_STAGES"} --requests "${BENCH_REQUESTS:-10000}" \
    --json "${BENCH_RESULTS_JSON:-$OUT/results.json}" --out "$REPO/BENCHMARKS.md"
# jg-kernel's overhead (issue 5): connect() and execve() in a governed cgroup against ungoverned ones.
echo "bench: bench/kernel_bench.sh" >&2
if KSEC=$(JINNGUARD_BIN="$BINDIR/jinnguard" JINNGUARD_BPF_DIR="$BINDIR/bpf" bash "$REPO/bench/kernel_bench.sh"); then
    printf '\n%s\n' "$KSEC" >> "$REPO/BENCHMARKS.md"
else
    printf '\n## Kernel plane overhead\n\nNot measured in this run: bench/kernel_bench.sh failed (see its output).\n' >> "$REPO/BENCHMARKS.md"
fi
# Locked agents (issue 13): `jinnguard agent run -- /bin/true` against plain /bin/true and bwrap.
echo "bench: bench/locked_bench.py" >&2
if LSEC=$(python3 "$REPO/bench/locked_bench.py" --jinnguard "$BINDIR/jinnguard" --runs "${BENCH_LOCKED_RUNS:-200}"); then
    printf '\n%s\n' "$LSEC" >> "$REPO/BENCHMARKS.md"
else
    printf '\n## Locked agent start-up (issue #13)\n\nNot measured in this run: bench/locked_bench.py failed (see its output).\n' >> "$REPO/BENCHMARKS.md"
fi
echo "bench: BENCHMARKS.md written" >&2
