/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * stats.h: percentiles and medians of double samples. pct() and median()
 * sort their array in place; pct_of() and median_of() work on a copy, for
 * a series that is read again after.
 */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

/* a growing array of samples */
struct samples {
	double *v;
	int n, cap;
};

/* append @x (dies "out of memory" if it cannot grow); free with free(s->v) */
void samples_add(struct samples *s, double x);

/* nearest-rank percentile @q of v[0..n); NAN when n <= 0 */
double pct(double *v, int n, double q);
double median(double *v, int n);
double pct_of(const double *v, int n, double q);
double median_of(const double *v, int n);

#endif /* BENCH_STATS_H */
