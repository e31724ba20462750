/*
 * crypto.c - randomness (getrandom), sortable ids, opaque tokens, SHA-256
 * (nettle) and base64url. Tokens are secrets: never log them.
 */
#include "core.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <string.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

int rand_bytes(void *out, size_t n)
{
	unsigned char *p = out;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return COVE_EIO;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* 48-bit time as 10 base32 digits (50 bits, top two zero). */
static void id_put_time(char out[10], uint64_t ms)
{
	for (int i = 9; i >= 0; i--) {
		out[i] = crockford[ms & 31];
		ms >>= 5;
	}
}

void id_time_prefix(int64_t ms, char out[11])
{
	const int64_t max = ((int64_t)1 << 48) - 1;
	id_put_time(out, (uint64_t)(ms < 0 ? 0 : ms > max ? max : ms));
	out[10] = '\0';
}

static void id_format(char out[27], const unsigned char rnd[10])
{
	id_put_time(out, (uint64_t)time_now_ms());
	/* 80 random bits as 16 base32 digits. */
	uint64_t hi = 0, lo = 0;
	for (int i = 0; i < 5; i++)
		hi = (hi << 8) | rnd[i];
	for (int i = 5; i < 10; i++)
		lo = (lo << 8) | rnd[i];
	for (int i = 7; i >= 0; i--) {
		out[10 + i] = crockford[hi & 31];
		hi >>= 5;
		out[18 + i] = crockford[lo & 31];
		lo >>= 5;
	}
	out[26] = '\0';
}

void id_new(char out[27])
{
	unsigned char rnd[10];
	if (rand_bytes(rnd, sizeof(rnd)) != 0)
		memset(rnd, 0, sizeof(rnd));
	id_format(out, rnd);
}

/* splitmix64: a statistically good generator, not a secret one. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void id_new_weak(char out[27])
{
	static __thread uint64_t state, salt;
	static __thread int seeded;
	if (!seeded) {
		uint64_t seed[2] = {0, 0};
		if (rand_bytes(seed, sizeof(seed)) != 0)
			seed[0] = (uint64_t)time_now_ms() ^ (uint64_t)(uintptr_t)&state;
		state = seed[0];
		salt = seed[1];
		seeded = 1;
	}
	uint64_t a = splitmix64(&state);
	unsigned char rnd[10];
	memcpy(rnd, &a, 8);
	rnd[8] = (unsigned char)salt;
	rnd[9] = (unsigned char)(salt >> 8);
	id_format(out, rnd);
}

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *b64url_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	struct buf b = {0};
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		buf_addc(&b, b64url[(v >> 18) & 63]);
		buf_addc(&b, b64url[(v >> 12) & 63]);
		buf_addc(&b, b64url[(v >> 6) & 63]);
		buf_addc(&b, b64url[v & 63]);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		buf_addc(&b, b64url[(v >> 18) & 63]);
		buf_addc(&b, b64url[(v >> 12) & 63]);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		buf_addc(&b, b64url[(v >> 18) & 63]);
		buf_addc(&b, b64url[(v >> 12) & 63]);
		buf_addc(&b, b64url[(v >> 6) & 63]);
	}
	return buf_detach(&b);
}

char *token_new(const char *prefix, size_t n)
{
	unsigned char raw[64];
	if (n > sizeof(raw))
		n = sizeof(raw);
	if (rand_bytes(raw, n) != 0)
		return NULL;
	char *enc = b64url_encode(raw, n);
	char *t = xasprintf("%s%s", prefix ? prefix : "", enc);
	free(enc);
	return t;
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest_hex(&ctx, out);
}

int sha256_update_fd(struct sha256_ctx *ctx, int fd, int64_t *size)
{
	static __thread char buf[1 << 16];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : 0;
		sha256_update(ctx, (size_t)n, (const uint8_t *)buf);
		if (size)
			*size += n;
	}
}

void sha256_digest_hex(struct sha256_ctx *ctx, char out[65])
{
	uint8_t dig[SHA256_DIGEST_SIZE];
	sha256_digest(ctx, sizeof(dig), dig);
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
		out[2 * i] = hex[dig[i] >> 4];
		out[2 * i + 1] = hex[dig[i] & 15];
	}
	out[64] = '\0';
}
