// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* See btfscan.h. The layout is the kernel's uapi (Documentation/bpf/btf.rst). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btfscan.h"

#define BTF_MAGIC 0xeB9F

struct hdr {
	uint16_t magic;
	uint8_t version, flags;
	uint32_t hdr_len, type_off, type_len, str_off, str_len;
};

struct type {
	uint32_t name_off, info, size_or_type;
};

enum { K_PTR = 2, K_STRUCT = 4, K_TYPEDEF = 8, K_FUNC = 12, K_FUNC_PROTO = 13, K_MAX = 19 };

/* The bytes that follow struct type, per kind (vlen: info's low 16 bits). */
static long extra(uint32_t kind, uint32_t vlen)
{
	switch (kind) {
	case 1:	 /* INT */
	case 14: /* VAR */
	case 17: /* DECL_TAG */
		return 4;
	case 3: /* ARRAY */
		return 12;
	case 4:	 /* STRUCT */
	case 5:	 /* UNION */
	case 15: /* DATASEC */
	case 19: /* ENUM64 */
		return 12L * vlen;
	case 6:	 /* ENUM */
	case 13: /* FUNC_PROTO */
		return 8L * vlen;
	case 2: case 7: case 8: case 9: case 10: case 11: case 12: case 16: case 18:
		return 0; /* PTR FWD TYPEDEF VOLATILE CONST RESTRICT FUNC FLOAT TYPE_TAG */
	default:
		return -1;
	}
}

/* Is string @off of the section @s (@n bytes) exactly @want? */
static bool name_is(const char *s, uint32_t n, uint32_t off, const char *want)
{
	size_t w = strlen(want);

	return off < n && n - off > w && !memcmp(s + off, want, w + 1);
}

int btfscan(const void *data, size_t len, struct btf_facts *out)
{
	const unsigned char *b = data;
	struct hdr h;
	const unsigned char *types;
	const char *strs;
	uint32_t *at = NULL, n = 0, cap = 0, tp = 0;
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	out->exit_tp_params = -1;
	if (len < sizeof(h))
		return -1;
	memcpy(&h, b, sizeof(h));
	if (h.magic != BTF_MAGIC || h.version != 1 || h.hdr_len < sizeof(h) || h.hdr_len > len ||
	    h.type_off > len - h.hdr_len || h.type_len > len - h.hdr_len - h.type_off ||
	    h.str_off > len - h.hdr_len || h.str_len > len - h.hdr_len - h.str_off)
		return -1;
	types = b + h.hdr_len + h.type_off;
	strs = (const char *)b + h.hdr_len + h.str_off;

	/* one pass: where each type starts (ids count from 1), and the facts
	 * that are a name and a kind */
	while (off < h.type_len) {
		struct type t;
		uint32_t kind;
		long x;

		if (h.type_len - off < sizeof(t))
			goto bad;
		memcpy(&t, types + off, sizeof(t));
		kind = (t.info >> 24) & 0x1f;
		x = extra(kind, t.info & 0xffff);
		if (x < 0 || (size_t)x > h.type_len - off - sizeof(t))
			goto bad;
		if (n == cap) {
			uint32_t *p = realloc(at, (cap = cap ? 2 * cap : 4096) * sizeof(*at));

			if (!p)
				goto bad;
			at = p;
		}
		at[n++] = (uint32_t)off;
		if (kind == K_FUNC) {
			out->iter_task |= name_is(strs, h.str_len, t.name_off, "bpf_iter_task");
			out->task_from_pid |= name_is(strs, h.str_len, t.name_off, "bpf_task_from_pid");
			out->send_signal_task |=
				name_is(strs, h.str_len, t.name_off, "bpf_send_signal_task");
		} else if (kind == K_STRUCT) {
			out->iter_task |= name_is(strs, h.str_len, t.name_off, "bpf_iter__task");
		} else if (kind == K_TYPEDEF && !tp &&
			   name_is(strs, h.str_len, t.name_off, "btf_trace_sched_process_exit")) {
			tp = t.size_or_type;
		}
		off += sizeof(t) + (size_t)x;
	}
	/* the tracepoint's typedef names a pointer to a function prototype,
	 * whose parameters are the hook's context and the tracepoint's own */
	for (int step = 0; tp && step < 2; step++) {
		struct type t;

		if (tp > n)
			break;
		memcpy(&t, types + at[tp - 1], sizeof(t));
		if (((t.info >> 24) & 0x1f) != (step ? K_FUNC_PROTO : K_PTR))
			break;
		if (step)
			out->exit_tp_params = (int)(t.info & 0xffff);
		tp = t.size_or_type;
	}
	free(at);
	return 0;
bad:
	free(at);
	memset(out, 0, sizeof(*out));
	out->exit_tp_params = -1;
	return -1;
}
