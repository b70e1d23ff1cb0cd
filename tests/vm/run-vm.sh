#!/bin/bash
# Boots the IPVS test VM once, runs a scenario script inside it and returns what it printed.
#
# Usage: tests/vm/run-vm.sh [options] SCENARIO.sh [FILE[:/DEST] ...]
#   FILE             copied to /files/BASENAME (or to DEST) inside the VM; ELF files bring their libraries
#   -e NAME=VALUE    exported to the scenario (repeatable)
#   -m MB            guest memory (default 512)
#   -t SECONDS       wall-clock limit for the whole boot (default 120); a hung VM is killed
#   -M MODULE        extra kernel module loaded at boot (repeatable)
# Env:
#   RAMPART_BIN      rampart binary to install as /usr/local/bin/rampart (default <target>/debug/rampart;
#                    set to "none" to boot without one)
#   VM_DIR           cache directory (default <target>/vm); see build-image.sh
#   VM_KEEP          keep the per-run directory (initrd, console log) for debugging
#   VM_STREAM        also stream the scenario's output to stderr while the VM runs
#
# Output: the scenario's stdout+stderr (byte for byte) on stdout. Exit status: the scenario's own, or
#   124 when the VM hit the time limit, 125 when the harness failed (no end marker: the console log is
#   printed to stderr).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
export VM_DIR=${VM_DIR:-$TARGET/vm}

die() { echo "run-vm: error: $*" >&2; exit 125; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 125; }

MEM=512
TIMEOUT=120
ENVS=()
MODULES=()
while getopts "e:m:t:M:h" opt; do
    case $opt in
        e) [[ $OPTARG == [A-Za-z_]*=* ]] || die "-e wants NAME=VALUE, got '$OPTARG'"; ENVS+=("$OPTARG") ;;
        m) MEM=$OPTARG ;;
        t) TIMEOUT=$OPTARG ;;
        M) MODULES+=("$OPTARG") ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || usage
SCENARIO=$1
shift
[[ -f $SCENARIO ]] || die "scenario '$SCENARIO' does not exist"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"

"$HERE/build-image.sh" >/dev/null || die "building the VM image failed (see above)"
KVER=$(cat "$VM_DIR/kernel/version")

RUN=$(mktemp -d "${TMPDIR:-/tmp}/rampart-vm.XXXXXX")
cleanup() { if [[ -n ${VM_KEEP:-} ]]; then echo "run-vm: kept $RUN" >&2; else rm -rf "$RUN"; fi; }
trap cleanup EXIT
ROOT=$RUN/root
mkdir -p "$ROOT/files" "$ROOT/usr/local/bin"

# add_file SRC DEST [elf]: copy into the per-run tree; ELF executables bring the libraries ldd lists.
add_file() {
    local src=$1 dst=$2 lib
    mkdir -p "$ROOT$(dirname "$dst")"
    cp -L "$src" "$ROOT$dst"
    if head -c 4 "$src" | grep -q 'ELF'; then
        while read -r lib; do
            [[ -e $ROOT$lib ]] || { mkdir -p "$ROOT$(dirname "$lib")"; cp -L "$lib" "$ROOT$lib"; }
        done < <(ldd "$src" 2>/dev/null | grep -oE '/[^ ]+' || true)
    fi
}

install -m 0755 "$SCENARIO" "$ROOT/scenario.sh"
install -D -m 0644 "$HERE/lib.sh" "$ROOT/usr/local/lib/vm/lib.sh"
{
    for kv in "${ENVS[@]}"; do
        printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
    [[ ${#MODULES[@]} -eq 0 ]] || printf 'VM_MODULES=%q\n' "${MODULES[*]}"
} >"$ROOT/scenario.env"

RAMPART_BIN=${RAMPART_BIN:-$TARGET/debug/rampart}
if [[ $RAMPART_BIN != none ]]; then
    [[ -x $RAMPART_BIN ]] || die "rampart binary '$RAMPART_BIN' not found (cargo build, or RAMPART_BIN=none)"
    # Debug info is most of a debug build's size and useless in the VM.
    objcopy --strip-debug "$RAMPART_BIN" "$RUN/rampart" 2>/dev/null || cp "$RAMPART_BIN" "$RUN/rampart"
    add_file "$RUN/rampart" /usr/local/bin/rampart
fi
for spec in "$@"; do
    src=${spec%%:/*}
    if [[ $spec == *:/* ]]; then dst=/${spec#*:/}; else dst=/files/$(basename "$src"); fi
    [[ -f $src ]] || die "file '$src' does not exist"
    add_file "$src" "$dst"
done
# The base image keeps merged-/usr symlinks (/lib -> usr/lib); a later archive must not replace them
# with directories, so staged /lib, /lib64, /bin, /sbin paths move under usr/.
for d in lib lib64 bin sbin; do
    if [[ -d $ROOT/$d && ! -L $ROOT/$d ]]; then
        mkdir -p "$ROOT/usr/$d" && cp -a "$ROOT/$d/." "$ROOT/usr/$d/" && rm -rf "${ROOT:?}/$d"
    fi
done

(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$RUN/run.cpio"
cat "$VM_DIR/base.cpio" "$RUN/run.cpio" >"$RUN/initrd"
# Only the initrd is needed from here on (disk is shared by many runs).
[[ -n ${VM_KEEP:-} ]] || rm -rf "$ROOT" "$RUN/run.cpio" "$RUN/rampart"

# A boot that dies before the scenario starts (a loaded host can make the kernel's early timer checks
# fail) is retried once: the scenario has not run, so nothing is repeated.
for attempt in 1 2; do
    : >"$RUN/out.log"
    set +e
    # VM_STREAM=1: also show the scenario's output on stderr while it runs (the demo's live view).
    if [[ -n ${VM_STREAM:-} ]]; then
        tail -F -n +1 "$RUN/out.log" 2>/dev/null | sed -u '/@@VM-BEGIN@@/d; /@@VM-END rc=/d' >&2 &
        STREAM_PID=$!
    fi
    timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg -m "$MEM" -smp 1 \
        -nodefaults -display none -no-reboot -nic none \
        -kernel "$VM_DIR/kernel/vmlinuz" -initrd "$RUN/initrd" \
        -append "console=ttyS0 quiet loglevel=1 panic=-1 no_timer_check" \
        -serial "file:$RUN/console.log" -serial "file:$RUN/out.log" \
        </dev/null >"$RUN/qemu.log" 2>&1
    qemu_rc=$?
    [[ -n ${STREAM_PID:-} ]] && { sleep 0.3; pkill -P "$STREAM_PID" 2>/dev/null; kill "$STREAM_PID" 2>/dev/null; }
    set -e
    if [[ $attempt == 1 && $qemu_rc != 124 && $qemu_rc != 137 ]] && ! grep -q '@@VM-BEGIN@@' "$RUN/out.log"; then
        echo "run-vm: the VM died before the scenario started; retrying once. Console:" >&2
        tr -d '\r' <"$RUN/console.log" | tail -20 >&2
        continue
    fi
    break
done

show_logs() {
    echo "run-vm: ---- qemu ----" >&2; cat "$RUN/qemu.log" >&2
    echo "run-vm: ---- console (ttyS0) ----" >&2; tr -d '\r' <"$RUN/console.log" >&2
    echo "run-vm: ---- scenario output so far (ttyS1) ----" >&2; cat "$RUN/out.log" >&2 2>/dev/null
}
if [[ $qemu_rc -eq 124 || $qemu_rc -eq 137 ]]; then
    show_logs
    echo "run-vm: error: the VM did not finish within ${TIMEOUT}s (kernel $KVER); killed" >&2
    exit 124
fi
VM_BEGIN_LINE=$'@@VM-BEGIN@@\n'
# Extract the framed output: everything after the first "@@VM-BEGIN@@\n" up to the last "@@VM-END rc=N@@"
# (byte offsets from grep -b, so the output is passed on byte for byte; no python needed).
begin=$(grep -abo '@@VM-BEGIN@@' "$RUN/out.log" | head -1 | cut -d: -f1)
last_end=$(grep -abo '@@VM-END rc=[0-9]*@@' "$RUN/out.log" | tail -1)
if [[ -z $begin || -z $last_end ]]; then
    show_logs
    die "no end marker in the scenario output (qemu exit $qemu_rc)"
fi
end=${last_end%%:*}
rc=${last_end#*:@@VM-END rc=}
rc=${rc%@@}
start=$((begin + ${#VM_BEGIN_LINE}))
head -c "$end" "$RUN/out.log" | tail -c +$((start + 1))
exit "$rc"
