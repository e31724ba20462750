/*
 * fuzz.h - what every libFuzzer harness in tests/fuzz/ shares: turning the
 * fuzzer's bytes into a NUL-terminated string, and an invariant check that
 * aborts (libFuzzer then keeps the input as a crash) with a message.
 * The harnesses call the server's own functions, never copies of them.
 */
#ifndef COVE_FUZZ_H
#define COVE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a C string (the caller frees); bytes after a NUL are cut. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#define FUZZ_CHECK(cond, ...)                                                     \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "invariant broken at %s:%d: %s: ", __FILE__, \
				__LINE__, #cond);                                 \
			fprintf(stderr, __VA_ARGS__);                             \
			fputc('\n', stderr);                                      \
			abort();                                                  \
		}                                                                 \
	} while (0)

#endif
