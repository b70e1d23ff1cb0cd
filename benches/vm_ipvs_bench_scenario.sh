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

# Destinations live on a routed /16 (a masq destination needs a route).
ip link add dummy0 type dummy
ip link set dummy0 up
ip addr add 172.16.255.254/16 dev dummy0

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

TIMEFORMAT='%R %U %S'
# measure NAME CMD...: appends "NAME real user sys" to $W/times; CMD's stdout goes to $W/NAME.out.
measure() {
    local name=$1 t
    shift
    { t=$({ time "$@" >"$W/$name.out" 2>"$W/$name.err"; } 2>&1); } || {
        echo "FAILED: $name: $*"
        cat "$W/$name.err"
        return 1
    }
    echo "$name $t" >>"$W/times"
}
fail=0
check_table() {
    ipvsadm -S -n >"$W/check.save"
    cmp -s "$W/check.save" "$W/reference.save" || { echo "MISMATCH after $1"; diff "$W/reference.save" "$W/check.save" | head -5; fail=1; }
}

: >"$W/times"
ipvsadm -C
ipvsadm -R <"$W/rules"
ipvsadm -S -n >"$W/reference.save"
echo "rules: $RULES lines ($(grep -c '^-A' "$W/reference.save") services, $(grep -c '^-a' "$W/reference.save") destinations); reps: $REPS"
for rep in $(seq "$REPS"); do
    ipvsadm -C
    measure ipvsadm_restore sh -c "ipvsadm -R <$W/rules"
    check_table "ipvsadm -R"
    measure ipvsadm_save ipvsadm -S -n
    measure rampart_save rampart ipvs -S -n
    cmp -s "$W/ipvsadm_save.out" "$W/rampart_save.out" || { echo "MISMATCH: rampart ipvs -S -n differs from ipvsadm's"; fail=1; }
    measure ipvsadm_list ipvsadm -Ln
    measure rampart_list rampart ipvs -Ln
    cmp -s "$W/ipvsadm_list.out" "$W/rampart_list.out" || { echo "MISMATCH: rampart ipvs -Ln differs from ipvsadm's"; fail=1; }
    measure ipvsadm_clear ipvsadm -C
    measure rampart_restore sh -c "rampart ipvs -R <$W/rules"
    check_table "rampart ipvs -R"
    [ ! -s "$W/rampart_restore.err" ] || sed 's/^/rampart ipvs -R said: /' "$W/rampart_restore.err"
    measure rampart_clear rampart ipvs -C
    ipvsadm -R <"$W/rules"
    # One weight change on the full table: through the reconciler (if this rampart has it) and -e.
    if rampart ipvs --reconcile /dev/null 2>/dev/null | grep -q '^operations: '; then
        measure rampart_reconcile_one_weight rampart ipvs --reconcile "$W/rules.changed"
        echo "reconcile of one weight change: $(grep '^operations: ' "$W/rampart_reconcile_one_weight.out")"
        measure rampart_reconcile_noop rampart ipvs --reconcile "$W/rules.changed"
        echo "reconcile again: $(grep '^operations: ' "$W/rampart_reconcile_noop.out")"
    elif [ "$rep" = 1 ]; then
        echo "note: this rampart has no 'rampart ipvs --reconcile FILE'; one weight change measured with -e only"
    fi
    measure rampart_edit_one_weight rampart ipvs -e -t "$CHANGED_SVC" -r "$CHANGED_DEST" -m -w 9
    measure ipvsadm_edit_one_weight ipvsadm -e -t "$CHANGED_SVC" -r "$CHANGED_DEST" -m -w 11
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
is=$(awk '$1 == "ipvsadm_save" {print $2}' "$W/times" | median)
rs=$(awk '$1 == "rampart_save" {print $2}' "$W/times" | median)
echo
awk -v a="$ir" -v b="$rr" 'BEGIN { if (b > 0) printf "restore speed-up (ipvsadm -R / rampart ipvs -R): %.1fx\n", a / b }'
awk -v a="$is" -v b="$rs" 'BEGIN { if (b > 0) printf "save speed-up (ipvsadm -S -n / rampart ipvs -S -n): %.1fx\n", a / b }'
exit $fail
