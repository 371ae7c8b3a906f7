/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the libFuzzer targets of tests/fuzz share. */
#ifndef BG_FUZZ_H
#define BG_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A property that does not hold is a crash for libFuzzer: it keeps the input. */
#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                              \
			abort();                                                     \
		}                                                                    \
	} while (0)

/* The input as a C string, in a buffer of exactly len + 1 bytes so that
 * ASan sees a read past its end (it stops at the first NUL it holds). */
static inline char *fuzz_str(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);

	CHECK(s);
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

#endif /* BG_FUZZ_H */
