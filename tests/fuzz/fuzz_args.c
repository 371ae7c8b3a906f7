// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_args: the parsers of command-line values in user/parse.c, as
 * `bpfguard tag PID --signal SIG --grace DURATION` uses them. Every input
 * string goes through parse_pid, parse_signal and parse_duration; each
 * answer is checked against a plain reference (the decimal value, computed
 * wide enough never to wrap), outputs stay untouched on error, and what was
 * accepted is formatted back and must parse to the same value.
 */
#include <errno.h>

#include "bpfguard.h"
#include "fuzz.h"
#include "parse.h"

typedef unsigned __int128 u128;

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* The value of the leading digits of @s, saturated at @cap + 1; *end is
 * what follows them. */
static u128 dec_value(const char *s, const char **end, u128 cap)
{
	u128 v = 0;

	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > cap)
			v = cap + 1;
	}
	*end = s;
	return v;
}

static void check_pid(const char *s)
{
	pid_t pid = -12345, again = 0;
	const char *end;
	u128 v = dec_value(s, &end, BG_PID_MAX_LIMIT);
	char buf[16];
	int r = parse_pid(s, &pid);

	if (!all_digits(s)) {
		CHECK(r == -EINVAL);
		CHECK(pid == -12345);
		return;
	}
	if (v == 0 || v > BG_PID_MAX_LIMIT) {
		CHECK(r == -ERANGE);
		CHECK(pid == -12345);
		return;
	}
	CHECK(r == 0);
	CHECK(pid == (pid_t)v && pid >= 1);
	snprintf(buf, sizeof(buf), "%d", (int)pid);
	CHECK(parse_pid(buf, &again) == 0 && again == pid);
}

static void check_signal(const char *s)
{
	int sig = -12345, again = 0;
	const char *end, *name;
	char num[16], prefixed[32] = "";
	int r = parse_signal(s, &sig);

	if (all_digits(s)) {
		u128 v = dec_value(s, &end, 1000);

		if (v >= 1 && v <= 64) {
			CHECK(r == 0 && sig == (int)v);
		} else {
			CHECK(r == -EINVAL && sig == -12345);
			return;
		}
	} else if (r) {
		CHECK(r == -EINVAL && sig == -12345);
		return;
	}
	CHECK(sig >= 1 && sig <= 64);
	/* The name given back parses to the same signal, with "SIG" too;
	 * a name that was accepted is that name. */
	name = signal_name(sig, num, sizeof(num));
	CHECK(parse_signal(name, &again) == 0 && again == sig);
	if (name != num) {
		snprintf(prefixed, sizeof(prefixed), "SIG%s", name);
		again = 0;
		CHECK(parse_signal(prefixed, &again) == 0 && again == sig);
	}
	if (!all_digits(s))
		CHECK(!strcmp(s, name) || !strcmp(s, prefixed));
}

static const struct {
	const char *unit;
	uint64_t ns;
} units[] = {
	{ "ms", 1000000ull },
	{ "s", 1000000000ull },
	{ "m", 60000000000ull },
	{ "h", 3600000000000ull },
};

/* What parse_duration(s, max) must answer: 0 with *ns, -EINVAL or -ERANGE. */
static int ref_duration(const char *s, uint64_t max, uint64_t *ns)
{
	const char *end;
	u128 v, total;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = dec_value(s, &end, (u128)UINT64_MAX);
	if (!*end) {
		*ns = 0;
		return v ? -EINVAL : 0;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		total = v * units[i].ns;
		if (total > max)
			return -ERANGE;
		*ns = (uint64_t)total;
		return 0;
	}
	return -EINVAL;
}

static void check_duration(const char *s, uint64_t max)
{
	uint64_t ns = 12345, want = 0, again = 0;
	int r = parse_duration(s, max, &ns);
	int ref = ref_duration(s, max, &want);
	char buf[48];

	CHECK(r == ref);
	if (r) {
		CHECK(ns == 12345);
		return;
	}
	CHECK(ns == want && ns <= max);
	/* Every unit is a whole number of ms: so is every duration. */
	CHECK(ns % 1000000ull == 0);
	snprintf(buf, sizeof(buf), "%llums", (unsigned long long)(ns / 1000000ull));
	CHECK(parse_duration(buf, max, &again) == 0 && again == ns);
	/* and in the largest unit that divides it */
	for (size_t i = sizeof(units) / sizeof(units[0]); ns && i-- > 0;) {
		if (ns % units[i].ns)
			continue;
		snprintf(buf, sizeof(buf), "%llu%s", (unsigned long long)(ns / units[i].ns),
			 units[i].unit);
		again = 0;
		CHECK(parse_duration(buf, max, &again) == 0 && again == ns);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *s = fuzz_str(data, len);
	char small[12];
	int32_t x;

	check_pid(s);
	check_signal(s);
	/* the CLI's bound, the widest one, and one below every unit but 0 */
	check_duration(s, BG_GRACE_MAX_NS);
	check_duration(s, UINT64_MAX);
	check_duration(s, 999999);
	/* any int has a name that fits the smallest buffer an int needs */
	if (len >= sizeof(x)) {
		memcpy(&x, data, sizeof(x));
		CHECK(strlen(signal_name(x, small, sizeof(small))) < sizeof(small));
	}
	free(s);
	return 0;
}
