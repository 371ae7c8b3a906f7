// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * jsoncheck: check `bpfguard list --json` output for the kernel tests.
 *
 *   jsoncheck FILE [ROOT[:PID,PID...]]...
 *
 * FILE must hold exactly one JSON text (RFC 8259, validated in full by a
 * recursive-descent parser: objects, arrays, strings with every escape,
 * numbers, true/false/null, UTF-8, surrounding whitespace only) whose value
 * is an array. Then, for each spec: the array holds exactly one object whose
 * "pid" is ROOT, and that object has a "descendants" array that contains
 * every PID listed (it may hold more). Elements that are not objects are
 * ignored; with a duplicated key the last one counts (as most parsers do).
 *
 *   jsoncheck --lines FILE [--has|--one|--none COND...]...
 *
 * FILE must be JSON lines (`bpfguard events`): every line, newline-terminated,
 * one JSON object (validated in full as above). Each group of conditions
 * after --has must be met together by at least one line, after --one by
 * exactly one line, after --none by no line. A COND is KEY=VALUE (the member
 * KEY exists and equals VALUE: numerically for a number, byte for byte for a
 * decoded string, literally for true/false/null; VALUE * matches anything)
 * or KEY!=VALUE (KEY is missing or differs).
 *
 *   jsoncheck --get FILE PATH...
 *
 * FILE must hold one JSON text; prints the value at each PATH (members and
 * array indexes joined by dots: counters.kills, kill_latency_us.buckets.3.le)
 * on its own line: a number in full, a string decoded, true/false/null.
 *
 * Exit 0 if all holds; else one line of explanation on stdout and exit 1.
 * Usage errors: a line on stderr, exit 2.
 *
 * One file beyond this tree's rule of about 800 lines, for the reason
 * randtree.c gives (each helper is a single .c, built alone); its parts: the
 * parser, the list checks, the line conditions, --get.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256
#define MAX_INPUT (64u << 20)

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	double num;	  /* J_NUM */
	char *str;	  /* J_STR: decoded, UTF-8, may hold NULs */
	size_t slen;
	struct jv **item; /* J_ARR, J_OBJ: values */
	char **key;	  /* J_OBJ: decoded keys */
	size_t *klen;
	size_t n, cap;
};

struct parser {
	const unsigned char *s;
	size_t len, pos;
	int depth;
	char err[160];
	size_t err_pos;
};

static const char *text; /* the whole input, for messages */
static size_t text_len;

static void __attribute__((noreturn)) oom(void)
{
	printf("jsoncheck: out of memory\n");
	exit(1);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

static bool perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err[0])
		return false;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	p->err_pos = p->pos;
	return false;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		unsigned char c = p->s[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static struct jv *new_value(enum jtype t)
{
	struct jv *v = calloc(1, sizeof(*v));

	if (!v)
		oom();
	v->t = t;
	return v;
}

static void free_value(struct jv *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		free_value(v->item[i]);
		if (v->key)
			free(v->key[i]);
	}
	free(v->item);
	free(v->key);
	free(v->klen);
	free(v->str);
	free(v);
}

static void append(struct jv *v, char *key, size_t klen, struct jv *item)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->item = xrealloc(v->item, v->cap * sizeof(*v->item));
		if (v->t == J_OBJ) {
			v->key = xrealloc(v->key, v->cap * sizeof(*v->key));
			v->klen = xrealloc(v->klen, v->cap * sizeof(*v->klen));
		}
	}
	if (v->t == J_OBJ) {
		v->key[v->n] = key;
		v->klen[v->n] = klen;
	}
	v->item[v->n++] = item;
}

struct buf {
	char *b;
	size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->b = xrealloc(b->b, b->cap);
	}
	memcpy(b->b + b->n, d, n);
	b->n += n;
	b->b[b->n] = 0;
}

static void put_utf8(struct buf *b, unsigned long cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	put(b, u, n);
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* \uXXXX at p->pos (just after the backslash and 'u'). */
static bool hex4(struct parser *p, unsigned long *out)
{
	unsigned long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = p->pos < p->len ? hexval(p->s[p->pos]) : -1;

		if (h < 0)
			return perr(p, "bad \\u escape (4 hex digits needed)");
		v = v * 16 + (unsigned long)h;
		p->pos++;
	}
	*out = v;
	return true;
}

/* One UTF-8 sequence starting at p->pos (first byte >= 0x80), strictly:
 * no overlongs, no surrogates, nothing above U+10FFFF. */
static bool utf8_seq(struct parser *p, struct buf *b)
{
	const unsigned char *s = p->s + p->pos;
	size_t left = p->len - p->pos, n;
	unsigned long cp, min;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return perr(p, "invalid UTF-8 byte 0x%02x", s[0]);
	}
	if (left < n)
		return perr(p, "truncated UTF-8 sequence");
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return perr(p, "invalid UTF-8 sequence");
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return perr(p, "invalid UTF-8 sequence");
	if (b)
		put(b, s, n);
	p->pos += n;
	return true;
}

/* A string at p->pos (on the opening quote). */
static bool parse_string(struct parser *p, char **out, size_t *outlen)
{
	struct buf b = { 0 };

	p->pos++; /* '"' */
	put(&b, "", 0);
	for (;;) {
		unsigned char c;

		if (p->pos >= p->len) {
			free(b.b);
			return perr(p, "unterminated string");
		}
		c = p->s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			free(b.b);
			return perr(p, "unescaped control character 0x%02x in a string", c);
		}
		if (c >= 0x80) {
			if (!utf8_seq(p, &b)) {
				free(b.b);
				return false;
			}
			continue;
		}
		if (c != '\\') {
			put(&b, &c, 1);
			p->pos++;
			continue;
		}
		p->pos++;
		if (p->pos >= p->len) {
			free(b.b);
			return perr(p, "unterminated string");
		}
		c = p->s[p->pos++];
		switch (c) {
		case '"':
		case '\\':
		case '/':
			put(&b, &c, 1);
			break;
		case 'b':
			put(&b, "\b", 1);
			break;
		case 'f':
			put(&b, "\f", 1);
			break;
		case 'n':
			put(&b, "\n", 1);
			break;
		case 'r':
			put(&b, "\r", 1);
			break;
		case 't':
			put(&b, "\t", 1);
			break;
		case 'u': {
			unsigned long cp, lo;

			if (!hex4(p, &cp)) {
				free(b.b);
				return false;
			}
			/* A high surrogate followed by an escaped low one is one
			 * code point; a lone surrogate is legal JSON syntax
			 * (RFC 8259 section 8.2) and is kept as is. */
			if (cp >= 0xd800 && cp <= 0xdbff && p->pos + 1 < p->len &&
			    p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
				size_t save = p->pos;

				p->pos += 2;
				if (!hex4(p, &lo)) {
					free(b.b);
					return false;
				}
				if (lo >= 0xdc00 && lo <= 0xdfff)
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				else
					p->pos = save;
			}
			put_utf8(&b, cp);
			break;
		}
		default:
			p->pos--;
			free(b.b);
			if (c >= 0x20 && c < 0x7f)
				return perr(p, "invalid escape \\%c", c);
			return perr(p, "invalid escape (byte 0x%02x)", c);
		}
	}
	*out = b.b;
	*outlen = b.n;
	return true;
}

static bool is_digit(struct parser *p)
{
	return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool parse_number(struct parser *p, double *out)
{
	size_t start = p->pos;
	char tmp[128];
	char *end;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (!is_digit(p))
		return perr(p, "invalid number (a digit must follow '-')");
	if (p->s[p->pos] == '0') {
		p->pos++;
		if (is_digit(p))
			return perr(p, "invalid number (leading zero)");
	} else {
		while (is_digit(p))
			p->pos++;
	}
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if (!is_digit(p))
			return perr(p, "invalid number (a digit must follow '.')");
		while (is_digit(p))
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (!is_digit(p))
			return perr(p, "invalid number (a digit must follow the exponent)");
		while (is_digit(p))
			p->pos++;
	}
	if (p->pos - start >= sizeof(tmp)) {
		*out = 0; /* syntactically fine; too long to be a pid anyway */
		return true;
	}
	memcpy(tmp, p->s + start, p->pos - start);
	tmp[p->pos - start] = 0;
	*out = strtod(tmp, &end);
	return true;
}

static bool literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return perr(p, "invalid literal (expected %s)", word);
	p->pos += n;
	return true;
}

static struct jv *parse_value(struct parser *p);

static struct jv *parse_array(struct parser *p)
{
	struct jv *v = new_value(J_ARR), *item;

	p->pos++; /* '[' */
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
		return v;
	}
	for (;;) {
		item = parse_value(p);
		if (!item)
			goto bad;
		append(v, NULL, 0, item);
		skip_ws(p);
		if (p->pos >= p->len) {
			perr(p, "unterminated array");
			goto bad;
		}
		if (p->s[p->pos] == ']') {
			p->pos++;
			return v;
		}
		if (p->s[p->pos] != ',') {
			perr(p, "expected ',' or ']' in an array");
			goto bad;
		}
		p->pos++;
	}
bad:
	free_value(v);
	return NULL;
}

static struct jv *parse_object(struct parser *p)
{
	struct jv *v = new_value(J_OBJ), *item;
	char *key;
	size_t klen;

	p->pos++; /* '{' */
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
		return v;
	}
	for (;;) {
		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != '"') {
			perr(p, p->pos >= p->len ? "unterminated object" : "expected a string key in an object");
			goto bad;
		}
		if (!parse_string(p, &key, &klen))
			goto bad;
		skip_ws(p);
		if (p->pos >= p->len || p->s[p->pos] != ':') {
			free(key);
			perr(p, "expected ':' after an object key");
			goto bad;
		}
		p->pos++;
		item = parse_value(p);
		if (!item) {
			free(key);
			goto bad;
		}
		append(v, key, klen, item);
		skip_ws(p);
		if (p->pos >= p->len) {
			perr(p, "unterminated object");
			goto bad;
		}
		if (p->s[p->pos] == '}') {
			p->pos++;
			return v;
		}
		if (p->s[p->pos] != ',') {
			perr(p, "expected ',' or '}' in an object");
			goto bad;
		}
		p->pos++;
	}
bad:
	free_value(v);
	return NULL;
}

static struct jv *parse_value(struct parser *p)
{
	struct jv *v = NULL;
	unsigned char c;

	skip_ws(p);
	if (p->pos >= p->len) {
		perr(p, "unexpected end of input (a value was expected)");
		return NULL;
	}
	if (++p->depth > MAX_DEPTH) {
		perr(p, "nesting deeper than %d", MAX_DEPTH);
		return NULL;
	}
	c = p->s[p->pos];
	switch (c) {
	case '{':
		v = parse_object(p);
		break;
	case '[':
		v = parse_array(p);
		break;
	case '"':
		v = new_value(J_STR);
		if (!parse_string(p, &v->str, &v->slen)) {
			free_value(v);
			v = NULL;
		}
		break;
	case 't':
		v = literal(p, "true") ? new_value(J_TRUE) : NULL;
		break;
	case 'f':
		v = literal(p, "false") ? new_value(J_FALSE) : NULL;
		break;
	case 'n':
		v = literal(p, "null") ? new_value(J_NULL) : NULL;
		break;
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			v = new_value(J_NUM);
			if (!parse_number(p, &v->num)) {
				free_value(v);
				v = NULL;
			}
		} else if (c >= 0x20 && c < 0x7f) {
			perr(p, "unexpected character '%c' (a value was expected)", c);
		} else {
			perr(p, "unexpected byte 0x%02x (a value was expected)", c);
		}
	}
	p->depth--;
	return v;
}

/* The first @max bytes of @s as one printable line. */
static const char *excerpt(const char *s, size_t len, size_t max)
{
	static char out[1024];
	size_t o = 0;

	if (max > 250)
		max = 250;
	for (size_t i = 0; i < len && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
		}
	}
	if (len > max)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "...");
	out[o] = 0;
	return out;
}

static struct jv *member(const struct jv *o, const char *name)
{
	struct jv *found = NULL;
	size_t n = strlen(name);

	for (size_t i = 0; i < o->n; i++)
		if (o->klen[i] == n && memcmp(o->key[i], name, n) == 0)
			found = o->item[i]; /* the last duplicate wins */
	return found;
}

static bool num_is(const struct jv *v, long long want)
{
	return v && v->t == J_NUM && v->num == (double)want;
}

static void __attribute__((noreturn)) usage(const char *why)
{
	fprintf(stderr, "jsoncheck: %s\nusage: jsoncheck FILE [ROOT[:PID,PID...]]...\n"
		"       jsoncheck --lines FILE [--has|--one|--none KEY=VALUE|KEY!=VALUE...]...\n"
		"       jsoncheck --get FILE PATH...\n", why);
	exit(2);
}

/* A decimal pid: digits only, at most 10 of them. */
static bool parse_pid(const char *s, size_t n, long long *out)
{
	long long v = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		return NULL;
	for (;;) {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 65536;
			if (cap > MAX_INPUT + 65536u) {
				fclose(f);
				free(b);
				errno = EFBIG;
				return NULL;
			}
			b = xrealloc(b, cap);
		}
		r = fread(b + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		fclose(f);
		free(b);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	b[n] = 0;
	*len = n;
	return b;
}

/* Check one spec against the top-level array; prints why on failure. */
static bool check_spec(const struct jv *top, const char *spec)
{
	const char *colon = strchr(spec, ':');
	size_t rootlen = colon ? (size_t)(colon - spec) : strlen(spec);
	long long root, pid;
	const struct jv *obj = NULL, *desc;
	size_t found = 0, missing = 0;
	char miss[256] = "", has[512] = "";
	size_t mo = 0, ho = 0;

	if (!parse_pid(spec, rootlen, &root)) {
		fprintf(stderr, "jsoncheck: bad spec '%s'\n", spec);
		exit(2);
	}
	for (size_t i = 0; i < top->n; i++) {
		const struct jv *o = top->item[i];

		if (o->t == J_OBJ && num_is(member(o, "pid"), root)) {
			obj = o;
			found++;
		}
	}
	if (found != 1) {
		printf("expected one object with \"pid\": %lld, found %zu in %s\n", root, found,
		       excerpt(text, text_len, 300));
		return false;
	}
	desc = member(obj, "descendants");
	if (!desc || desc->t != J_ARR) {
		printf("the object for %lld has no \"descendants\" array (in %s)\n", root,
		       excerpt(text, text_len, 300));
		return false;
	}
	for (const char *s = colon ? colon + 1 : ""; *s;) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		bool in = false;

		if (n) {
			if (!parse_pid(s, n, &pid)) {
				fprintf(stderr, "jsoncheck: bad pid list in spec '%s'\n", spec);
				exit(2);
			}
			for (size_t i = 0; i < desc->n && !in; i++)
				in = num_is(desc->item[i], pid);
			if (!in) {
				if (missing < 10 && mo < sizeof(miss) - 16)
					mo += (size_t)snprintf(miss + mo, sizeof(miss) - mo, "%s%lld",
							       missing ? ", " : "", pid);
				missing++;
			}
		}
		s += n;
		if (*s == ',')
			s++;
	}
	if (!missing)
		return true;
	for (size_t i = 0, k = 0; i < desc->n && k < 20; i++) {
		const struct jv *d = desc->item[i];

		if (d->t != J_NUM || ho >= sizeof(has) - 32)
			continue;
		ho += (size_t)snprintf(has + ho, sizeof(has) - ho, "%s%.0f", k ? ", " : "", d->num);
		k++;
	}
	printf("descendants of %lld miss %zu pid(s): [%s%s] (has %zu: [%s%s])\n", root, missing,
	       miss, missing > 10 ? ", ..." : "", desc->n, has, desc->n > 20 ? ", ..." : "");
	return false;
}

/* ---- --lines ------------------------------------------------------------ */

struct cond {
	const char *key;
	size_t klen;
	const char *val;
	bool neg;
};

static void parse_cond(const char *arg, struct cond *c)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg || (eq == arg + 1 && arg[0] == '!'))
		usage("a condition is KEY=VALUE or KEY!=VALUE");
	c->neg = eq[-1] == '!';
	c->key = arg;
	c->klen = (size_t)(eq - arg) - (c->neg ? 1 : 0);
	c->val = eq + 1;
}

static bool value_is(const struct jv *v, const char *want)
{
	char *end;
	double d;

	if (!v)
		return false;
	if (!strcmp(want, "*"))
		return true;
	switch (v->t) {
	case J_NUM:
		d = strtod(want, &end);
		return *want && !*end && d == v->num;
	case J_STR:
		return v->slen == strlen(want) && !memcmp(v->str, want, v->slen);
	case J_TRUE:
		return !strcmp(want, "true");
	case J_FALSE:
		return !strcmp(want, "false");
	case J_NULL:
		return !strcmp(want, "null");
	default:
		return false;
	}
}

static bool cond_holds(const struct jv *o, const struct cond *c)
{
	const struct jv *found = NULL;

	for (size_t i = 0; i < o->n; i++)
		if (o->klen[i] == c->klen && !memcmp(o->key[i], c->key, c->klen))
			found = o->item[i];
	return value_is(found, c->val) != c->neg;
}

struct line {
	struct jv *obj;
	const char *text;
	size_t len;
};

static const char *group_text(char **args, int n)
{
	static char out[512];
	size_t o = 0;

	out[0] = 0;
	for (int i = 0; i < n && o < sizeof(out) - 1; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? " " : "", args[i]);
	return out;
}

/* One group: how many lines meet every condition; @first: the first one. */
static size_t count_matches(const struct line *l, size_t nl, char **args, int n, size_t *first)
{
	struct cond c;
	size_t hits = 0;

	for (size_t i = 0; i < nl; i++) {
		bool all = true;

		for (int k = 0; k < n && all; k++) {
			parse_cond(args[k], &c);
			all = cond_holds(l[i].obj, &c);
		}
		if (all && !hits++)
			*first = i;
	}
	return hits;
}

static int lines_main(int argc, char **argv)
{
	struct line *l = NULL;
	size_t len = 0, nl = 0, cap = 0;
	char *buf;
	int ok = 1;

	if (argc < 3)
		usage("--lines needs FILE");
	buf = read_file(argv[2], &len);
	if (!buf) {
		printf("cannot read %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	text = buf;
	text_len = len;
	for (size_t pos = 0; ok && pos < len;) {
		const char *nlp = memchr(buf + pos, '\n', len - pos);
		struct parser p = { 0 };
		size_t end = nlp ? (size_t)(nlp - buf) : len;
		struct jv *v;

		if (!nlp) {
			printf("line %zu is not terminated: %s\n", nl + 1, excerpt(buf + pos, len - pos, 200));
			ok = 0;
			break;
		}
		p.s = (const unsigned char *)buf + pos;
		p.len = end - pos;
		v = parse_value(&p);
		if (v) {
			skip_ws(&p);
			if (p.pos < p.len || v->t != J_OBJ) {
				perr(&p, v->t != J_OBJ ? "not an object" : "trailing data after the value");
				free_value(v);
				v = NULL;
			}
		}
		if (!v) {
			printf("line %zu is not a JSON object (%s at byte %zu): %s\n", nl + 1, p.err,
			       p.err_pos, excerpt(buf + pos, end - pos, 200));
			ok = 0;
			break;
		}
		if (nl == cap) {
			cap = cap ? cap * 2 : 64;
			l = xrealloc(l, cap * sizeof(*l));
		}
		l[nl++] = (struct line){ v, buf + pos, end - pos };
		pos = end + 1;
	}
	for (int i = 3; ok && i < argc;) {
		const char *kind = argv[i];
		int j = i + 1;
		size_t hits, first = 0;

		if (strcmp(kind, "--has") && strcmp(kind, "--one") && strcmp(kind, "--none"))
			usage("expected --has, --one or --none");
		while (j < argc && strncmp(argv[j], "--", 2))
			j++;
		if (j == i + 1)
			usage("a group needs at least one condition");
		hits = count_matches(l, nl, argv + i + 1, j - i - 1, &first);
		if (!strcmp(kind, "--has") && !hits) {
			printf("no line of %zu has %s\n", nl, group_text(argv + i + 1, j - i - 1));
			ok = 0;
		} else if (!strcmp(kind, "--one") && hits != 1) {
			printf("%zu line(s) of %zu have %s, expected one%s%s\n", hits, nl,
			       group_text(argv + i + 1, j - i - 1), hits ? "; the first: " : "",
			       hits ? excerpt(l[first].text, l[first].len, 200) : "");
			ok = 0;
		} else if (!strcmp(kind, "--none") && hits) {
			printf("line %zu has %s: %s\n", first + 1, group_text(argv + i + 1, j - i - 1),
			       excerpt(l[first].text, l[first].len, 200));
			ok = 0;
		}
		i = j;
	}
	for (size_t i = 0; i < nl; i++)
		free_value(l[i].obj);
	free(l);
	free(buf);
	return ok ? 0 : 1;
}

/* ---- --get -------------------------------------------------------------- */

static const struct jv *walk(const struct jv *v, const char *path)
{
	while (v && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		const struct jv *next = NULL;
		long long idx;

		if (v->t == J_OBJ) {
			for (size_t i = 0; i < v->n; i++)
				if (v->klen[i] == n && !memcmp(v->key[i], path, n))
					next = v->item[i];
		} else if (v->t == J_ARR && parse_pid(path, n, &idx) && (size_t)idx < v->n) {
			next = v->item[idx];
		}
		v = next;
		path += n + (dot ? 1 : 0);
	}
	return v;
}

static int get_main(int argc, char **argv)
{
	struct parser p = { 0 };
	struct jv *top;
	size_t len = 0;
	char *buf;
	int ok = 1;

	if (argc < 4)
		usage("--get needs FILE and at least one PATH");
	buf = read_file(argv[2], &len);
	if (!buf) {
		printf("cannot read %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	p.s = (const unsigned char *)buf;
	p.len = len;
	top = parse_value(&p);
	if (top) {
		skip_ws(&p);
		if (p.pos < p.len) {
			perr(&p, "trailing data after the JSON value");
			free_value(top);
			top = NULL;
		}
	}
	if (!top) {
		printf("not JSON (%s at byte %zu): %s\n", p.err, p.err_pos,
		       len ? excerpt(buf, len, 200) : "(empty)");
		free(buf);
		return 1;
	}
	for (int i = 3; ok && i < argc; i++) {
		const struct jv *v = walk(top, argv[i]);

		if (!v || v->t == J_OBJ || v->t == J_ARR) {
			printf("%s: %s in %s\n", argv[i], v ? "not a scalar" : "missing",
			       excerpt(buf, len, 200));
			ok = 0;
		} else if (v->t == J_NUM && v->num == (double)(long long)v->num) {
			printf("%lld\n", (long long)v->num);
		} else if (v->t == J_NUM) {
			printf("%.17g\n", v->num);
		} else if (v->t == J_STR) {
			fwrite(v->str, 1, v->slen, stdout);
			putchar('\n');
		} else {
			puts(v->t == J_TRUE ? "true" : v->t == J_FALSE ? "false" : "null");
		}
	}
	free_value(top);
	free(buf);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct parser p = { 0 };
	struct jv *top;
	size_t len = 0;
	char *buf;
	int ok = 1;

	if (argc >= 2 && !strcmp(argv[1], "--lines"))
		return lines_main(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "--get"))
		return get_main(argc, argv);
	if (argc < 2)
		usage("missing FILE");
	buf = read_file(argv[1], &len);
	if (!buf) {
		printf("cannot read %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	text = buf;
	text_len = len;
	p.s = (const unsigned char *)buf;
	p.len = len;
	top = parse_value(&p);
	if (top) {
		skip_ws(&p);
		if (p.pos < p.len) {
			perr(&p, "trailing data after the JSON value");
			free_value(top);
			top = NULL;
		}
	}
	if (!top) {
		printf("list --json output is not JSON (%s at byte %zu): %s\n", p.err, p.err_pos,
		       len ? excerpt(buf, len, 200) : "(empty)");
		free(buf);
		return 1;
	}
	if (top->t != J_ARR) {
		printf("list --json output is not an array: %s\n", excerpt(buf, len, 200));
		ok = 0;
	}
	for (int i = 2; ok && i < argc; i++)
		ok = check_spec(top, argv[i]);
	free_value(top);
	free(buf);
	return ok ? 0 : 1;
}
