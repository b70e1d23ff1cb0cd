#!/bin/bash
# Differential sweep: each case is one ipvsadm command line, run once by the real `ipvsadm` and once
# by `rampart ipvs` from the same starting table; exit status, stdout, stderr and the resulting
# kernel state (`ipvsadm -S -n`, `-Ln --thresholds`, `--timeout`, `--daemon`, all read by the real
# ipvsadm) must be identical. Checked by tests/ipvs_vm_sweep.rs (section "sweep").
#
# Cases file (/files/$SWEEP_FILE, default ipvsadm_sweep.txt):
#   # comment, blank lines ignored
#   @setup NAME ... @end     ipvsadm-save lines restored (by the real ipvsadm) before each case
#   @input NAME ... @end     text fed on stdin to the cases that use it
#   @use NAME|none           starting table of the following cases (default none: empty table)
#   @stdin NAME|none         stdin of the following cases (default /dev/null)
#   ARGS                     a case: the argument words (shell quoting, e.g. '' for an empty word)
#   !stderr ARGS             a case whose stderr differs on purpose (docs/ipvs.md lists why): exit
#                            status, stdout and the table are still compared
# Env: SWEEP_VERBOSE=1 prints ipvsadm's record of every case (to review what ipvsadm does).
. /usr/local/lib/vm/lib.sh

CASES=/files/${SWEEP_FILE:-ipvsadm_sweep.txt}
W=/tmp/sweep
mkdir -p $W/setup $W/input
: >$W/setup/none
: >$W/input/none

# Routes for masq destinations, a multicast interface for the sync daemon, names for lookups.
ip link add dummy0 type dummy
ip link set dummy0 up
ip addr add 192.168.0.254/16 dev dummy0
ip -6 addr add 2001:db8:1::fe/64 dev dummy0 nodad
ip link add sync0 type dummy
ip link set sync0 multicast on up
ip addr add 10.99.0.1/24 dev sync0
cat >>/etc/hosts <<'H'
10.0.0.80 vip.example vip
192.168.1.50 rs1.example rs1
192.168.1.51 rs2.example
2001:db8:1::50 rs6.example
H
cat >>/etc/services <<'S'
sweep-svc 4321/tcp
sweep-udp 4322/udp
S

DEFAULT_TIMEOUTS=$(ipvsadm -Ln --timeout)

# Split the cases file.
: >$W/list
block= cur_use=none cur_stdin=none
while IFS= read -r line; do
    if [ -n "$block" ]; then
        if [ "$line" = @end ]; then block=; else printf '%s\n' "$line" >>"$block"; fi
        continue
    fi
    case "$line" in
        '#'* | '') ;;
        '@setup '*) block=$W/setup/${line#@setup }; : >"$block" ;;
        '@input '*) block=$W/input/${line#@input }; : >"$block" ;;
        '@use '*) cur_use=${line#@use } ;;
        '@stdin '*) cur_stdin=${line#@stdin } ;;
        *) printf '%s\t%s\t%s\n' "$cur_use" "$cur_stdin" "$line" >>$W/list ;;
    esac
done <"$CASES"

# The kernel state a case starts from is rebuilt only when the previous command changed it: each
# setup's snapshot is kept, and a command whose snapshot equals it left the table as it was.
GLOBAL_DIRTY=yes
STATE=unknown
reset_table() {
    ipvsadm -C
    if [ $GLOBAL_DIRTY = yes ]; then
        ipvsadm --stop-daemon master >/dev/null 2>&1
        ipvsadm --stop-daemon backup >/dev/null 2>&1
        # shellcheck disable=SC2046
        ipvsadm --set $(echo "$DEFAULT_TIMEOUTS" | sed 's/[^0-9 ]//g')
        GLOBAL_DIRTY=no
    fi
    [ -s "$W/setup/$1" ] && ipvsadm -R <"$W/setup/$1"
}

# snapshot USE IN ARGS...: the kernel state as the real ipvsadm reads it; thresholds, timeouts and
# the daemons only when the setup or the case could touch them (each read is a process start,
# slow under TCG).
snapshot() {
    local use=$1 in=$2 text
    shift 2
    text=" $* $(cat "$W/setup/$use" "$W/input/$in")"
    echo "--- ipvsadm -S -n"
    ipvsadm -S -n 2>&1
    case "$text" in
        *' -x'* | *' -y'* | *-threshold* | *' -e'* | *edit-server* | *' -R'* | *--restore*)
            echo "--- ipvsadm -Ln --thresholds"
            ipvsadm -Ln --thresholds 2>&1
            ;;
    esac
    case "$text" in
        *set* | *daemon* | *' -R'* | *--restore*)
            GLOBAL_DIRTY=yes
            echo "--- timeouts and daemons"
            ipvsadm -Ln --timeout 2>&1
            ipvsadm -Ln --daemon 2>&1
            ;;
    esac
}

# record TOOL USE IN ARGS... > file: runs one case from its starting table and prints what it did.
record() {
    local tool=$1 use=$2 in=$3 rc
    shift 3
    if [ "$STATE" != "$use" ] || [ $GLOBAL_DIRTY = yes ]; then
        reset_table "$use"
        STATE=$use
        [ -f "$W/setup/$use.snap" ] || ipvsadm -S -n >"$W/setup/$use.snap" 2>&1
    fi
    # shellcheck disable=SC2086
    $tool "$@" <"$W/input/$in" >$W/out 2>$W/err
    rc=$?
    echo "exit $rc"
    echo "--- stdout"
    cat $W/out
    echo "--- stderr"
    cat $W/err
    snapshot "$use" "$in" "$@" >$W/snap
    cat $W/snap
    if ! sed '1d' $W/snap | cmp -s - "$W/setup/$use.snap"; then
        STATE=changed
    fi
}

sweep() {
    # Commands are expected to fail here: their status is part of what is compared.
    set +eE
    trap - ERR
    local n=0 bad=0 use in line strict
    while IFS=$'\t' read -r use in line; do
        n=$((n + 1))
        strict=yes
        case "$line" in '!stderr '*) strict=no; line=${line#!stderr } ;; esac
        eval "set -- $line"
        record ipvsadm "$use" "$in" "$@" >$W/want
        record "rampart ipvs" "$use" "$in" "$@" >$W/got
        if [ $strict = no ]; then
            sed -i '/^--- stderr$/,/^--- ipvsadm -S -n$/{/^---/!d}' $W/want $W/got
        fi
        if [ -n "${SWEEP_VERBOSE:-}" ]; then
            echo "=== #$n [$use${in:+ <$in}] $line"
            sed 's/^/    /' $W/want
        fi
        if ! cmp -s $W/want $W/got; then
            bad=$((bad + 1))
            echo "DIFF #$n [use $use, stdin $in] ipvsadm $line"
            diff -u $W/want $W/got | tail -n +3 | sed 's/^/    /'
        fi
    done <$W/list
    echo "$n cases, $bad differ"
    [ $bad = 0 ]
}
section sweep sweep
