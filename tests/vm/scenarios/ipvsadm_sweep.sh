#!/bin/bash
# Differential sweep: each case is one ipvsadm command line, run once by the real `ipvsadm` and once
# by `rampart ipvs` from the same starting table; exit status, stdout, stderr and the resulting
# kernel state (`ipvsadm -S -n`, `-Ln --thresholds`, `--timeout`, `--daemon`, all read by the real
# ipvsadm) must be identical. Checked by tests/ipvs_vm_sweep.rs (section "sweep").
#
# Cases file (/files/$SWEEP_FILE, default ipvsadm_sweep.txt):
#   # comment, blank lines ignored
#   @setup NAME ... @end     ipvsadm-save lines restored (by the real ipvsadm) before each case
#   @input NAME ... @end     text fed on stdin to the cases that use it (a line @noeol: the
#                            text so far loses its final newline)
#   @use NAME|none           starting table of the following cases (default none: empty table)
#   @stdin NAME|none         stdin of the following cases (default /dev/null)
#   ARGS                     a case: the argument words (shell quoting, e.g. '' for an empty word)
#   !stderr ARGS             a case whose stderr differs on purpose (docs/ipvs.md lists why): exit
#                            status, stdout and the table are still compared
# Two differences are deliberate (docs/ipvs.md) and normalised before comparing: rampart's
# messages name the program as it was called (`rampart ipvs`; a link named ipvsadm says
# `ipvsadm`), and `-R` prefixes each error with its input line number (`line 3: `).
# Env: SWEEP_VERBOSE=1 prints ipvsadm's record of every case (to review what ipvsadm does);
#      SWEEP_TOOL=alias runs rampart through a link named ipvsadm instead of `rampart ipvs`.
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

# rampart as the user calls it: the sub-command, or a link named ipvsadm found on PATH (so its
# argv[0] is plain `ipvsadm`, as the real one's).
mkdir -p $W/alias
ln -s "$(command -v rampart)" $W/alias/ipvsadm
rampart_as_ipvsadm() { PATH=$W/alias:$PATH ipvsadm "$@"; }
case ${SWEEP_TOOL:-sub} in
    alias) RAMPART="rampart_as_ipvsadm" ;;
    *) RAMPART="rampart ipvs" ;;
esac

# Split the cases file.
: >$W/list
block= cur_use=none cur_stdin=none
while IFS= read -r line; do
    if [ -n "$block" ]; then
        case "$line" in
            @end) block= ;;
            # The input's last line has no newline.
            @noeol) printf '%s' "$(cat "$block")" >"$block.tmp" && mv "$block.tmp" "$block" ;;
            *) printf '%s\n' "$line" >>"$block" ;;
        esac
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

# Every process start costs tens of milliseconds under TCG, so a case starts as few as possible:
# four (each tool, each snapshot) unless the table must be rebuilt; files are read with bash's
# `read -d ''` (byte for byte, no fork) and compared as strings.
slurp() { IFS= read -r -d '' "$1" <"$2" || true; }

# The setups' and inputs' texts, to decide which reads a case needs without starting anything.
declare -A TEXT
for f in $W/setup/* $W/input/*; do
    slurp t "$f"
    TEXT[$f]=$t
done

# The kernel state a case starts from is rebuilt only when the previous command changed it: each
# setup's snapshot is kept, and a command whose snapshot equals it left the table as it was.
GLOBAL_DIRTY=yes
STATE=unknown
declare -A SETUP_SNAP
{ ipvsadm -Ln --timeout; ipvsadm -Ln --daemon; } >$W/snap 2>&1
slurp DEFAULT_GLOBAL $W/snap
reset_table() {
    ipvsadm -C
    if [ $GLOBAL_DIRTY = yes ]; then
        ipvsadm --stop-daemon master >/dev/null 2>&1
        ipvsadm --stop-daemon backup >/dev/null 2>&1
        # shellcheck disable=SC2046
        ipvsadm --set $(echo "$DEFAULT_TIMEOUTS" | sed 's/[^0-9 ]//g')
        GLOBAL_DIRTY=no
    fi
    [ -z "${TEXT[$W/setup/$1]}" ] || ipvsadm -R <"$W/setup/$1"
}

# snapshot TEXT: sets SNAP to the kernel state as the real ipvsadm reads it; thresholds, timeouts
# and the daemons only when TEXT (the case, its setup and input) could touch them.
snapshot() {
    local t
    ipvsadm -S -n >$W/snap 2>&1
    slurp SNAP $W/snap
    case "$1" in
        *' -x'* | *' -y'* | *-threshold* | *' -e'* | *edit-server* | *' -R'* | *--restore*)
            ipvsadm -Ln --thresholds >$W/snap 2>&1
            slurp t $W/snap
            SNAP+=$'--- ipvsadm -Ln --thresholds\n'$t
            ;;
    esac
    case "$1" in
        *set* | *daemon* | *' -R'* | *--restore*)
            { ipvsadm -Ln --timeout; ipvsadm -Ln --daemon; } >$W/snap 2>&1
            slurp t $W/snap
            [ "$t" = "$DEFAULT_GLOBAL" ] || GLOBAL_DIRTY=yes
            SNAP+=$'--- timeouts and daemons\n'$t
            ;;
    esac
}

# record TOOL USE IN ARGS...: runs one case from its starting table; sets REC to what it did.
record() {
    local tool=$1 use=$2 in=$3 rc out err text
    shift 3
    if [ "$STATE" != "$use" ] || [ $GLOBAL_DIRTY = yes ]; then
        reset_table "$use"
        STATE=$use
        if [ -z "${SETUP_SNAP[$use]+set}" ]; then
            ipvsadm -S -n >$W/snap 2>&1
            slurp t $W/snap
            SETUP_SNAP[$use]=$t
        fi
    fi
    # shellcheck disable=SC2086
    $tool "$@" <"$W/input/$in" >$W/out 2>$W/err
    rc=$?
    slurp out $W/out
    slurp err $W/err
    if [ "$tool" != ipvsadm ]; then
        out=${out//rampart ipvs/ipvsadm}
        err=${err//rampart ipvs/ipvsadm}
        case " $* " in
            *' -R '* | *' --restore '*)
                local l norm=
                while IFS= read -r l; do
                    [[ $l =~ ^line\ [0-9]+:\ (.*)$ ]] && l=${BASH_REMATCH[1]}
                    norm+=$l$'\n'
                done <<<"${err%$'\n'}"
                [ -n "$err" ] && err=$norm
                ;;
        esac
    fi
    text=" $* ${TEXT[$W/setup/$use]} ${TEXT[$W/input/$in]}"
    snapshot "$text"
    REC="exit $rc"$'\n--- stdout\n'"$out"$'--- stderr\n'"$err"$'--- ipvsadm -S -n\n'"$SNAP"
    [ "$SNAP" = "${SETUP_SNAP[$use]}" ] || STATE=changed
}

sweep() {
    # Commands are expected to fail here: their status is part of what is compared.
    set +eE
    trap - ERR
    local n=0 bad=0 use in line strict want got
    while IFS=$'\t' read -r use in line; do
        n=$((n + 1))
        strict=yes
        case "$line" in '!stderr '*) strict=no; line=${line#!stderr } ;; esac
        eval "set -- $line"
        record ipvsadm "$use" "$in" "$@"
        want=$REC
        record "$RAMPART" "$use" "$in" "$@"
        got=$REC
        if [ $strict = no ]; then
            want=${want%%$'--- stderr\n'*}${want#*$'--- ipvsadm -S -n\n'}
            got=${got%%$'--- stderr\n'*}${got#*$'--- ipvsadm -S -n\n'}
        fi
        if [ -n "${SWEEP_VERBOSE:-}" ]; then
            echo "=== #$n [$use${in:+ <$in}] $line"
            printf '%s' "$want" | sed 's/^/    /'
        fi
        if [ "$want" != "$got" ]; then
            bad=$((bad + 1))
            echo "DIFF #$n [use $use, stdin $in] ipvsadm $line"
            printf '%s' "$want" >$W/want
            printf '%s' "$got" >$W/got
            diff -u $W/want $W/got | tail -n +3 | sed 's/^/    /'
        fi
    done <$W/list
    echo "$n cases, $bad differ"
    [ $bad = 0 ]
}
section sweep sweep
