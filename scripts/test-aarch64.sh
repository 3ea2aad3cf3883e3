#!/usr/bin/env bash
# Runs the tests on an emulated aarch64 CPU (qemu user mode): the CPU of a Raspberry Pi 4/5 or of a
# phone. Set-up is cached and idempotent (ARM_CACHE, default ~/.cache/fdm-aarch64): a Debian arm64
# Python 3.11, and the official manylinux aarch64 wheels of the runtime dependencies.
#
#   scripts/test-aarch64.sh           smoke subset (-m arm) three ways: Numba; NNLITE_DISABLE_NUMBA=1;
#                                     neither numba nor h5py installed (as on Termux); plus the CLI
#   scripts/test-aarch64.sh --full    the whole suite with Numba (no torch: its parity tests skip)
#   scripts/test-aarch64.sh --bench   nnlite-only timing (bench.compare_torch at 128 px; shows it runs,
#                                     emulation is far slower than a real core)
# Needs root (apt-get, binfmt_misc). Emulated speed is no guide to real ARM speed.
set -euo pipefail
mode=${1:-smoke}
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${ARM_CACHE:-$HOME/.cache/fdm-aarch64}
root=$cache/sysroot
site=$cache/site          # numpy, numba, h5py, opencv, pytest
site_min=$cache/site-min  # numpy, opencv, pytest only: what Termux offers
platforms=()
for v in 2014 _2_17 _2_27 _2_28 _2_31 _2_34 _2_35 _2_36; do platforms+=(--platform "manylinux${v}_aarch64"); done
say() { printf '[aarch64] %s\n' "$*" >&2; }
# exit 3 means "this machine cannot emulate aarch64" (no root, no binfmt_misc, no package mirror),
# which CI reports as a warning; any test failure exits with pytest's own non-zero status
cannot() { say "cannot set up emulation here: $*"; exit 3; }

if ! command -v qemu-aarch64-static >/dev/null || ! command -v mmdebstrap >/dev/null || ! command -v update-binfmts >/dev/null; then
    say "installing qemu-user-static, binfmt-support, mmdebstrap"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support mmdebstrap arch-test >/dev/null; } \
        || cannot "apt-get could not install qemu-user-static, binfmt-support, mmdebstrap"
fi
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || cannot "binfmt_misc cannot be mounted"
# registered so that a subprocess of the emulated Python (the CLI test) is emulated too
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 || cannot "update-binfmts failed"

host_py=$(command -v python3.11 || command -v python3)
compile() {  # the emulated interpreter compiles slowly; the host's 3.11 writes identical .pyc files
    if "$host_py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        PYTHONDONTWRITEBYTECODE= "$host_py" -m compileall -q -j 0 "$@" >/dev/null || true
    fi
}

if [ ! -x "$root/usr/bin/python3.11" ]; then
    say "building the arm64 Python 3.11 sysroot"
    rm -rf "$root.partial"
    mkdir -p "$cache"
    mmdebstrap --quiet --mode=root --variant=extract --arch=arm64 --include=python3.11,libstdc++6,libgomp1 bookworm "$root.partial" \
        || cannot "mmdebstrap could not build the arm64 sysroot"
    # with QEMU_LD_PREFIX set, the sysroot's /dev and /tmp would shadow the host's
    rm -rf "$root.partial/dev" "$root.partial/tmp"
    compile "$root.partial/usr/lib/python3.11"
    mv "$root.partial" "$root"
fi

install_site() {  # target, packages...
    local target=$1; shift
    [ "$(cat "$target/.complete" 2>/dev/null)" = "$*" ] && return
    say "installing aarch64 wheels into $(basename "$target"): $*"
    rm -rf "$target" "$cache/wheels.partial"
    "$host_py" -m pip download -q --only-binary=:all: "${platforms[@]}" --python-version 3.11 --implementation cp \
        --abi cp311 --abi abi3 --abi none -d "$cache/wheels.partial" "$@" >"$cache/pip.log" 2>&1 \
        || cannot "pip could not download the aarch64 wheels (see $cache/pip.log)"
    "$host_py" -m pip install -q --no-index --find-links "$cache/wheels.partial" --target "$target" --ignore-requires-python \
        --only-binary=:all: "${platforms[@]}" --python-version 3.11 --implementation cp "$@" >"$cache/pip.log" 2>&1 \
        || cannot "pip could not unpack the aarch64 wheels (see $cache/pip.log)"
    compile "$target"
    rm -rf "$cache/wheels.partial"
    echo "$*" > "$target/.complete"
}
install_site "$site" numpy numba h5py opencv-python-headless pytest
install_site "$site_min" numpy opencv-python-headless pytest pip setuptools wheel

export QEMU_LD_PREFIX=$root QEMU_CPU=cortex-a76 NUMBA_CACHE_DIR=$cache/numba-cache EXPECT_MACHINE=aarch64
unset PYTHONDONTWRITEBYTECODE
py=$root/usr/bin/python3.11
cd "$repo"
run() {  # site, extra env..., -- pytest args
    local s=$1; shift
    env PYTHONPATH="$s:$repo" "$@"
}
machine=$(run "$site" "$py" -c 'import platform; print(platform.machine())') || cannot "the arm64 Python does not start under qemu"
say "emulated machine: $machine"
start=$SECONDS
case "$mode" in
    smoke)
        say "smoke subset with Numba"
        run "$site" "$py" -m pytest -q -p no:cacheprovider -m arm tests/test_arm_smoke.py
        say "smoke subset with NNLITE_DISABLE_NUMBA=1"
        run "$site" NNLITE_DISABLE_NUMBA=1 "$py" -m pytest -q -p no:cacheprovider -m arm tests/test_arm_smoke.py
        say "smoke subset with neither numba nor h5py installed (Termux)"
        run "$site_min" "$py" -m pytest -q -p no:cacheprovider -m arm tests/test_arm_smoke.py
        say "Termux install path: pip install --no-deps, then the CLI from the installed copy"
        rm -rf "$cache/termux-install" "$cache/termux-out"
        PYTHONPATH=$site_min "$py" -m pip install -q --no-deps --no-build-isolation --target "$cache/termux-install" "$repo" \
            >"$cache/pip.log" 2>&1 || { cat "$cache/pip.log" >&2; exit 1; }
        (cd "$cache" && PYTHONPATH="$site_min:$cache/termux-install" "$py" -m matting.infer \
            "$cache/termux-install/matting/examples/astronaut.jpg" -o "$cache/termux-out" --size 64)
        ls "$cache/termux-out/astronaut.alpha.png" "$cache/termux-out/astronaut.composite.png" >/dev/null
        ;;
    --full)
        run "$site" "$py" -m pytest -q -p no:cacheprovider tests
        ;;
    --bench)
        run "$site" "$py" -m bench.compare_torch --sizes 128 --threads 1 --repeats 5 --skip-process
        ;;
    *)
        echo "usage: scripts/test-aarch64.sh [--full | --bench]" >&2
        exit 2
        ;;
esac
say "done in $((SECONDS - start)) s"
