/*
 * tls.c - the server's certificate and key for https: read from PEM files
 * (the certificate file may hold the chain, server certificate first), checked
 * (the key must match the certificate), and handed to GnuTLS through a
 * retrieve callback so that SIGHUP can swap in new files without a restart.
 *
 * Ownership: a reload makes a new set and makes it current under a mutex;
 * older sets are kept (a few KB each) until tls_free, because a handshake
 * in progress, or a session made from an old set, still points at it.
 * A reload that fails leaves the current set as it is.
 *
 * The one process-wide pointer here (tls_current) exists because GnuTLS's
 * retrieve callback gets no argument of ours; it is set by tls_open and
 * cleared by tls_free, and a server has at most one certificate store.
 * No HTTP here: server.c wires this into libmicrohttpd.
 */
#include "http/tls.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TLS_CHAIN_MAX 8

struct tls_set {
	gnutls_pcert_st pcert[TLS_CHAIN_MAX];
	unsigned npcert;
	gnutls_privkey_t key;
	int64_t not_after; /* the server certificate's end, seconds */
	struct tls_set *older;
};

struct tls {
	char *cert_path;
	char *key_path;
	pthread_mutex_t mu;
	struct tls_set *cur; /* newest; ->older chains the rest */
};

static struct tls *tls_current;

static void set_free(struct tls_set *s)
{
	while (s) {
		struct tls_set *o = s->older;
		for (unsigned i = 0; i < s->npcert; i++)
			gnutls_pcert_deinit(&s->pcert[i]);
		if (s->key)
			gnutls_privkey_deinit(s->key);
		free(s);
		s = o;
	}
}

static int file_read(const char *path, const char *what, gnutls_datum_t *d,
		     struct err *e)
{
	int rc = gnutls_load_file(path, d);
	if (rc < 0)
		return err_set(e, COVE_EINVAL, "cannot read the TLS %s %s: %s", what,
			       path, rc == GNUTLS_E_FILE_ERROR ? "no such file or not readable"
							       : gnutls_strerror(rc));
	return 0;
}

/* Read, parse and check cert and key files into a new set (caller owns). */
static int set_load(const char *cert_path, const char *key_path,
		    struct tls_set **out, struct err *e)
{
	gnutls_datum_t cert = {0}, key = {0};
	gnutls_certificate_credentials_t check = NULL;
	gnutls_x509_crt_t crt = NULL;
	struct tls_set *s = xcalloc(1, sizeof(*s));
	int rc = file_read(cert_path, "certificate", &cert, e);
	if (rc)
		goto out;
	if ((rc = file_read(key_path, "key", &key, e)))
		goto out;
	unsigned n = TLS_CHAIN_MAX;
	int g = gnutls_pcert_list_import_x509_raw(s->pcert, &n, &cert,
						  GNUTLS_X509_FMT_PEM, 0);
	if (g < 0) {
		rc = err_set(e, COVE_EINVAL, "the TLS certificate %s is not a PEM certificate: %s",
			     cert_path, gnutls_strerror(g));
		goto out;
	}
	s->npcert = n;
	if ((g = gnutls_privkey_init(&s->key)) < 0 ||
	    (g = gnutls_privkey_import_x509_raw(s->key, &key, GNUTLS_X509_FMT_PEM,
						NULL, 0)) < 0) {
		rc = err_set(e, COVE_EINVAL, "the TLS key %s is not a PEM private key: %s",
			     key_path, gnutls_strerror(g));
		goto out;
	}
	/* GnuTLS checks that the key belongs to the certificate here */
	if ((g = gnutls_certificate_allocate_credentials(&check)) < 0 ||
	    (g = gnutls_certificate_set_x509_key_mem2(check, &cert, &key,
						      GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		rc = err_set(e, COVE_EINVAL, "the TLS key %s does not go with the certificate %s: %s",
			     key_path, cert_path, gnutls_strerror(g));
		goto out;
	}
	if (gnutls_x509_crt_init(&crt) >= 0 &&
	    gnutls_x509_crt_import(crt, &s->pcert[0].cert, GNUTLS_X509_FMT_DER) >= 0)
		s->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
	*out = s;
	s = NULL;
	rc = 0;
out:
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (check)
		gnutls_certificate_free_credentials(check);
	gnutls_free(cert.data);
	if (key.data) {
		gnutls_memset(key.data, 0, key.size);
		gnutls_free(key.data);
	}
	set_free(s);
	return rc;
}

int tls_open(struct tls **out, const char *cert_path, const char *key_path,
	     struct err *e)
{
	struct tls_set *s = NULL;
	int rc = set_load(cert_path, key_path, &s, e);
	if (rc)
		return rc;
	struct tls *t = xcalloc(1, sizeof(*t));
	t->cert_path = xstrdup(cert_path);
	t->key_path = xstrdup(key_path);
	pthread_mutex_init(&t->mu, NULL);
	t->cur = s;
	tls_current = t;
	*out = t;
	return 0;
}

int tls_reload(struct tls *t, struct err *e)
{
	struct tls_set *s = NULL;
	int rc = set_load(t->cert_path, t->key_path, &s, e);
	if (rc)
		return rc;
	pthread_mutex_lock(&t->mu);
	s->older = t->cur;
	t->cur = s;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

int64_t tls_not_after(struct tls *t)
{
	pthread_mutex_lock(&t->mu);
	int64_t v = t->cur->not_after;
	pthread_mutex_unlock(&t->mu);
	return v;
}

void tls_free(struct tls *t)
{
	if (!t)
		return;
	if (tls_current == t)
		tls_current = NULL;
	set_free(t->cur);
	pthread_mutex_destroy(&t->mu);
	free(t->cert_path);
	free(t->key_path);
	free(t);
}

int tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn,
		 int nreqs, const gnutls_pk_algorithm_t *pk_algos,
		 int pk_algos_length, gnutls_pcert_st **pcert,
		 unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
	struct tls *t = tls_current;
	if (!t)
		return -1;
	pthread_mutex_lock(&t->mu);
	*pcert = t->cur->pcert;
	*pcert_length = t->cur->npcert;
	*privkey = t->cur->key;
	pthread_mutex_unlock(&t->mu);
	return 0;
}
