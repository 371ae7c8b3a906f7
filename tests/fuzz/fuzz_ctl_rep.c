// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_ctl_rep: the other way on the control socket: a reply as the CLI
 * reads it (ctl_call in user/control.c), and a `list` payload as it then
 * decodes and prints it (list_view_parse, render_json, render_tree in
 * user/render.c). An agent of another version, or a broken one, must not
 * make the CLI crash, hang or print invalid JSON.
 *
 * Input: the bytes the agent sends back, through a real Unix stream
 * socketpair whose agent end is then shut.
 *
 * Checked: ctl_call answers 0 exactly for a whole reply with the right magic
 * and a payload within BG_CTL_MAX_PAYLOAD that was all sent, -EPROTO for a
 * bad magic or length, -EPIPE for a short stream; the request went out
 * whole; the message is NUL-terminated; the payload is what was sent, and
 * absent on error. list_view_parse accepts exactly the lengths that the
 * counts give, and NUL-terminates every comm; render_json prints one valid
 * JSON array (checked by a small parser here); render_tree draws each
 * process once at most in each tag's tree, and no control byte but '\n'.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "fuzz.h"
#include "render.h"

/* ---- a strict JSON checker, for what render_json writes ------------------ */

static const char *json_value(const char *p, int depth);

static const char *json_string_end(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return NULL; /* raw controls are invalid; non-ASCII is escaped */
		if (*p != '\\')
			continue;
		p++;
		if (*p == 'u') {
			for (int i = 1; i <= 4; i++)
				if (!p[i] || !strchr("0123456789abcdefABCDEF", p[i]))
					return NULL;
			p += 4;
		} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
			return NULL;
		}
	}
	return p + 1;
}

static const char *json_list(const char *p, int depth, char close, bool members)
{
	p++;
	if (*p == close)
		return p + 1;
	for (;;) {
		if (members) {
			p = json_string_end(p);
			if (!p || *p++ != ':')
				return NULL;
		}
		p = json_value(p, depth + 1);
		if (!p)
			return NULL;
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *json_value(const char *p, int depth)
{
	if (depth > 64)
		return NULL;
	if (*p == '[')
		return json_list(p, depth, ']', false);
	if (*p == '{')
		return json_list(p, depth, '}', true);
	if (*p == '"')
		return json_string_end(p);
	if (!strncmp(p, "true", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	/* and, as numbers, only unsigned integers */
	if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
		return NULL;
	while (*p >= '0' && *p <= '9')
		p++;
	return p;
}

static void check_list(void *payload, uint32_t len)
{
	struct list_view v;
	uint32_t hdr[2] = { 0, 0 };
	char *out = NULL;
	size_t out_len = 0;
	const char *end;
	size_t lines;
	FILE *f;
	int r;

	if (len >= sizeof(hdr))
		memcpy(hdr, payload, sizeof(hdr));
	r = list_view_parse(payload, len, &v);
	CHECK(r == 0 || r == -EPROTO);
	CHECK((r == 0) == (len >= sizeof(hdr) &&
			   (uint64_t)len == sizeof(hdr) + (uint64_t)hdr[0] * sizeof(struct bg_list_tag) +
						    (uint64_t)hdr[1] * sizeof(struct bg_list_proc)));
	if (r)
		return;
	CHECK(v.ntags == hdr[0] && v.nprocs == hdr[1]);
	for (size_t i = 0; i < v.nprocs; i++)
		CHECK(memchr(v.procs[i].comm, '\0', sizeof(v.procs[i].comm)));

	f = open_memstream(&out, &out_len);
	CHECK(f);
	CHECK(render_json(f, &v) == 0);
	CHECK(fflush(f) == 0);
	CHECK(strlen(out) == out_len); /* no NUL inside */
	CHECK(out[0] == '[');
	end = json_value(out, 0);
	CHECK(end && !strcmp(end, "\n"));
	fclose(f);
	free(out);

	/* each tag's tree: its root's line, and each process once at most */
	f = open_memstream(&out, &out_len);
	CHECK(f);
	CHECK(render_tree(f, &v) == 0);
	CHECK(fflush(f) == 0);
	lines = 0;
	for (size_t i = 0; i < out_len; i++) {
		/* comm cannot draw lines nor reach the terminal */
		CHECK(out[i] == '\n' || ((unsigned char)out[i] >= 0x20 && out[i] != 0x7f));
		lines += out[i] == '\n';
	}
	CHECK(lines <= (v.ntags ? v.ntags * (1 + v.nprocs) : 1));
	fclose(f);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct bg_req req = { .magic = BG_CTL_MAGIC, .version = BG_CTL_VERSION,
			      .op = BG_OP_LIST }, got;
	struct bg_rep rep, sent;
	void *payload = (void *)&payload; /* must become NULL or a buffer */
	int sv[2], r, expect;

	if (len > 1 << 16) /* under the socket's buffer: all of it is queued */
		len = 1 << 16;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	if (len)
		CHECK(send(sv[1], data, len, MSG_NOSIGNAL) == (ssize_t)len);
	CHECK(shutdown(sv[1], SHUT_WR) == 0);

	r = ctl_call(sv[0], &req, -1, &rep, &payload);

	/* the request went out whole, and nothing else */
	CHECK(recv(sv[1], &got, sizeof(got), MSG_DONTWAIT) == (ssize_t)sizeof(got));
	CHECK(!memcmp(&got, &req, sizeof(req)));
	close(sv[0]);
	close(sv[1]);

	memset(&sent, 0, sizeof(sent));
	if (len >= sizeof(sent))
		memcpy(&sent, data, sizeof(sent));
	if (len < sizeof(sent))
		expect = -EPIPE;
	else if (sent.magic != BG_CTL_MAGIC || sent.len > BG_CTL_MAX_PAYLOAD)
		expect = -EPROTO;
	else if (len - sizeof(sent) < sent.len)
		expect = -EPIPE;
	else
		expect = 0;
	CHECK(r == expect);
	if (r) {
		CHECK(payload == NULL);
		return 0;
	}
	CHECK(rep.magic == BG_CTL_MAGIC && rep.status == sent.status && rep.len == sent.len);
	CHECK(memchr(rep.msg, '\0', sizeof(rep.msg)));
	CHECK(!memcmp(rep.msg, sent.msg, strlen(rep.msg)));
	if (!rep.len) {
		CHECK(payload == NULL);
		return 0;
	}
	CHECK(payload && !memcmp(payload, data + sizeof(sent), rep.len));
	check_list(payload, rep.len);
	free(payload);
	return 0;
}
