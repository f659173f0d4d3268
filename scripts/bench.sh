#!/usr/bin/env bash
# Load benchmark: builds release, starts hotline on loopback with its own
# data directory under /tmp (a fresh server per stage), runs the stages one
# after another (never in parallel), stops the server with SIGTERM and
# prints Markdown tables. docs/benchmarks.md holds the figures of record.
#
#   a  signalling only: sipp tests/sipp/bench_signalling.xml (INVITE, 200,
#      ACK, BYE at once, 200) at stepped call rates, STEP_SECS per step, up to
#      the first rate with a failed call;
#   b  answer + 1.4 s of the welcome prompt + caller hang-up: sipp
#      tests/sipp/caller_hangs_up.xml -d 1400 -rtp_echo, stepped likewise;
#   c  N concurrent calls with G.711 both ways (20 ms PCMU each way), each
#      held HOLD s: benches/rtp_load.rs places the calls itself and measures
#      what hotline sends (RTP loss, skipped slots, pacing p50/p99/max from
#      kernel receive timestamps) and counts the packets hotline's full RTP
#      sockets dropped (/proc/net/udp). N passes with 0 lost calls, no RTP loss
#      (no sequence gap, no skipped slot) and p99 |inter-arrival - 20 ms|
#      <= 2 ms; the steps go on past pacing failures, up to the first N
#      with a lost call or lost audio;
#   d  cross-check of c with sipp's own RTP streams (tests/sipp/
#      bench_audio.xml streaming tests/sipp/bench_pcmu.wav): lost calls and
#      server CPU at the largest N that passed c (sipp measures neither loss
#      nor pacing).
#   e  IVR key -> next prompt latency: benches/ivr_latency.rs starts its own
#      server (ports the system picks, flows open around the clock) and
#      phones that walk the menus, at idle and with BENCH_IVR_LOAD (200)
#      sipp bench_audio.xml calls; about 1 minute.
#   f  (not in the default stages: BENCH_STAGES=f or abcdef)
#      the ACD: benches/acd_load.rs against a server whose flow queues every
#      caller at once (acd_load --write-flows): screen-pop latency (INVITE at
#      the agent's phone -> `offered` on their websocket, 200 agents, 100
#      waiting callers with history) and bridged calls caller <-> agent's
#      phone at BENCH_ACD_LEVELS (loss, pacing and tone at both ends, server
#      CPU); it creates the agents bench-agent-NNNN itself; about 6 minutes.
#   g  (not in the default stages: BENCH_STAGES=g)
#      outbound campaigns: benches/outbound_load.rs is the carrier's proxy
#      (every customer's phone: 180, 200 after 300 ms, PCMU both ways, BYE
#      after BENCH_OB_HOLD s) and the agents; the server runs with the
#      configuration the tool writes (--write-config: [outbound] proxy at
#      BENCH_OB_CARRIER, a survey campaign load-C per level C of
#      BENCH_OB_LEVELS with concurrency C, a progressive campaign; their
#      window open whatever the time of day). Dialling rate, concurrent
#      calls within the caps, lost calls, RTP and the survey prompt at the
#      customers, server CPU per level; then agent `ready` -> INVITE at the
#      carrier over 100 rounds; about 7 minutes.
#
# Server CPU % = (utime+stime delta)/(wall time) from /proc/<pid>/stat, as %
# of ONE core (the box has `nproc` cores). "box busy %" is the non-idle time
# of the whole machine from /proc/stat, as % of all cores: it shows whether
# the load generator and anything else running left CPU to spare.
# "SIP drops" are datagrams the kernel dropped because hotline's SIP/UDP
# socket buffer was full (/proc/net/udp). "records queued" is hotline's
# pending_records (/api/health): call records not yet written to SQLite.
#
# Environment (all optional):
#   BENCH_STAGES=abcde  BENCH_STEP_SECS=10  BENCH_HOLD=20  BENCH_IVR_LOAD=200
#   BENCH_ACD_LEVELS="100,200,400,800"  BENCH_ACD_ARGS (more acd_load options)
#   BENCH_OB_LEVELS="100,200,400,800"  BENCH_OB_HOLD=20  BENCH_OB_CARRIER=127.0.0.1:5070
#   BENCH_OB_ARGS (more outbound_load options, e.g. "--rounds 100 --agents 10")
#   BENCH_SIG_RATES="200 400 800 1000 1200 1400 1600 2000 3000"
#   BENCH_PROMPT_RATES="100 200 300 400 500 600 800 1200"
#   BENCH_AUDIO_CALLS="50 100 150 200 300 500 1000 1500"
#   BENCH_SIPP_AUDIO_CALLS (stage d; default the best N of stage c)
#   BENCH_STOP_WAIT=20 (s to wait for the server after SIGTERM, then SIGKILL)
#   BENCH_SERVER_NICE=0 (e.g. -10: run hotline ahead of other work on a
#     shared box; a diagnostic, not how the figures of record are taken)
#   BENCH_SIP=127.0.0.1:5060  BENCH_HTTP=127.0.0.1:8080
#   BENCH_OUT=FILE (the Markdown is copied there)
#   HOTLINE_LOG (server log level, default info as in production)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-bench}
STAGES=${BENCH_STAGES:-abcde}
STEP_SECS=${BENCH_STEP_SECS:-10}
HOLD=${BENCH_HOLD:-20}
SIG_RATES=${BENCH_SIG_RATES:-"200 400 800 1000 1200 1400 1600 2000 3000"}
PROMPT_RATES=${BENCH_PROMPT_RATES:-"100 200 300 400 500 600 800 1200"}
AUDIO_CALLS=${BENCH_AUDIO_CALLS:-"50 100 150 200 300 500 1000 1500"}
STOP_WAIT=${BENCH_STOP_WAIT:-20}
SIP=${BENCH_SIP:-127.0.0.1:5060}
HTTP=${BENCH_HTTP:-127.0.0.1:8080}
SIP_IP=${SIP%:*}
SIP_PORT=${SIP##*:}
NUMBER=4008001234
TCK=$(getconf CLK_TCK)

log() { echo "[bench $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v sipp >/dev/null || die "sipp is missing (apt-get install -y sip-tester)"
command -v curl >/dev/null || die "curl is missing"
[ -z "$(ss -Huln "sport = :$SIP_PORT" 2>/dev/null)" ] ||
    die "something already listens on UDP port $SIP_PORT (set BENCH_SIP)"

# ----- build ----------------------------------------------------------------------
log "building release (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --release --locked --quiet
BIN=$CARGO_TARGET_DIR/release/hotline
LOADGEN=$(cargo bench --locked --bench rtp_load --no-run 2>&1 |
    sed -n 's/.*Executable .*(\(.*rtp_load-[0-9a-f]*\)).*/\1/p' | tail -1)
[ -x "$LOADGEN" ] || die "could not build benches/rtp_load.rs"
case $STAGES in *f*)
    ACDGEN=$(cargo bench --locked --bench acd_load --no-run 2>&1 |
        sed -n 's/.*Executable .*(\(.*acd_load-[0-9a-f]*\)).*/\1/p' | tail -1)
    [ -x "$ACDGEN" ] || die "could not build benches/acd_load.rs" ;;
esac
OB_CARRIER=${BENCH_OB_CARRIER:-127.0.0.1:5070}
case $STAGES in *g*)
    OBGEN=$(cargo bench --locked --bench outbound_load --no-run 2>&1 |
        sed -n 's/.*Executable .*(\(.*outbound_load-[0-9a-f]*\)).*/\1/p' | tail -1)
    [ -x "$OBGEN" ] || die "could not build benches/outbound_load.rs"
    [ -z "$(ss -Huln "sport = :${OB_CARRIER##*:}" 2>/dev/null)" ] ||
        die "something already listens on UDP port ${OB_CARRIER##*:} (set BENCH_OB_CARRIER)" ;;
esac

# ----- server ---------------------------------------------------------------------
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
RUN=$(mktemp -d /tmp/hotline-bench.XXXXXX)
REPORT=$RUN/results.md
SPID=""
DATA=""
SIPP_PID=""
LOAD_PID=""

stop_children() {
    [ -n "$SIPP_PID" ] && kill "$SIPP_PID" 2>/dev/null || true
    [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
    SIPP_PID="" LOAD_PID=""
}
# SIGTERM, then wait: hotline gives calls still up its shutdown grace and
# flushes queued call records before it exits. Still running after
# STOP_WAIT s: SIGKILL, and the report says so.
STOP_NOTE=""
stop_server() {
    [ -n "$SPID" ] || return 0
    local t0 h q
    h=$(health); q=$(hfield pending_records "$h")
    t0=$(now)
    kill -TERM "$SPID" 2>/dev/null || true
    for _ in $(seq 1 $((STOP_WAIT * 5))); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$SPID" 2>/dev/null; then
        kill -KILL "$SPID" 2>/dev/null || true
        STOP_NOTE="still writing queued call records ${STOP_WAIT} s after SIGTERM (${q:-?} were queued): SIGKILL"
    else
        STOP_NOTE="exited $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s after SIGTERM (${q:-?} records were queued)"
    fi
    wait "$SPID" 2>/dev/null || true
    SPID=""
}
trap 'stop_children; stop_server' EXIT
trap 'exit 130' INT TERM

start_server() { # $1: stage name; $2: a flows folder of the stage's own; $3: a config file
    DATA=$RUN/$1
    mkdir -p "$DATA"
    local config=()
    [ -z "${3:-}" ] || config=(--config "$3")
    # The demo flow, open around the clock so the time of day cannot
    # change what is measured. Calls in stages c and d are held for HOLD s
    # without dialling: they go through the menus' timeouts into the agent
    # queue's hold music (180 s maximum wait), so hotline keeps sending
    # audio and never hangs up first. Nothing else differs from the defaults.
    if [ -n "${2:-}" ]; then
        rm -rf "$DATA/flows" && cp -r "$2" "$DATA/flows"
    else
        rm -rf "$DATA/flows" && cp -r ivr-flows "$DATA/flows"
        sed -i -e 's/^hours = .*/hours = { daily = "00:00-24:00" }/' -e '/^holidays = /d' "$DATA/flows/hotline.toml"
    fi
    HOTLINE_LOG=${HOTLINE_LOG:-info} nice -n "${BENCH_SERVER_NICE:-0}" "$BIN" serve "${config[@]}" --flows "$DATA/flows" --sip "$SIP" \
        --http "$HTTP" --data "$DATA" --rtp-ports 20000-39999 \
        >"$DATA/server.out" 2>"$DATA/server.log" &
    SPID=$!
    for _ in $(seq 1 150); do
        grep -q ready "$DATA/server.out" 2>/dev/null && break
        kill -0 "$SPID" 2>/dev/null || { cat "$DATA/server.log" >&2; die "server exited"; }
        sleep 0.2
    done
    grep -q ready "$DATA/server.out" || die "server not ready after 30 s"
    log "hotline pid $SPID up (data $DATA, ulimit -n $(ulimit -n))"
}

# ----- measuring ------------------------------------------------------------------
now() { date +%s.%N; }
proc_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
box_ticks() { awk '/^cpu /{ t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
sip_drops() { # drops counted on hotline's SIP/UDP socket
    awk -v p="$(printf ':%04X' "$SIP_PORT")" 'NR > 1 && substr($2, length($2) - 4) == p { d += $NF } END { print d + 0 }' /proc/net/udp
}
health() { curl -s -m 2 "http://$HTTP/api/health" || echo '{}'; }
hfield() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$2"; }
wait_idle() { # until hotline has no call up (max 40 s)
    local h
    for _ in $(seq 1 200); do
        h=$(health)
        [ "$(hfield active_calls "$h")" = 0 ] && return 0
        sleep 0.2
    done
    log "warning: calls still up: $h"
}
# CPU seconds of this shell's finished children (sipp, rtp_load). `times`
# must run in this shell: a $(...) subshell would only see its own.
children_times() { times >"$RUN/times"; }
children_secs() {
    awk 'END { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$RUN/times"
}
STAMP_T=0 STAMP_S=0 STAMP_BB=0 STAMP_BT=0 STAMP_C=0 STAMP_D=0
begin() {
    children_times; STAMP_C=$(children_secs)
    STAMP_T=$(now); STAMP_S=$(proc_ticks "$SPID"); STAMP_D=$(sip_drops)
    read -r STAMP_BB STAMP_BT < <(box_ticks)
}
finish() { # sets WALL SRV_CPU BOX_BUSY GEN_CPU DROPS
    local t s bb bt c
    t=$(now); s=$(proc_ticks "$SPID"); DROPS=$(($(sip_drops) - STAMP_D))
    children_times; c=$(children_secs)
    read -r bb bt < <(box_ticks)
    WALL=$(awk -v a="$STAMP_T" -v b="$t" 'BEGIN { printf "%.1f", b - a }')
    SRV_CPU=$(awk -v a="$STAMP_S" -v b="$s" -v w="$WALL" -v k="$TCK" 'BEGIN { printf "%.0f", (b - a) / k / w * 100 }')
    BOX_BUSY=$(awk -v a="$STAMP_BB" -v b="$bb" -v c="$STAMP_BT" -v d="$bt" 'BEGIN { printf "%.0f", (b - a) / (d - c) * 100 }')
    GEN_CPU=$(awk -v a="$STAMP_C" -v b="$c" -v w="$WALL" 'BEGIN { printf "%.0f", (b - a) / w * 100 }')
}
csv_field() { # column NAME of the last line of sipp's -trace_stat file
    [ -s "$1" ] || { echo; return; }
    awk -F';' -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i } END { if (c) print $c }' "$1"
}
rt_ms() { # sipp's hh:mm:ss:usec to ms
    [ -n "$1" ] || { echo "?"; return; }
    awk -F: '{ printf "%.0f", (($1 * 60 + $2) * 60 + $3) * 1000 + $4 / 1000 }' <<<"$1"
}

# run_sipp ERRFILE ARGS...: one sipp run against the server, in the
# background so stop_children can end it; sets rc to its exit code.
run_sipp() {
    local err=$1
    shift
    set +e
    sipp -s "$NUMBER" -i "$SIP_IP" -mi "$SIP_IP" -trace_stat -fd 1 -nostdin "$@" "$SIP" \
        >/dev/null 2>"$err" &
    SIPP_PID=$!
    wait "$SIPP_PID"
    rc=$?
    SIPP_PID=""
    set -e
}

{
    echo "hotline bench $(date -u +%FT%TZ) on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1))," \
        "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    [ "${BENCH_SERVER_NICE:-0}" = 0 ] || echo "hotline ran at nice ${BENCH_SERVER_NICE}."
    echo "Built from $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [ -z "$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ] || echo ' with uncommitted changes in src')."
    echo
} >"$REPORT"

# sipp stage: name label scenario call_ms "rates" extra sipp args...
sipp_stage() {
    local name=$1 label=$2 scenario=$3 dur_ms=$4 rates=$5; shift 5
    local max_ok=0 rate calls limit stat rc ok failed retrans rtt deadline verdict h stuck queued
    start_server "$name"
    {
        echo "### $label"
        echo
        echo "| offered cps | calls | completed | failed | wall s | setup avg ms | sipp retrans | SIP drops | left up on server | records queued | server CPU % | sipp CPU % | box busy % | result |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    } >>"$REPORT"
    for rate in $rates; do
        wait_idle
        calls=$((rate * STEP_SECS))
        # room for 2 s of calls beyond their own length before sipp throttles
        limit=$(awk -v r="$rate" -v d="$dur_ms" 'BEGIN { printf "%d", r * (d / 1000 + 2) + 100 }')
        stat=$DATA/sipp-$rate.csv
        log "$name: $rate cps, $calls calls"
        begin
        run_sipp "$DATA/sipp-$rate.err" -sf "$scenario" -mp 50000 \
            -r "$rate" -m "$calls" -l "$limit" -d "$dur_ms" \
            -recv_timeout 5000 -timeout $((STEP_SECS * 3 + 30))s \
            -max_recv_loops 10000 -max_sched_loops 10000 -stf "$stat" "$@"
        finish
        ok=$(csv_field "$stat" 'SuccessfulCall(C)'); failed=$(csv_field "$stat" 'FailedCall(C)')
        retrans=$(csv_field "$stat" 'Retransmissions(C)')
        rtt=$(rt_ms "$(csv_field "$stat" 'ResponseTime1(C)')")
        sleep 2 # BYEs in flight
        h=$(health); stuck=$(hfield active_calls "$h"); queued=$(hfield pending_records "$h")
        # Passed: sipp exit 0, every call completed, none left up on the
        # server, and no slower than the offered rate (sipp throttles at -l
        # when answers lag).
        deadline=$(awk -v s="$STEP_SECS" -v d="$dur_ms" 'BEGIN { print s + d / 1000 + 3 }')
        verdict=pass
        if [ "$rc" != 0 ] || [ "${failed:-1}" != 0 ] || [ "${ok:-0}" != "$calls" ]; then
            verdict="FAIL (sipp exit $rc)"
        elif [ "${stuck:-0}" != 0 ]; then
            verdict="FAIL (calls left up)"
        elif awk -v w="$WALL" -v d="$deadline" 'BEGIN { exit !(w > d) }'; then
            verdict="FAIL (fell behind)"
        fi
        echo "| $rate | $calls | ${ok:-?} | ${failed:-?} | $WALL | $rtt | ${retrans:-?} | $DROPS | ${stuck:-?} | ${queued:-?} | $SRV_CPU | $GEN_CPU | $BOX_BUSY | $verdict |" >>"$REPORT"
        log "  -> completed ${ok:-?} failed ${failed:-?} in $WALL s; server CPU $SRV_CPU %, sipp $GEN_CPU %, box $BOX_BUSY %; SIP drops $DROPS; left up ${stuck:-?}; records queued ${queued:-?}: $verdict"
        [ "$verdict" = pass ] || break
        max_ok=$rate
    done
    stop_server
    {
        echo
        echo "Highest rate with 0 failures: **$max_ok cps**. Server $STOP_NOTE."
        echo
    } >>"$REPORT"
}

BEST_N=0
BEST_NOLOSS_N=0
audio_stage() {
    local n out rc r verdict
    start_server c
    {
        echo "### c. concurrent calls, G.711 both ways, each held ${HOLD} s (benches/rtp_load.rs)"
        echo
        echo "| calls | set-up cps | lost calls | setup p99 ms | RTP loss to us % | skipped slots % | our RTP dropped by hotline % | pacing dev. p50 / p99 / max ms | > 2 ms % | all up: p99 / max ms | server CPU % (all up) | server CPU-wait ms/s | server CPU % (run) | loadgen CPU % | box busy % | result |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    } >>"$REPORT"
    for n in $AUDIO_CALLS; do
        wait_idle
        r=$(awk -v n="$n" 'BEGIN { r = n / 8; if (r < 10) r = 10; printf "%.0f", r }')
        log "c: $n concurrent calls, set up at $r cps, held $HOLD s"
        begin
        set +e
        "$LOADGEN" --calls "$n" --rate "$r" --hold "$HOLD" --server "$SIP" --server-pid "$SPID" \
            >"$DATA/rtp_load-$n.out" 2>&1 &
        LOAD_PID=$!
        wait "$LOAD_PID"; rc=$?
        LOAD_PID=""
        set -e
        finish
        sed 's/^/    /' "$DATA/rtp_load-$n.out" >&2
        out=$(grep '^RESULT' "$DATA/rtp_load-$n.out" || true)
        [ -n "$out" ] || { log "rtp_load printed no result"; break; }
        declare -A R=()
        for kv in $out; do [ "$kv" = RESULT ] || R[${kv%%=*}]=${kv#*=}; done
        verdict=pass
        if [ "${R[failed]}" != 0 ] || [ "${R[lost]}" != 0 ] || [ "${R[skipped]}" != 0 ] ||
            [ "${R[silent]}" != 0 ] || [ "${R[in_drops]}" != 0 ]; then
            verdict="FAIL (lost calls or audio)"
        elif [ "$rc" != 0 ]; then
            verdict="FAIL (pacing)"
        fi
        echo "| $n | $r | ${R[failed]} | ${R[setup_p99_ms]} | ${R[loss_pct]} | ${R[skip_pct]} | ${R[in_loss_pct]} | ${R[p50_ms]} / ${R[p99_ms]} / ${R[max_ms]} | ${R[over2_pct]} | ${R[steady_p99_ms]} / ${R[steady_max_ms]} | ${R[server_cpu_steady]} | ${R[server_wait_ms_per_s]} | ${R[server_cpu_run]} | ${R[gen_cpu]} | $BOX_BUSY | $verdict |" >>"$REPORT"
        case $verdict in
            pass) BEST_N=$n; BEST_NOLOSS_N=$n ;;
            "FAIL (pacing)") BEST_NOLOSS_N=$n ;;
            *) break ;;
        esac
    done
    stop_server
    {
        echo
        echo "Largest N that passed (0 lost calls, no RTP loss, p99 pacing within 2 ms): **$BEST_N**" \
            "(pacing is noisy near 2 ms: read every row);" \
            "with 0 lost calls and no RTP loss (pacing aside): **$BEST_NOLOSS_N**. Server $STOP_NOTE."
        echo
    } >>"$REPORT"
}

sipp_audio_check() {
    local n=${BENCH_SIPP_AUDIO_CALLS:-$BEST_N} r stat rc ok failed
    [ "$n" -gt 0 ] || n=100
    r=$(awk -v n="$n" 'BEGIN { r = n / 8; if (r < 10) r = 10; printf "%.0f", r }')
    start_server d
    stat=$DATA/sipp-audio-$n.csv
    log "d: sipp rtp_stream cross-check, $n calls at $r cps held $HOLD s"
    begin
    run_sipp "$DATA/sipp-audio.err" -sf tests/sipp/bench_audio.xml -mp 52000 \
        -r "$r" -m "$n" -l "$((n + 10))" -d "$((HOLD * 1000))" -recv_timeout 10000 \
        -timeout $((HOLD + n / r + 60))s -stf "$stat"
    finish
    ok=$(csv_field "$stat" 'SuccessfulCall(C)'); failed=$(csv_field "$stat" 'FailedCall(C)')
    stop_server
    {
        echo "### d. cross-check with sipp's RTP streams (tests/sipp/bench_audio.xml, held ${HOLD} s)"
        echo
        echo "| calls | set-up cps | completed | failed | wall s | server CPU % (run) | sipp CPU % | box busy % |"
        echo "|---|---|---|---|---|---|---|---|"
        echo "| $n | $r | ${ok:-?} | ${failed:-?} | $WALL | $SRV_CPU | $GEN_CPU | $BOX_BUSY |"
        echo
    } >>"$REPORT"
    log "  -> sipp exit $rc, completed ${ok:-?} failed ${failed:-?}, server CPU $SRV_CPU %, sipp $GEN_CPU %"
}

acd_stage() {
    local rc errors warns
    log "f: the ACD: screen pop and bridged calls (benches/acd_load.rs), levels ${BENCH_ACD_LEVELS:-100,200,400,800}"
    "$ACDGEN" --write-flows "$RUN/acd-flows" >/dev/null
    # No config file: the demo data and users (admin / hotline-demo) are
    # seeded, and the default queues include `general`.
    start_server f "$RUN/acd-flows"
    begin
    set +e
    # shellcheck disable=SC2086 # BENCH_ACD_ARGS is a list of options
    "$ACDGEN" --server "$SIP" --http "$HTTP" --server-pid "$SPID" --rtp-base 40000 \
        --levels "${BENCH_ACD_LEVELS:-100,200,400,800}" --all-levels ${BENCH_ACD_ARGS:-} \
        >"$DATA/acd_load.out" 2>&1 &
    LOAD_PID=$!
    wait "$LOAD_PID"; rc=$?
    LOAD_PID=""
    set -e
    finish
    sed 's/^/    /' "$DATA/acd_load.out" >&2
    # The demo tickets' SLA breaches are logged as warnings at start-up.
    errors=$(grep -c ' ERROR ' "$DATA/server.log" || true)
    warns=$(grep ' WARN ' "$DATA/server.log" | grep -vc 'SLA breached' || true)
    stop_server
    {
        echo "### f. the ACD: screen pop and bridged calls (benches/acd_load.rs)"
        echo
        echo '```'
        grep -v '^RESULT' "$DATA/acd_load.out"
        echo '```'
        echo
        echo "acd_load exit $rc; wall $WALL s; server CPU $SRV_CPU % over the run; box busy $BOX_BUSY %." \
            "Server log: $errors ERROR and $warns WARN lines (SLA breaches of the demo tickets aside). Server $STOP_NOTE."
        echo
    } >>"$REPORT"
}

outbound_stage() {
    local rc errors warns dialling refused levels=${BENCH_OB_LEVELS:-100,200,400,800}
    log "g: outbound campaigns (benches/outbound_load.rs), levels $levels"
    # shellcheck disable=SC2086 # BENCH_OB_ARGS is a list of options
    "$OBGEN" --write-config "$RUN/outbound.toml" --levels "$levels" --carrier "$OB_CARRIER" \
        --server "$SIP" --http "$HTTP" ${BENCH_OB_ARGS:-} >"$RUN/outbound-config.out"
    # The repository's flows (survey.toml among them); the configuration
    # seeds the demo users (admin / hotline-demo) the tool signs in as.
    start_server g "" "$RUN/outbound.toml"
    begin
    set +e
    # shellcheck disable=SC2086
    "$OBGEN" --server "$SIP" --http "$HTTP" --carrier "$OB_CARRIER" --server-pid "$SPID" --rtp-base 40000 \
        --levels "$levels" --hold "${BENCH_OB_HOLD:-20}" ${BENCH_OB_ARGS:-} \
        >"$DATA/outbound_load.out" 2>&1 &
    LOAD_PID=$!
    wait "$LOAD_PID"; rc=$?
    LOAD_PID=""
    set -e
    finish
    sed 's/^/    /' "$DATA/outbound_load.out" >&2
    errors=$(grep -c ' ERROR ' "$DATA/server.log" || true)
    warns=$(grep ' WARN ' "$DATA/server.log" | grep -vc 'SLA breached' || true)
    dialling=$(grep -c 'dialling out' "$DATA/server.log" || true)
    refused=$(grep -c 'not dialled now' "$DATA/server.log" || true)
    stop_server
    {
        echo "### g. outbound campaigns: dialling rate, concurrent calls, agent ready -> ring (benches/outbound_load.rs)"
        echo
        echo '```'
        grep -v '^RESULT' "$DATA/outbound_load.out"
        echo '```'
        echo
        echo "outbound_load exit $rc; wall $WALL s; server CPU $SRV_CPU % over the run; box busy $BOX_BUSY %." \
            "Server log: $dialling calls dialled, $refused dial orders refused (not dialled now), $errors ERROR and" \
            "$warns WARN lines (SLA breaches of the demo tickets aside). Server $STOP_NOTE."
        echo
    } >>"$REPORT"
}

case $STAGES in *a*) sipp_stage a "a. signalling only (tests/sipp/bench_signalling.xml)" \
    tests/sipp/bench_signalling.xml 0 "$SIG_RATES" ;; esac
case $STAGES in *b*) sipp_stage b "b. answer + 1.4 s prompt + hang-up (tests/sipp/caller_hangs_up.xml -d 1400 -rtp_echo)" \
    tests/sipp/caller_hangs_up.xml 1400 "$PROMPT_RATES" -rtp_echo ;; esac
case $STAGES in *c*) audio_stage ;; esac
case $STAGES in *d*) sipp_audio_check ;; esac
case $STAGES in *e*) log "e: IVR key -> next prompt latency (benches/ivr_latency.rs)"; { echo "### e. IVR key -> next prompt latency (benches/ivr_latency.rs)"; echo; cargo bench --locked --quiet --bench ivr_latency -- --load "${BENCH_IVR_LOAD:-200}" || echo "ivr_latency failed (exit $?)"; } >>"$REPORT" ;; esac

case $STAGES in *f*) acd_stage ;; esac
case $STAGES in *g*) outbound_stage ;; esac

echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). Logs and sipp statistics in $RUN." >>"$REPORT"
[ -n "${BENCH_OUT:-}" ] && cp "$REPORT" "$BENCH_OUT"
cat "$REPORT"
