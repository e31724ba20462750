/*
 * sink.h - a stream of bytes written into a file while it is hashed, as
 * fast as a big upload or download can go (see sink.c). Used for uploads
 * (the blob store, resumable upload sessions) and by the CLI for downloads.
 */
#ifndef COVE_CORE_SINK_H
#define COVE_CORE_SINK_H

#include <nettle/sha2.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A sink writes into fd from offset base while the SHA-256 of the bytes
 * goes into *sha (NULL: not hashed). Big streams are hashed and written by
 * threads of their own. The fields are the sink's; the caller owns fd and
 * *sha, and reads *sha only after sink_end.
 */
struct pipeline;
struct blob_sink {
	int fd;
	struct sha256_ctx *sha;
	int64_t base;   /* file offset of the first byte */
	int64_t done;   /* bytes written, or handed to the pipeline */
	int64_t wb[2];  /* write-back started, and dropped, up to here */
	char *stage;    /* the stage being filled */
	size_t cap;     /* its size: small until a stream outgrows it */
	size_t staged;
	struct pipeline *pl; /* NULL until the first stage is full */
};

void sink_init(struct blob_sink *k, int fd, int64_t base, struct sha256_ctx *sha);
/* 0 or an errno (ENOSPC: the disk is full). */
int sink_write(struct blob_sink *k, const void *data, size_t len);
/* Bytes accepted so far. */
int64_t sink_bytes(const struct blob_sink *k);
/* Hash and write everything accepted (nothing more when cancel), wait for
 * it and free the sink's buffers; 0 or an errno. Not fsynced: the caller
 * decides. */
int sink_end(struct blob_sink *k, int cancel);

#endif
