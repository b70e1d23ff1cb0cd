#!/bin/bash
# Runs inside the test VM (booted by benches/vm_ipvs_bench.sh): programs SERVICES x DESTS masq rules from
# empty with the real ipvsadm and with `rampart ipvs`, side by side, and prints a markdown table.
# Env: SERVICES (1000), DESTS (10), REPS (3).
. /usr/local/lib/vm/lib.sh
set -u
SERVICES=${SERVICES:-1000}
DESTS=${DESTS:-10}
REPS=${REPS:-3}
W=/tmp/bench
mkdir -p "$W"

# Every restore starts in a fresh network namespace: an empty IPVS table *and* an empty
# destination trash. After a flush (-C) the kernel keeps each deleted destination on a trash list
# for one to two minutes (IP_VS_DEST_TRASH_PERIOD), and every NEW_DEST walks that list
# (ip_vs_trash_get_dest), so "restore right after -C" pays 10,000 list walks per rule that a
# really empty table does not. Both situations are measured, for both tools.
# Destinations live on a routed /16 (a masq destination needs a route).
NSN=0
fresh_ns() {
    NSN=$((NSN + 1))
    NS=bench$NSN
    ip netns add "$NS"
    ip -n "$NS" link add dummy0 type dummy
    ip -n "$NS" link set dummy0 up
    ip -n "$NS" addr add 172.16.255.254/16 dev dummy0
}

awk -v S="$SERVICES" -v D="$DESTS" 'BEGIN {
    for (i = 0; i < S; i++) {
        vip = sprintf("10.1.%d.%d:80", int(i / 250), i % 250 + 1)
        print "-A -t " vip " -s wlc"
        for (j = 0; j < D; j++) {
            k = i * D + j
            printf "-a -t %s -r 172.16.%d.%d:8080 -m -w 1\n", vip, int(k / 250), k % 250 + 1
        }
    }
}' >"$W/rules"
RULES=$(wc -l <"$W/rules")
# The one weight change: the last destination of the middle service.
MID=$((SERVICES / 2))
CHANGE_LINE=$((MID * (DESTS + 1) + DESTS + 1))
sed "${CHANGE_LINE}s/-w 1\$/-w 7/" "$W/rules" >"$W/rules.changed"
CHANGED=$(sed -n "${CHANGE_LINE}p" "$W/rules.changed")
CHANGED_SVC=$(echo "$CHANGED" | awk '{print $3}')
CHANGED_DEST=$(echo "$CHANGED" | awk '{print $5}')

# measure NAME INPUT CMD...: runs CMD inside namespace $NS with stdin from INPUT, timed inside the
# namespace (so `ip netns exec` itself is not counted); appends "NAME real user sys" to $W/times;
# CMD's stdout goes to $W/NAME.out.
measure() {
    local name=$1 input=$2 t
    shift 2
    t=$(ip netns exec "$NS" bash -c 'TIMEFORMAT="%R %U %S"; in=$1 out=$2 err=$3; shift 3
        { time "$@" <"$in" >"$out" 2>"$err"; } 2>&1' _ "$input" "$W/$name.out" "$W/$name.err" "$@") || {
        echo "FAILED: $name: $*"
        cat "$W/$name.err"
        return 1
    }
    echo "$name $t" >>"$W/times"
}
fail=0
check_table() {
    ip netns exec "$NS" ipvsadm -S -n >"$W/check.save"
    cmp -s "$W/check.save" "$W/reference.save" || { echo "MISMATCH after $1"; diff "$W/reference.save" "$W/check.save" | head -5; fail=1; }
}

: >"$W/times"
fresh_ns
ip netns exec "$NS" ipvsadm -R <"$W/rules"
ip netns exec "$NS" ipvsadm -S -n >"$W/reference.save"
echo "rules: $RULES lines ($(grep -c '^-A' "$W/reference.save") services, $(grep -c '^-a' "$W/reference.save") destinations); reps: $REPS"
ip netns del "$NS"

# Load-independent counts: system calls of one restore and one save by each tool.
if command -v strace >/dev/null; then
    count_syscalls() {
        local label=$1 input=$2
        shift 2
        ip netns exec "$NS" strace -f -c -o "$W/strace.txt" "$@" <"$input" >/dev/null 2>&1
        awk -v l="$label" -v r="$RULES" '
            $NF ~ /^(sendmsg|sendto|recvmsg|recvfrom|recvmmsg|socket)$/ { c[$NF] = $4 }
            $NF == "total" { tot = $4 }
            END {
                s = c["sendmsg"] + c["sendto"]; rcv = c["recvmsg"] + c["recvfrom"] + c["recvmmsg"]
                printf "%s: %d syscalls (%.2f per rule): %d sends, %d receives, %d sockets\n", l, tot, tot / r, s, rcv, c["socket"]
            }' "$W/strace.txt"
    }
    echo
    fresh_ns
    count_syscalls "ipvsadm -R" "$W/rules" ipvsadm -R
    count_syscalls "ipvsadm -S -n" /dev/null ipvsadm -S -n
    count_syscalls "rampart ipvs -S -n" /dev/null rampart ipvs -S -n
    ip netns del "$NS"
    fresh_ns
    count_syscalls "rampart ipvs -R" "$W/rules" rampart ipvs -R
    ip netns del "$NS"
fi

for rep in $(seq "$REPS"); do
    # ipvsadm from empty, listings of the full table, its flush; then rampart onto the trash.
    fresh_ns
    measure ipvsadm_restore "$W/rules" ipvsadm -R
    check_table "ipvsadm -R"
    measure ipvsadm_save /dev/null ipvsadm -S -n
    measure rampart_save /dev/null rampart ipvs -S -n
    cmp -s "$W/ipvsadm_save.out" "$W/rampart_save.out" || { echo "MISMATCH: rampart ipvs -S -n differs from ipvsadm's"; fail=1; }
    measure ipvsadm_list /dev/null ipvsadm -Ln
    measure rampart_list /dev/null rampart ipvs -Ln
    cmp -s "$W/ipvsadm_list.out" "$W/rampart_list.out" || { echo "MISMATCH: rampart ipvs -Ln differs from ipvsadm's"; fail=1; }
    measure ipvsadm_clear /dev/null ipvsadm -C
    measure rampart_restore_after_clear "$W/rules" rampart ipvs -R
    check_table "rampart ipvs -R after -C"
    A=$NS
    # rampart from empty, its flush; then ipvsadm onto the trash.
    fresh_ns
    measure rampart_restore "$W/rules" rampart ipvs -R
    check_table "rampart ipvs -R"
    [ ! -s "$W/rampart_restore.err" ] || sed 's/^/rampart ipvs -R said: /' "$W/rampart_restore.err"
    measure rampart_clear /dev/null rampart ipvs -C
    measure ipvsadm_restore_after_clear "$W/rules" ipvsadm -R
    check_table "ipvsadm -R after -C"
    # One weight change on the full table: through the reconciler and with -e.
    measure rampart_reconcile_one_weight /dev/null rampart ipvs --reconcile "$W/rules.changed"
    echo "reconcile of one weight change: $(grep '^operations: ' "$W/rampart_reconcile_one_weight.out")"
    measure rampart_reconcile_noop /dev/null rampart ipvs --reconcile "$W/rules.changed"
    echo "reconcile again: $(grep '^operations: ' "$W/rampart_reconcile_noop.out")"
    measure rampart_edit_one_weight /dev/null rampart ipvs -e -t "$CHANGED_SVC" -r "$CHANGED_DEST" -m -w 9
    measure ipvsadm_edit_one_weight /dev/null ipvsadm -e -t "$CHANGED_SVC" -r "$CHANGED_DEST" -m -w 11
    ip netns del "$A"
    ip netns del "$NS"
done

# Median of each measurement, as a markdown table.
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
echo "| measurement | real s (median of $REPS) | user s | sys s |"
echo "|---|---|---|---|"
for name in $(awk '{print $1}' "$W/times" | awk '!seen[$0]++'); do
    r=$(awk -v n="$name" '$1 == n {print $2}' "$W/times" | median)
    u=$(awk -v n="$name" '$1 == n {print $3}' "$W/times" | median)
    s=$(awk -v n="$name" '$1 == n {print $4}' "$W/times" | median)
    echo "| $name | $r | $u | $s |"
done
ir=$(awk '$1 == "ipvsadm_restore" {print $2}' "$W/times" | median)
rr=$(awk '$1 == "rampart_restore" {print $2}' "$W/times" | median)
ia=$(awk '$1 == "ipvsadm_restore_after_clear" {print $2}' "$W/times" | median)
ra=$(awk '$1 == "rampart_restore_after_clear" {print $2}' "$W/times" | median)
is=$(awk '$1 == "ipvsadm_save" {print $2}' "$W/times" | median)
rs=$(awk '$1 == "rampart_save" {print $2}' "$W/times" | median)
echo
awk -v a="$ir" -v b="$rr" 'BEGIN { if (b > 0) printf "restore from empty (fresh namespace), ipvsadm -R / rampart ipvs -R: %.1fx\n", a / b }'
awk -v a="$ia" -v b="$ra" 'BEGIN { if (b > 0) printf "restore right after -C (destination trash full), ipvsadm / rampart: %.1fx\n", a / b }'
awk -v a="$is" -v b="$rs" 'BEGIN { if (b > 0) printf "save speed-up (ipvsadm -S -n / rampart ipvs -S -n): %.1fx\n", a / b }'
exit $fail
