/*
 * bulk.c - big request bodies read straight from the socket.
 *
 * libmicrohttpd reads a body through its connection's memory pool, at
 * most 32 KiB at a time (a bigger pool is zeroed on every request, which
 * costs every small request more than it saves the big ones). A 1 GiB
 * upload then takes some 39,000 reads, wake-ups and window updates: on
 * the virtual machines we measure on, more CPU than hashing it.
 *
 * So a streamed body (a route with stream_ops) of at least BULK_MIN bytes
 * with a Content-Length is taken off the event loop: the connection is
 * suspended and a thread of its own reads the body from the socket, 1 MiB
 * at a time, hands it to the route's data and end, and answers.
 *
 * That is only right while libmicrohttpd holds none of the body, that is
 * when it has read nothing past this request's header. The kernel tells:
 * the bytes received on the socket less those still queued are the bytes
 * libmicrohttpd read, and they must equal the header's size. A client
 * that sent its header and the body's first bytes in one write, or a
 * request after others on a kept-alive connection, fails the test and
 * its body goes the ordinary way. A client that sends "Expect:
 * 100-continue" waits for our 100 before it sends a byte of the body, so
 * it always passes: curl does so for bodies over 1 MiB, and so does
 * `cove put`.
 *
 * After such a body libmicrohttpd still counts it as unread, so it closes
 * the connection once the answer is sent (with "Connection: close").
 * Never under TLS: there the socket carries encrypted records.
 */
#include "http/http.h"

#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#define BULK_MIN ((int64_t)1 << 20)  /* smaller bodies are not worth a thread */
#define BULK_READ ((size_t)1 << 20)  /* bytes asked of one recv */
#define BULK_MAX 64                  /* bodies read this way at once */
#define BULK_TICK_MS 250             /* how often a waiting reader looks up */

struct bulk {
	struct req *r;
	int fd;
	int64_t left;      /* body bytes still in the socket */
	int send_continue; /* the client waits for "100 Continue" */
};

static int bulk_running; /* atomic: bodies being read this way */

/* libmicrohttpd has read this request's header from fd and nothing else. */
static int only_header_read(struct MHD_Connection *conn, int fd)
{
	const union MHD_ConnectionInfo *hi =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (!hi || hi->header_size == 0)
		return 0;
	/* The queue first, then the total: a byte arriving in between can only
	 * make the difference bigger (and refuse), never smaller. */
	int queued = 0;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (ioctl(fd, SIOCINQ, &queued) < 0 || queued < 0 ||
	    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) +
			  sizeof(ti.tcpi_bytes_received))
		return 0;
	return ti.tcpi_bytes_received >= (uint64_t)queued &&
	       ti.tcpi_bytes_received - (uint64_t)queued == (uint64_t)hi->header_size;
}

/* Send all of p on the non-blocking fd within timeout_ms; 0 or -1. */
static int send_all(int fd, const char *p, size_t len, int timeout_ms)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -1;
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		if (poll(&pf, 1, timeout_ms) <= 0)
			return -1;
	}
	return 0;
}

/*
 * Read the body and hand it to the route; end it and answer. A body the
 * route refused is still read to its end (and dropped) before the answer,
 * as on the ordinary path: a client still sending would otherwise see
 * the connection reset instead of the answer.
 */
static void bulk_read(struct bulk *b)
{
	struct req *r = b->r;
	struct server *s = r->srv;
	const struct stream_ops *ops = r->route->stream;
	int64_t idle_limit = s->cfg->conn_timeout > 0 ? s->cfg->conn_timeout * 1000 : 0;
	int64_t idle = 0;
	int refused = 0;
	if (b->send_continue) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (send_all(b->fd, cont, sizeof(cont) - 1, BULK_TICK_MS * 40) < 0) {
			reply_problem(r, 400, "the client went away before sending the body");
			return;
		}
	}
	char *buf = xmalloc(BULK_READ);
	while (b->left > 0) {
		if (s->stopping) {
			if (!r->replied)
				reply_problem(r, 503, "server is shutting down");
			break;
		}
		size_t want = b->left < (int64_t)BULK_READ ? (size_t)b->left : BULK_READ;
		ssize_t n = recv(b->fd, buf, want, 0);
		if (n > 0) {
			idle = 0;
			b->left -= n;
			if (!refused && !r->replied && ops->data(r, buf, (size_t)n))
				refused = 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			if (!r->replied)
				reply_problem(r, 400, "the request body ended %lld bytes short",
					      (long long)b->left);
			break;
		}
		struct pollfd pf = {.fd = b->fd, .events = POLLIN};
		if (poll(&pf, 1, BULK_TICK_MS) == 0) {
			idle += BULK_TICK_MS;
			if (idle_limit && idle >= idle_limit) {
				if (!r->replied)
					reply_problem(r, 408, "no bytes of the request body for %lld s",
						      (long long)(idle_limit / 1000));
				break;
			}
		}
	}
	free(buf);
	if (b->left == 0 && !r->replied)
		ops->end(r); /* its req_offload runs here: we are off the loop */
}

static void *bulk_main(void *arg)
{
	struct bulk *b = arg;
	struct req *r = b->r;
	bulk_read(b);
	__atomic_add_fetch(&r->srv->bulk_bodies, 1, __ATOMIC_RELAXED);
	free(b);
	__atomic_sub_fetch(&bulk_running, 1, __ATOMIC_SEQ_CST);
	req_resume(r); /* r may be gone from here on */
	return NULL;
}

void bulk_take(struct req *r, const char *version)
{
	/* under TLS the socket holds records, not the body: only
	 * libmicrohttpd can read it */
	if (r->srv->tls)
		return;
	if (!r->route || !r->route->stream ||
	    req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return;
	const char *cl = req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!cl || *cl < '0' || *cl > '9')
		return;
	char *end;
	errno = 0;
	long long len = strtoll(cl, &end, 10);
	if (errno || *end || len < BULK_MIN)
		return;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci || !only_header_read(r->conn, ci->connect_fd))
		return;
	if (__atomic_add_fetch(&bulk_running, 1, __ATOMIC_SEQ_CST) > BULK_MAX) {
		__atomic_sub_fetch(&bulk_running, 1, __ATOMIC_SEQ_CST);
		return;
	}
	const char *expect = req_header(r, MHD_HTTP_HEADER_EXPECT);
	struct bulk *b = xcalloc(1, sizeof(*b));
	b->r = r;
	b->fd = ci->connect_fd;
	b->left = len;
	b->send_continue = expect && !strcasecmp(expect, "100-continue") &&
			   version && !strcmp(version, MHD_HTTP_VERSION_1_1);
	r->bulk = 1;
	/* Suspended before the reader starts, so that its resume is never
	 * early; from here r is the reader's. */
	MHD_suspend_connection(r->conn);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&(pthread_t){0}, &at, bulk_main, b);
	pthread_attr_destroy(&at);
	if (rc) { /* the body stays unread: the answer closes the connection */
		free(b);
		__atomic_sub_fetch(&bulk_running, 1, __ATOMIC_SEQ_CST);
		r->bulk = 0;
		reply_problem(r, 503, "the server cannot take this upload now: try again");
		MHD_resume_connection(r->conn);
	}
}
