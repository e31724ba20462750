/*
 * fuzz_range.c - Range headers: a file download's (fs_range_parse,
 * src/files/api.c), a registry blob GET's (v2_range_parse, v2.c) and a
 * chunked upload's Content-Range (v2_chunk_range_parse, push.c).
 * Input: 8 bytes of size (masked to be >= 0), then the header text.
 * Invariants: a range that parses lies within [0, size) with from <= to;
 * a chunk range has 0 <= a <= b.
 */
#include "files/internal.h"
#include "registry/v2.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	uint64_t raw;
	memcpy(&raw, data, 8);
	/* small sizes most of the time, any size sometimes */
	int64_t fsize = (raw & 1) ? (int64_t)(raw >> 1) : (int64_t)((raw >> 1) % 4096);
	char *h = fuzz_str(data + 8, size - 8);

	int64_t from = -7, to = -7;
	int r = fs_range_parse(h, fsize, &from, &to);
	FUZZ_CHECK(r >= -1 && r <= 1, "rc %d", r);
	if (r == 1)
		FUZZ_CHECK(0 <= from && from <= to && to < fsize,
			   "files: '%s' on %lld bytes gave %lld-%lld", h, (long long)fsize,
			   (long long)from, (long long)to);
	r = fs_range_parse(NULL, fsize, &from, &to);
	FUZZ_CHECK(r == 0, "no header is no range");

	from = to = -7;
	r = v2_range_parse(h, fsize, &from, &to);
	FUZZ_CHECK(r >= -1 && r <= 1, "rc %d", r);
	if (r == 1)
		FUZZ_CHECK(0 <= from && from <= to && to < fsize,
			   "registry: '%s' on %lld bytes gave %lld-%lld", h, (long long)fsize,
			   (long long)from, (long long)to);

	int64_t a = -7, b = -7;
	if (v2_chunk_range_parse(h, &a, &b) == 0)
		FUZZ_CHECK(0 <= a && a <= b, "chunk '%s' gave %lld-%lld", h, (long long)a,
			   (long long)b);
	free(h);
	return 0;
}
