# Shared by the scripts: the repository root, a JDK >= 23, and PoCL's kernel cache.
# Source it; it defines functions and variables and runs nothing else.

NETCL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NETCL_BUILD="${NETCL_BUILD:-$NETCL_ROOT/build}"
# PoCL silently hides its device when it cannot write its kernel cache (see DESIGN.md).
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$NETCL_BUILD/pocl-cache}"
mkdir -p "$POCL_CACHE_DIR"

netcl_die() {
    echo "error: $*" >&2
    exit 1
}

# The feature version of the JDK at $1 (e.g. 25), or nothing.
netcl_jdk_version() {
    local release="$1/release"
    [ -x "$1/bin/javac" ] && [ -f "$release" ] || return 0
    sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$release"
}

# Exports JAVA_HOME as a JDK >= 23: $JAVA_HOME if it qualifies, else the newest under /usr/lib/jvm.
netcl_find_jdk() {
    local candidate version best="" best_version=0
    if [ -n "${JAVA_HOME:-}" ]; then
        version="$(netcl_jdk_version "$JAVA_HOME")"
        if [ -n "$version" ] && [ "$version" -ge 23 ]; then
            export PATH="$JAVA_HOME/bin:$PATH"
            netcl_quiet_maven
            return 0
        fi
        echo "note: JAVA_HOME=$JAVA_HOME is not a JDK >= 23; looking under /usr/lib/jvm" >&2
    fi
    for candidate in /usr/lib/jvm/*; do
        version="$(netcl_jdk_version "$candidate")"
        if [ -n "$version" ] && [ "$version" -ge 23 ] && [ "$version" -gt "$best_version" ]; then
            best="$candidate"
            best_version="$version"
        fi
    done
    [ -n "$best" ] || netcl_die "no JDK >= 23 found: set JAVA_HOME to one (netcl's Java layer uses the
FFM API and jextract's output, which need Java 23 or later), or install one under /usr/lib/jvm."
    export JAVA_HOME="$best"
    export PATH="$JAVA_HOME/bin:$PATH"
    netcl_quiet_maven
}

# Maven 3.8's bundled Guava calls sun.misc.Unsafe, which JDK 23+ warns about on every run; the
# option (JDK 23+, which netcl_find_jdk guarantees) keeps those lines out of the scripts' output.
netcl_quiet_maven() {
    case " ${MAVEN_OPTS:-} " in
        *" --sun-misc-unsafe-memory-access="*) ;;
        *) export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" ;;
    esac
}

# Configures and builds the native library, tests and netcl-bench into $1 (default: $NETCL_BUILD);
# further arguments go to CMake. The compiler's output is shown only when the build fails.
netcl_build_native() {
    local dir="${1:-$NETCL_BUILD}"
    shift || true
    mkdir -p "$dir"
    if ! { cmake -S "$NETCL_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" &&
           cmake --build "$dir" --parallel "$(nproc)"; } >"$dir/build.log" 2>&1; then
        cat "$dir/build.log" >&2
        netcl_die "the native build in $dir failed (log: $dir/build.log)"
    fi
}

# Measures the mixed-precision step (scripts/bench and scripts/bench-amp) into folder $1:
# AmpRounds (netcl's AMP steps, the plain-Java loop and a copy in alternating rounds) into
# amp-rounds.json and, when $2 is 1, PyTorch's AMP sequence into torch-amp.json. Needs the native
# build and the benchmarks jar; further arguments (--quick) go to both.
netcl_bench_amp() {
    local raw="$1" with_torch="$2" shapes="$NETCL_ROOT/native/bench/resnet50-shapes.txt"
    shift 2
    java --enable-native-access=ALL-UNNAMED -Dnetcl.library="$NETCL_BUILD/libnetcl.so" \
        -Dnetcl.bench.shapes="$shapes" -cp "$NETCL_ROOT/java/bench/target/benchmarks.jar" \
        netcl.bench.AmpRounds "$@" --json "$raw/amp-rounds.json"
    if [ "$with_torch" -eq 1 ]; then
        echo "PyTorch's AMP sequence"
        /usr/bin/python3 -B "$NETCL_ROOT/scripts/bench-peers/torch_rmsprop.py" --amp "$@" --shapes "$shapes" \
            --json "$raw/torch-amp.json"
    fi
}
