// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* stats.c: see stats.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "util.h"

void samples_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = realloc(s->v, sizeof(double) * (size_t)s->cap);
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n++] = x;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double pct(double *v, int n, double q)
{
	int i;

	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	i = (int)ceil(q * n) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

double median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double *copy_of(const double *v, int n)
{
	double *c = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));

	if (c && n > 0)
		memcpy(c, v, sizeof(double) * (size_t)n);
	return c;
}

double pct_of(const double *v, int n, double q)
{
	double *c = copy_of(v, n), r;

	if (!c)
		return NAN;
	r = pct(c, n, q);
	free(c);
	return r;
}

double median_of(const double *v, int n)
{
	double *c = copy_of(v, n), r;

	if (!c)
		return NAN;
	r = median(c, n);
	free(c);
	return r;
}
