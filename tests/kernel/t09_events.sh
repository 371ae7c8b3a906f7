# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, observability: the event stream, status --json, metrics.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

# Tag, re-tag, untag, adopt, a refused request and a kill, followed by root
# and by an unprivileged user at once: every line is JSON, the comm with a
# quote and a backslash comes out escaped (decoded back by jsoncheck), root
# sees everything, the user only its own tag and its own refused request.
test_events() {
	local f=$TMP/ev.root fu=$TMP/ev.user weird='q"b\s' r x xc t1 t2 ut u other c why p rootev userev
	local -a kids checks
	setup_users || return
	log_mark
	events_start "$f" || return
	rootev=$EV_PID
	events_start "$fu" "$TUID" || return
	userev=$EV_PID

	# a tree whose comm needs escaping: the tree helper under that name
	cp "$HELPERS/tree" "$TMP/$weird" || { fail "setup: cannot copy the tree helper to $TMP/$weird"; return; }
	SEQ=$((SEQ + 1))
	TREE_OUT=$TMP/tree$SEQ
	TREE_GO=$TREE_OUT.go
	"$TMP/$weird" --go "$TREE_GO" --life 300 "$TREE_OUT" children 2 >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	r=$!
	disown "$r" 2>/dev/null
	track "$r"
	now
	local deadline=$((NOW + 5000))
	until { read -r c <"/proc/$r/comm"; } 2>/dev/null && [[ $c == "$weird" ]]; do
		now
		((NOW < deadline)) || { fail "setup: pid $r never got the comm '$weird' (it has '$c')"; return; }
		msleep 0.01
	done
	tag "$r" --pin-dir "$PIN" || return
	tag_id || return
	t1=$TAGID
	untag "$r" --pin-dir "$PIN" || return
	tag "$r" --pin-dir "$PIN" || return
	tag_id || return
	t2=$TAGID
	tag "$r" --pin-dir "$PIN" || return # again: an update
	: >"$TREE_GO"
	wait_tree || return
	kids=("${TREE_PIDS[@]}")
	start_tree --go children 1
	x=$ROOT
	cli adopt "$r" "$x" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "adopt $r $x: exit $RC: $ERR"; return; }
	: >"$TREE_GO"
	wait_tree || return
	xc=${TREE_PIDS[0]}
	cli tag 1 --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "tag 1: exit $RC, expected 1"; return; }

	# the user's own tag, and a request of the user's that is refused
	utree "$TUID" children 1 || return
	u=$ROOT
	local -a ukids=("${TREE_PIDS[@]}")
	ucli "$TUID" tag "$u" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "uid $TUID tagging its own process: exit $RC: $ERR"; return; }
	tag_id || return
	ut=$TAGID
	ucli "$TUID" tag "$r" --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "uid $TUID tagging root's process $r: exit $RC, expected 1"; return; }

	kill_root_expect_dead "$r" "${kids[@]}" "$x" "$xc" || return
	kill_root_expect_dead "$u" "${ukids[@]}" || return
	wait_grep "$f" "\"event\":\"lineage_dead\",\"tag\":$t2," 10000 ||
		{ fail "no lineage_dead line for tag $t2 within 10 s: $(oneline "$(tail -n 3 "$f")")"; return; }
	wait_grep "$f" "\"event\":\"lineage_dead\",\"tag\":$ut," 10000 &&
		wait_grep "$fu" "\"event\":\"lineage_dead\",\"tag\":$ut," 10000 ||
		{ fail "no lineage_dead line for uid $TUID's tag $ut within 10 s: $(oneline "$(tail -n 3 "$fu")")"; return; }
	events_stop "$rootev" && events_stop "$userev" || return

	checks=(
		--one event=subscribed uid=0 privileged=true
		--one event=tag tag="$t1" pid="$r" "comm=$weird" uid=0 privileged=true parent_tag=0 signal=KILL updated=false
		--one event=untag tag="$t1" pid="$r" uid=0
		--one event=tag tag="$t2" pid="$r" "comm=$weird" updated=false
		--one event=tag tag="$t2" pid="$r" "comm=$weird" updated=true
		--one event=adopt tag="$t2" root_pid="$r" pid="$x" comm=tree uid=0
		--has event=refused op=tag uid=0 pid=1 errno=EPERM
		--has event=refused op=tag uid="$TUID" pid="$r" errno=EPERM
		--one event=tag tag="$ut" pid="$u" uid="$TUID" privileged=false
		--one event=root_exit tag="$t2" pid="$r" signal=KILL latency_us=*
		--one event=lineage_dead tag="$t2" pid="$r" latency_us=*
		--one event=root_exit tag="$ut" pid="$u"
		--none event=root_exit tag="$t1"
		--none event=kill tag!="$t2" tag!="$ut"
	)
	if [[ $AGENT_MODE == user ]]; then # in kernel mode the kernel sends most signals itself
		for p in "${kids[@]}"; do checks+=(--has event=kill tag="$t2" pid="$p" "comm=$weird" signal=KILL newborn=false latency_us=*); done
		checks+=(--has event=kill tag="$t2" pid="$x" comm=tree --has event=kill tag="$t2" pid="$xc" comm=tree)
	fi
	why=$(json_check --lines "$f" "${checks[@]}") || { fail "root's stream: $why"; return; }
	grep -q '"comm":"q\\"b\\\\s"' "$f" || { fail "root's stream does not spell the comm as \"q\\\"b\\\\\\\\s\""; return; }

	why=$(json_check --lines "$fu" --one event=subscribed uid="$TUID" privileged=false \
		--one event=tag tag="$ut" pid="$u" \
		--one event=root_exit tag="$ut" pid="$u" \
		--one event=lineage_dead tag="$ut" \
		--has event=refused op=tag uid="$TUID" errno=EPERM \
		--none tag="$t1" --none tag="$t2" --none event=refused uid=0 --none event=adopt \
		--none event=kill tag!="$ut") || { fail "uid $TUID's stream: $why"; return; }
	log_since | grep -q "refused tag from uid 0" || { fail "the agent logged no line for the refused request: $(agent_log_tail)"; return; }
}

# A subscriber's stream ends with agent_stop when the agent stops (exit 0);
# a second stream was still writable up to then.
test_events_stop() {
	local f=$TMP/ev.stop why
	events_start "$f" || return
	stop_agent
	wait_dead 5000 "$EV_PID" || { fail "bpfguard events did not end with the agent"; start_agent; return; }
	wait "$EV_PID" 2>/dev/null
	start_agent || { fail "could not restart the agent: $AGENT_WHY"; return; }
	why=$(json_check --lines "$f" --one event=subscribed --one event=agent_stop) || { fail "$why"; return; }
	[[ ! -s $f.err ]] || fail "bpfguard events complained: $(<"$f.err")"
}

# A loss counter that rises is reported: an agent whose procs map holds 4
# processes is made to miss children (procs_map_full); the stream gets a
# drop line and the log a warning. That agent runs with -v: libbpf's own
# messages are in its log, and every line of it has a syslog priority.
test_events_drop() {
	local pin=$PIN-obs log=$TMP/agent-obs.log f=$TMP/ev.drop why bad
	launch_agent "$pin" "$log" --max-procs 4 -v || { fail "a second agent (--max-procs 4): $AGENT_WHY"; return; }
	OAGENT_PID=$L_PID
	events_start "$f" "" "$pin" || return
	start_tree --go children 8
	cli tag "$ROOT" --pin-dir "$pin"
	[[ $RC == 0 ]] || { fail "tag $ROOT on the small agent: exit $RC: $ERR"; return; }
	: >"$TREE_GO"
	wait_tree || return
	wait_grep "$f" '"event":"drop","counter":"procs_map_full"' 10000 ||
		{ fail "no drop line for procs_map_full within 10 s: $(oneline "$(tail -n 3 "$f")")"; return; }
	events_stop "$EV_PID" || return
	halt_agent "$OAGENT_PID"
	OAGENT_PID=
	bounded 15 "$BPFGUARD" unload --pin-dir "$pin" >/dev/null 2>&1
	why=$(json_check --lines "$f" --has event=drop counter=procs_map_full delta=* total=*) || { fail "$why"; return; }
	grep -q '^<4>bpfguard: procs_map_full rose by' "$log" || { fail "the agent logged no warning for procs_map_full: $(tail -n 3 "$log")"; return; }
	grep -q '^<[4-7]>bpfguard: libbpf: ' "$log" || { fail "-v: no libbpf message in the agent's log"; return; }
	bad=$(grep -v '^<[0-7]>bpfguard: ' "$log" | head -n 2)
	[[ -z $bad ]] || fail "agent log lines without a <N>bpfguard: prefix: $(oneline "$bad")"
}

STATUS_COUNTERS="forks_tracked exits_tracked root_exits procs_map_full deaths_map_full ringbuf_drops enrolled kernel_kills kernel_kills_failed limit_kills kills kills_skipped_identity kills_failed agent_spared kills_refused_uid kills_stuck"
AGENT_COUNTERS="events_sent event_subscribers_dropped requests_refused metrics_scrapes metrics_errors quota_refused"

test_status_json() {
	local rel n i before lat0 sum0 k0 b
	local -a names
	status_get agent.pid agent.mode agent.pin_dir kernel.release tags tracked limits.max_procs \
		limits.max_tags kill_latency_us.count kill_latency_us.over kernel.features.0 \
		kill_latency_us.buckets.0.le kill_latency_us.buckets.32.le agent.start_time \
		quotas.user_max_procs quotas.user_max_tags quotas.unprivileged_max_procs \
		quotas.unprivileged_max_tags quotas.used_procs quotas.used_tags || return
	# the suite's agent runs with the defaults (README, "Quotas")
	((GOT[14] == GOT[6] / 16 && GOT[15] == 64 && GOT[16] == GOT[6] - GOT[6] / 8 &&
		GOT[17] == GOT[7] - GOT[7] / 8)) ||
		{ fail "status --json: quotas ${GOT[*]:14:4} for maps of ${GOT[6]} processes, ${GOT[7]} tags: not the defaults"; return; }
	[[ ${GOT[0]} == "$AGENT_PID" ]] || { fail "status --json: agent.pid ${GOT[0]}, the agent is $AGENT_PID"; return; }
	[[ ${GOT[1]} == "$(expected_mode)" ]] || { fail "status --json: mode ${GOT[1]}, expected $(expected_mode)"; return; }
	[[ ${GOT[2]} == "$PIN" ]] || { fail "status --json: pin_dir '${GOT[2]}', expected $PIN"; return; }
	{ read -r rel </proc/sys/kernel/osrelease; } 2>/dev/null
	[[ -z $rel || ${GOT[3]} == "$rel" ]] || { fail "status --json: kernel '${GOT[3]}', this is $rel"; return; }
	[[ ${GOT[10]} == btf && ${GOT[11]} == 1 && ${GOT[12]} == 4294967296 ]] ||
		{ fail "status --json: features/buckets: ${GOT[10]} ${GOT[11]} ${GOT[12]}"; return; }
	((${GOT[13]} > 1500000000)) || { fail "status --json: agent.start_time ${GOT[13]}"; return; }
	names=()
	for n in $STATUS_COUNTERS; do names+=("counters.$n"); done
	for n in $AGENT_COUNTERS; do names+=("agent_counters.$n"); done
	status_get "${names[@]}" || return
	# the schema lists every counter: as many as the text status shows
	cli status --pin-dir "$PIN"
	n=$(sed -n 's/^counters://p' <<<"$OUT" | tr ' ' '\n' | grep -c =)
	[[ $n == $(wc -w <<<"$STATUS_COUNTERS") ]] || { fail "status shows $n counters, the JSON test knows $(wc -w <<<"$STATUS_COUNTERS")"; return; }

	status_get counters.root_exits counters.kills counters.kernel_kills kill_latency_us.count kill_latency_us.sum || return
	before=${GOT[0]} k0=$((GOT[1] + GOT[2])) lat0=${GOT[3]} sum0=${GOT[4]}
	tagged_tree children 3 || return
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || return
	now
	local deadline=$((NOW + 10000))
	while :; do # the agent's last sweep may come after the deaths
		status_get counters.root_exits counters.kills counters.kernel_kills kill_latency_us.count kill_latency_us.sum || return
		((GOT[3] > lat0)) && break
		now
		((NOW < deadline)) || { fail "kill_latency_us.count did not grow within 10 s ($lat0 -> ${GOT[3]})"; return; }
		msleep 0.05
	done
	((GOT[0] > before)) || { fail "counters.root_exits did not grow ($before -> ${GOT[0]})"; return; }
	((GOT[1] + GOT[2] >= k0 + 3)) || { fail "kills + kernel_kills grew by $((GOT[1] + GOT[2] - k0)), 3 descendants died"; return; }
	((GOT[4] > sum0)) || { fail "kill_latency_us.sum did not grow ($sum0 -> ${GOT[4]})"; return; }
	# the buckets add up to the count
	names=()
	for ((i = 0; i < 33; i++)); do names+=("kill_latency_us.buckets.$i.count"); done
	status_get kill_latency_us.count kill_latency_us.over "${names[@]}" || return
	b=0
	for ((i = 1; i < ${#GOT[@]}; i++)); do b=$((b + GOT[i])); done
	((b == GOT[0])) || { fail "the latency buckets hold $b samples, the count is ${GOT[0]}"; return; }

	cli status --json --pin-dir "$PIN-none"
	[[ $RC == 1 && -z $OUT ]] || { fail "status --json with no agent: exit $RC, stdout '$OUT'"; return; }
	cli status --json extra --pin-dir "$PIN"
	[[ $RC == 2 ]] || fail "status --json extra: exit $RC, expected 2"
}

# TCP sockets in LISTEN state that PID holds (by inode, /proc/net/tcp{,6}).
listening() {
	local l t ino f
	local -A mine=()
	LISTEN_N=0
	for l in /proc/"$1"/fd/*; do
		t=$(readlink "$l" 2>/dev/null) || continue
		[[ $t =~ ^socket:\[([0-9]+)\]$ ]] && mine[${BASH_REMATCH[1]}]=1
	done
	for f in /proc/net/tcp /proc/net/tcp6; do
		[[ -r $f ]] || continue
		while read -r _ _ _ st _ _ _ _ _ ino _; do
			[[ $st == 0A && -n ${mine[$ino]:-} ]] && LISTEN_N=$((LISTEN_N + 1))
		done <"$f"
	done
	((LISTEN_N > 0))
}

# http_req PORT REQUEST: send REQUEST on a new connection to 127.0.0.1:PORT
# and read the response until the agent closes it (bounded). HTTP_STATUS,
# HTTP_HEAD (header lines), HTTP_BODY; 1 if there was no connection.
http_req() {
	local fd line n=0 body=0
	HTTP_STATUS='' HTTP_HEAD='' HTTP_BODY=''
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	# in a subshell: a connection the agent closed at once may raise SIGPIPE
	(printf '%s' "$2" >&"$fd") 2>/dev/null
	while ((n++ < 20000)); do
		line='' # a reset connection leaves it unset
		IFS= read -r -t 10 -u "$fd" line 2>/dev/null || { [[ -n ${line:-} ]] || break; }
		if ((body)); then
			HTTP_BODY+=$line$'\n'
		elif [[ -z ${line%$'\r'} ]]; then
			body=1
		elif [[ -z $HTTP_STATUS ]]; then
			[[ $line =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]] && HTTP_STATUS=${BASH_REMATCH[1]}
			HTTP_HEAD+=${line%$'\r'}$'\n'
		else
			HTTP_HEAD+=${line%$'\r'}$'\n'
		fi
	done
	exec {fd}>&-
	return 0
}

declare -A M=()
# scrape PORT: GET /metrics; check the exposition; M[sample] = value.
scrape() {
	local line name base re='^(bpfguard_[a-z_]+)(\{[^}]*\})? ([0-9]+(\.[0-9]+)?)$' typed=' '
	M=()
	http_req "$1" $'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' ||
		{ fail "cannot connect to 127.0.0.1:$1 (is the loopback interface up?)"; return 1; }
	[[ $HTTP_STATUS == 200 ]] || { fail "GET /metrics: status '${HTTP_STATUS:-none}': $(oneline "$HTTP_HEAD")"; return 1; }
	[[ $HTTP_HEAD == *"Content-Type: text/plain; version=0.0.4"* ]] || { fail "GET /metrics: no 0.0.4 content type: $(oneline "$HTTP_HEAD")"; return 1; }
	while IFS= read -r line; do
		[[ -n $line ]] || continue
		if [[ $line =~ ^#\ HELP\ bpfguard_[a-z_]+\ .+$ ]]; then
			continue
		elif [[ $line =~ ^#\ TYPE\ (bpfguard_[a-z_]+)\ (counter|gauge|histogram)$ ]]; then
			typed+="${BASH_REMATCH[1]} "
		elif [[ $line =~ $re ]]; then
			name=${BASH_REMATCH[1]}
			base=${name%_bucket}
			base=${base%_sum}
			base=${base%_count}
			[[ $typed == *" $name "* || $typed == *" $base "* ]] || { fail "metrics: a sample before its TYPE line: $line"; return 1; }
			M[$name${BASH_REMATCH[2]}]=${BASH_REMATCH[3]}
		else
			fail "metrics: not the text exposition format: '$line'"
			return 1
		fi
	done <<<"$HTTP_BODY"
	for name in bpfguard_kills_total bpfguard_kernel_kills_total bpfguard_root_exits_total \
		bpfguard_ringbuf_drops_total bpfguard_procs_map_full_total bpfguard_tags \
		bpfguard_tracked_processes 'bpfguard_kill_latency_seconds_bucket{le="+Inf"}' \
		bpfguard_kill_latency_seconds_sum bpfguard_kill_latency_seconds_count \
		bpfguard_metrics_errors_total bpfguard_events_sent_total; do
		[[ -n ${M[$name]:-} ]] || { fail "metrics: no $name"; return 1; }
	done
	[[ ${M[bpfguard_kill_latency_seconds_bucket{le=\"+Inf\"}]} == "${M[bpfguard_kill_latency_seconds_count]}" ]] ||
		{ fail "metrics: the +Inf bucket is not the count"; return 1; }
	[[ -n ${M[bpfguard_info{mode=\"$AGENT_MODE\",kernel=\"$S_KREL\",features=\"${FEATURES_CSV}\"}]:-} ]] ||
		{ fail "metrics: no bpfguard_info for mode $AGENT_MODE, kernel $S_KREL, features $FEATURES_CSV: $(grep info <<<"$HTTP_BODY")"; return 1; }
}

test_metrics() {
	local rc
	listening "$AGENT_PID" && { fail "the agent listens on TCP although --metrics was not given"; return; }
	for a in nonsense 127.0.0.1:70000 localhost:9469 127.0.0.1 '[::1]'; do
		cli agent --metrics "$a" --pin-dir "$PIN-none"
		[[ $RC == 2 && $ERR == *"invalid --metrics"* ]] || { fail "agent --metrics '$a': exit $RC (want 2): $ERR"; return; }
	done
	stop_agent
	if ! start_agent --metrics 127.0.0.1:0; then
		fail "the agent did not start with --metrics 127.0.0.1:0: $AGENT_WHY"
		start_agent
		return
	fi
	metrics_checks
	rc=$?
	stop_agent
	start_agent || msg "could not restart the agent: $AGENT_WHY"
	return $rc
}

metrics_checks() {
	local port k0 r0 l0 e0 f i
	local -a idle=()
	port=$(sed -n 's|.*metrics: serving http://127\.0\.0\.1:\([0-9][0-9]*\)/metrics.*|\1|p' "$AGENT_LOG" | tail -n 1)
	[[ -n $port ]] || { fail "the agent logged no 'metrics: serving' line: $(agent_log_tail)"; return; }
	listening "$AGENT_PID" || { fail "the agent holds no listening TCP socket"; return; }
	FEATURES_CSV=$(set -- $FEATURES; IFS=,; echo "$*")
	scrape "$port" || return
	k0=$((M[bpfguard_kills_total] + M[bpfguard_kernel_kills_total]))
	r0=${M[bpfguard_root_exits_total]}
	l0=${M[bpfguard_kill_latency_seconds_count]}
	e0=${M[bpfguard_metrics_errors_total]}
	tagged_tree children 2 || return
	scrape "$port" || return
	((M[bpfguard_tags] >= 1 && M[bpfguard_tracked_processes] >= 2)) ||
		{ fail "metrics: tags ${M[bpfguard_tags]}, tracked ${M[bpfguard_tracked_processes]} with a tree of 2 tagged"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || return
	now
	local deadline=$((NOW + 10000))
	while scrape "$port" && ((M[bpfguard_kill_latency_seconds_count] <= l0)); do
		now
		((NOW < deadline)) || { fail "bpfguard_kill_latency_seconds_count did not grow within 10 s ($l0)"; return; }
		msleep 0.05
	done
	[[ -z $REASON ]] || return
	((M[bpfguard_root_exits_total] > r0)) || { fail "bpfguard_root_exits_total did not grow ($r0)"; return; }
	((M[bpfguard_kills_total] + M[bpfguard_kernel_kills_total] >= k0 + 2)) ||
		{ fail "kills + kernel_kills grew by $((M[bpfguard_kills_total] + M[bpfguard_kernel_kills_total] - k0)), 2 descendants died"; return; }

	# anything but GET /metrics is refused, and the agent carries on
	http_req "$port" $'BLAH\r\n\r\n' && [[ $HTTP_STATUS == 400 ]] || { fail "garbage request: status '${HTTP_STATUS:-none}'"; return; }
	http_req "$port" $'GET /nope HTTP/1.0\r\n\r\n' && [[ $HTTP_STATUS == 404 ]] || { fail "GET /nope: status '${HTTP_STATUS:-none}'"; return; }
	http_req "$port" $'POST /metrics HTTP/1.0\r\n\r\n' && [[ $HTTP_STATUS == 405 ]] || { fail "POST /metrics: status '${HTTP_STATUS:-none}'"; return; }
	http_req "$port" "GET /metrics HTTP/1.0"$'\r\nX: '"$(printf '%3000s' '')"$'\r\n\r\n' && [[ -z $HTTP_STATUS || $HTTP_STATUS == 400 ]] ||
		{ fail "an oversized request: status '${HTTP_STATUS:-none}'"; return; }
	# idle connections hold no one up; past the limit one is closed at once
	for ((i = 0; i < 8; i++)); do
		{ exec {f}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || { fail "cannot open idle connection $i"; return; }
		idle+=("$f")
	done
	http_req "$port" $'GET /metrics HTTP/1.0\r\n\r\n'
	[[ -z $HTTP_STATUS ]] || { fail "a 9th connection was served while 8 were open (limit 8)"; return; }
	for ((i = 1; i < 8; i++)); do # keep the first: it is read below
		f=${idle[i]}
		exec {f}>&-
	done
	f=${idle[0]}
	# the agent closes an idle connection after its 5 s deadline: EOF, not our 15 s bound
	local line
	IFS= read -r -t 15 -u "$f" line
	(($? < 128)) || { exec {f}>&-; fail "an idle connection stayed open 15 s (deadline 5 s)"; return; }
	exec {f}>&-
	scrape "$port" || return
	((M[bpfguard_metrics_errors_total] >= e0 + 5)) || { fail "bpfguard_metrics_errors_total grew by $((M[bpfguard_metrics_errors_total] - e0)), expected >= 5"; return; }
	agent_ok || fail "the agent is not answering after the bad requests"
}
