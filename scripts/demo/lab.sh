#!/bin/bash
# rampart demo lab: seed 004's LVS-NAT director pair in network namespaces.
#
#            client 203.0.113.100
#                    |  (WAN bridge)            WAN VIP 203.0.113.10
#        +-----------+-----------+
#   dir1 eth0 .2           dir2 eth0 .3         rampart on both: VRRP sync group LVS_WAN+LVS_LAN,
#   dir1 eth1 .2           dir2 eth1 .3         IPVS NAT service VIP:80 (rr), TCP/HTTP checks
#        +-----------+-----------+
#                    |  (LAN bridge)            LAN VIP 192.168.168.11 = real servers' gateway
#        web1 192.168.168.236    web2 192.168.168.238
#
# Every namespace, veth and bridge is created here (bridges live in their own namespace) and
# removed on exit; nothing is sent on the host's interfaces.
#
# Usage: lab.sh [--scripted SECONDS]
#   interactive (default): keys 1/2 kill or restart rampart on dir1/dir2, a/b stop or start
#     web1/web2, q quits.
#   --scripted: a fixed story (used inside the test VM, where there is no keyboard): kill the
#     master director, stop and restart a web server, bring the director back.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RAMPART=${RAMPART:-$(command -v rampart || echo "$HERE/../../target/debug/rampart")}
CONF=${DEMO_CONF:-$HERE/demo.conf}
P=rpd$$                          # namespace prefix, unique per run
RUN=$(mktemp -d /tmp/rampart-demo.XXXXXX)
SCRIPTED=0
DURATION=60
if [[ ${1:-} == --scripted ]]; then SCRIPTED=1; DURATION=${2:-60}; fi

NS_ALL=("$P-sw" "$P-client" "$P-dir1" "$P-dir2" "$P-web1" "$P-web2")
cleanup() {
    trap - EXIT INT TERM
    for f in "$RUN"/*.pid; do [[ -f $f ]] && kill -9 "$(cat "$f")" 2>/dev/null; done
    for ns in "${NS_ALL[@]}"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$RUN"
    [[ $SCRIPTED == 1 ]] || tput cnorm 2>/dev/null
    echo "demo lab removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

x() { "$@" || { echo "demo: failed: $*" >&2; exit 1; }; }
in_ns() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }

# link NS IFNAME BRIDGE: a veth from NS (named IFNAME) to BRIDGE in the switch namespace.
link() {
    local ns=$1 ifname=$2 br=$3 peer="$1-$2"
    x ip link add "$ifname" netns "$P-$ns" type veth peer name "$peer" netns "$P-sw"
    x ip -n "$P-sw" link set "$peer" master "$br" up
    x ip -n "$P-$ns" link set "$ifname" up
}

build() {
    for ns in "${NS_ALL[@]}"; do x ip netns add "$ns"; x ip -n "$ns" link set lo up; done
    for br in wan lan; do
        x ip -n "$P-sw" link add "$br" type bridge
        x ip -n "$P-sw" link set "$br" up
    done
    link client eth0 wan; x ip -n "$P-client" addr add 203.0.113.100/24 dev eth0
    local n=2
    for d in dir1 dir2; do
        link "$d" eth0 wan; x ip -n "$P-$d" addr add "203.0.113.$n/24" dev eth0
        link "$d" eth1 lan; x ip -n "$P-$d" addr add "192.168.168.$n/24" dev eth1
        x in_ns "$d" sysctl -qw net.ipv4.ip_forward=1
        n=$((n + 1))
    done
    link web1 eth0 lan; x ip -n "$P-web1" addr add 192.168.168.236/24 dev eth0
    link web2 eth0 lan; x ip -n "$P-web2" addr add 192.168.168.238/24 dev eth0
    for w in web1 web2; do
        x ip -n "$P-$w" route add default via 192.168.168.11
        mkdir -p "$RUN/www-$w"
        echo "$w" >"$RUN/www-$w/index.html"
    done
}

start_web() { in_ns "$1" busybox httpd -f -p 80 -h "$RUN/www-$1" & echo $! >"$RUN/$1.pid"; }
stop_web() { [[ -f $RUN/$1.pid ]] && kill -9 "$(cat "$RUN/$1.pid")" 2>/dev/null; rm -f "$RUN/$1.pid"; }
start_dir() {
    in_ns "$1" "$RAMPART" -n -f "$CONF" -i "$1" -l --control-socket "$RUN/$1.sock" \
        >>"$RUN/$1.log" 2>&1 &
    echo $! >"$RUN/$1.pid"
}
kill_dir() { [[ -f $RUN/$1.pid ]] && kill -9 "$(cat "$RUN/$1.pid")" 2>/dev/null; rm -f "$RUN/$1.pid" "$RUN/$1.sock"; }
running() { [[ -f $RUN/$1.pid ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# The client asks the VIP twice a second and records who answered ("-" for no answer).
client_loop() {
    while :; do
        local r
        r=$(printf 'GET / HTTP/1.0\r\n\r\n' | in_ns client busybox nc -w 1 203.0.113.10 80 2>/dev/null | tail -n 1)
        [[ $r == web1 || $r == web2 ]] || r="-"
        echo "$r" >>"$RUN/answers"
        sleep 0.5
    done
}

# state DIR INSTANCE: the instance's state from the director's own `rampart status`.
state() {
    running "$1" || { echo "(down)"; return; }
    "$RAMPART" status --socket "$RUN/$1.sock" 2>/dev/null | awk -v i="$2" '$1 == i {print $2; exit}'
}
rs_line() {
    local d
    for d in dir1 dir2; do running "$d" && break; done
    running "$d" || { echo "  (no director running)"; return; }
    "$RAMPART" status --socket "$RUN/$d.sock" 2>/dev/null | awk -v d="$d" '
        /^  -> / {printf "  %-28s %-8s weight %s   (seen by %s)\n", $2, $3, $4, d}'
}

EVENTS=()
note() { EVENTS+=("$(printf '%4ss  %s' "$SECONDS" "$*")"); }

view() {
    local answers
    answers=$(tail -n 16 "$RUN/answers" 2>/dev/null | tr '\n' ' ')
    [[ $SCRIPTED == 1 ]] || printf '\033[H\033[2J'
    printf 'rampart demo lab (seed 004 LVS-NAT pair)   t=%ss\n\n' "$SECONDS"
    printf '  %-6s %-10s %-10s\n' director LVS_WAN LVS_LAN
    for d in dir1 dir2; do
        printf '  %-6s %-10s %-10s\n' "$d" "$(state "$d" LVS_WAN)" "$(state "$d" LVS_LAN)"
    done
    printf '\nreal servers:\n'
    rs_line
    printf '\nclient -> 203.0.113.10:80, last answers (oldest first, - = none):\n  %s\n' "$answers"
    printf '\nevents:\n'
    local e
    for e in "${EVENTS[@]: -6}"; do printf '  %s\n' "$e"; done
    [[ $SCRIPTED == 1 ]] && printf -- '----\n' ||
        printf '\nkeys: 1/2 kill|restart rampart on dir1/dir2   a/b stop|start web1/web2   q quit\n'
}

toggle_dir() {
    if running "$1"; then kill_dir "$1"; note "SIGKILL rampart on $1"; else start_dir "$1"; note "started rampart on $1"; fi
}
toggle_web() {
    if [[ -f $RUN/$1.pid ]]; then stop_web "$1"; note "stopped $1"; else start_web "$1"; note "started $1"; fi
}

build
start_web web1; start_web web2
start_dir dir1; start_dir dir2
note "lab up; dir1 has priority 100, dir2 99"
client_loop & echo $! >"$RUN/client.pid"

if [[ $SCRIPTED == 1 ]]; then
    # A fixed story on a timeline (seconds): what a user would do by hand.
    # The VM is slow (emulated CPU): a step fires at the first view at or after its time.
    STORY_AT=(12 24 36 44)
    STORY_DO=("toggle_dir dir1" "toggle_web web1" "toggle_web web1" "toggle_dir dir1")
    step=0
    while ((SECONDS < DURATION)); do
        if ((step < ${#STORY_AT[@]} && SECONDS >= STORY_AT[step])); then
            ${STORY_DO[step]}
            step=$((step + 1))
        fi
        view
        sleep 1
    done
    echo "logs of dir1 (last 15 lines):"; tail -n 15 "$RUN/dir1.log"
else
    tput civis 2>/dev/null
    while :; do
        view
        if read -rsn1 -t 1 key; then
            case $key in
                1) toggle_dir dir1 ;; 2) toggle_dir dir2 ;;
                a) toggle_web web1 ;; b) toggle_web web2 ;;
                q) break ;;
            esac
        fi
    done
fi
