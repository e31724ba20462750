/*
 * test_sink.c - the staged, pipelined file writer (src/core/sink.c) that
 * uploads and downloads go through: every size around the small first
 * buffer, the stage and the pipeline boundaries lands byte-exact with the
 * right SHA-256, in pieces of any size, from an aligned or unaligned
 * starting offset (a resumed upload), and past the point where written
 * ranges are dropped from the cache and where the flusher makes them
 * durable (also into a file that cannot be flushed, /dev/null); a failing
 * write is reported and ends the threads; a cancelled sink stops without
 * writing its tail. Runs in a fresh directory under /var/tmp (a disk) and
 * one under /dev/shm (tmpfs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/core.h"
#include "core/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1 << 20)

static char dir[128];

static int setup(void **state)
{
	const char *where = *state ? *state : "/var/tmp";
	snprintf(dir, sizeof(dir), "%s/cove-sink-XXXXXX", where);
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* deterministic bytes: position-dependent, so a misplaced stage shows */
static unsigned char byte_at(int64_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

static void hex(const struct sha256_ctx *c, char out[65])
{
	struct sha256_ctx copy = *c;
	uint8_t d[SHA256_DIGEST_SIZE];
	sha256_digest(&copy, sizeof(d), d);
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/*
 * Write size bytes from offset base (the file already holds base bytes)
 * in pieces of 'piece' bytes; check the file and, when hashing, the hash.
 */
static void roundtrip(int64_t base, int64_t size, size_t piece, int hash)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	unsigned char *all = malloc((size_t)(base + size) + 1);
	for (int64_t i = 0; i < base + size; i++)
		all[i] = byte_at(i);
	assert_int_equal(pwrite(fd, all, (size_t)base, 0), base);

	struct sha256_ctx sha, want;
	sha256_init(&sha);
	sha256_init(&want);
	sha256_update(&want, (size_t)size, all + base);
	struct blob_sink k;
	sink_init(&k, fd, base, hash ? &sha : NULL);
	for (int64_t off = 0; off < size;) {
		size_t n = (int64_t)piece < size - off ? piece : (size_t)(size - off);
		assert_int_equal(sink_write(&k, all + base + off, n), 0);
		off += (int64_t)n;
		assert_int_equal(sink_bytes(&k), off);
	}
	assert_int_equal(sink_end(&k, 0), 0);
	assert_int_equal(k.done, size);
	assert_null(k.stage);

	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, base + size);
	/* the fd is back to plain writes: an unaligned one works */
	assert_int_equal(pwrite(fd, "x", 1, base + size), 1);
	unsigned char *back = malloc((size_t)(base + size) + 1);
	assert_int_equal(pread(fd, back, (size_t)(base + size), 0), base + size);
	assert_memory_equal(back, all, (size_t)(base + size));
	if (hash) {
		char got[65], exp[65];
		hex(&sha, got);
		hex(&want, exp);
		assert_string_equal(got, exp);
	}
	free(back);
	free(all);
	close(fd);
}

static void test_sizes_around_stages(void **state)
{
	(void)state;
	const int64_t sizes[] = {0, 1, 4095, 65535, 65536, 65537, MiB - 1, MiB, MiB + 1, 2 * MiB,
				 4 * MiB - 7, 4 * MiB, 5 * MiB + 123, 9 * MiB};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		roundtrip(0, sizes[i], 32 * 1024, 1);
		roundtrip(0, sizes[i], 32 * 1024, 0);
	}
}

static void test_odd_pieces(void **state)
{
	(void)state;
	roundtrip(0, 7 * MiB + 5, 1, 1); /* byte by byte */
	roundtrip(0, 7 * MiB + 5, 12345, 1);
	roundtrip(0, 3 * MiB + 5, 65535, 1); /* the second piece outgrows the small first buffer */
	roundtrip(0, 200000, 70000, 1);     /* a first piece bigger than that buffer */
	roundtrip(0, 7 * MiB + 5, 3 * MiB + 1, 1); /* pieces larger than a stage */
}

static void test_resumed_offsets(void **state)
{
	(void)state;
	roundtrip(4096, 6 * MiB + 99, 65536, 1);
	roundtrip(12345, 6 * MiB + 99, 65536, 1);
	roundtrip(MiB, 3 * MiB, MiB, 0);
}

/* Far enough for write-back to be waited for and ranges dropped. */
static void test_big(void **state)
{
	(void)state;
	roundtrip(0, 72 * MiB + 5, 65536, 1);
	roundtrip(12345, 45 * MiB, MiB / 2, 0);
}

/* /dev/null takes writes but no fdatasync (EINVAL): the flusher gives up
 * flushing and the stream goes on. */
static void test_unflushable(void **state)
{
	(void)state;
	int fd = open("/dev/null", O_WRONLY);
	assert_true(fd >= 0);
	struct sha256_ctx sha;
	sha256_init(&sha);
	struct blob_sink k;
	sink_init(&k, fd, 0, &sha);
	char *buf = calloc(1, MiB);
	for (int i = 0; i < 200; i++)
		assert_int_equal(sink_write(&k, buf, MiB), 0);
	assert_int_equal(sink_end(&k, 0), 0);
	assert_int_equal(k.done, 200 * MiB);
	free(buf);
	close(fd);
}

/* A write that fails (the fd is read-only) is reported, in time. */
static void test_write_error(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof(path), "%s/ro", dir);
	int fd = open(path, O_RDONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	struct sha256_ctx sha;
	sha256_init(&sha);
	struct blob_sink k;
	sink_init(&k, fd, 0, &sha);
	char *buf = calloc(1, MiB);
	int err = 0;
	for (int i = 0; i < 64 && !err; i++)
		err = sink_write(&k, buf, MiB);
	if (!err) /* every stage was still in flight */
		err = sink_end(&k, 0);
	else
		assert_int_equal(sink_end(&k, 0), err);
	assert_int_equal(err, EBADF);
	free(buf);
	close(fd);
}

/* Cancelling drops what is in flight and never writes the tail. */
static void test_cancel(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof(path), "%s/c", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	struct blob_sink k;
	sink_init(&k, fd, 0, NULL);
	char *buf = calloc(1, 3 * MiB + 10);
	assert_int_equal(sink_write(&k, buf, 3 * MiB + 10), 0);
	sink_end(&k, 1);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_size <= 3 * MiB); /* whole stages at most, no tail */
	assert_int_equal(st.st_size % MiB, 0);
	free(buf);
	close(fd);
}

int main(void)
{
	static const char *shm = "/dev/shm";
	const struct CMUnitTest disk[] = {
		cmocka_unit_test_setup_teardown(test_sizes_around_stages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resumed_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unflushable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	};
	struct CMUnitTest mem[] = {
		cmocka_unit_test_prestate_setup_teardown(test_sizes_around_stages, setup,
							 teardown, (void *)shm),
		cmocka_unit_test_prestate_setup_teardown(test_resumed_offsets, setup,
							 teardown, (void *)shm),
	};
	int failed = cmocka_run_group_tests_name("sink on a disk", disk, NULL, NULL);
	failed += cmocka_run_group_tests_name("sink on tmpfs", mem, NULL, NULL);
	return failed;
}
