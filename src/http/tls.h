/*
 * tls.h - the https certificate store of `cove serve` (tls.c): load, check,
 * reload on SIGHUP, and the GnuTLS callback that hands the current one to
 * each handshake. No HTTP here.
 */
#ifndef COVE_HTTP_TLS_H
#define COVE_HTTP_TLS_H

#include "core/core.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

/* TLS 1.3 and 1.2 only; AEAD ciphers only; ECDHE key exchange (and, in
 * TLS 1.3, elliptic-curve groups only); the server's order of preference. */
#define TLS_PRIORITIES                                                         \
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AES-128-GCM:+AES-256-GCM:"            \
	"+CHACHA20-POLY1305:+AEAD:+ECDHE-ECDSA:+ECDHE-RSA:+GROUP-X25519:"      \
	"+GROUP-SECP256R1:+GROUP-SECP384R1:+SIGN-ALL:+COMP-NULL:+CTYPE-X509:"  \
	"%SERVER_PRECEDENCE"

/* The value of Strict-Transport-Security on every answer under TLS. */
#define TLS_HSTS "max-age=31536000"

struct tls;

/* Read and check the PEM certificate (chain) and key files; *out owns
 * copies of the paths, for tls_reload. COVE_EINVAL with a message naming
 * the file and the fault. Free with tls_free. */
int tls_open(struct tls **out, const char *cert_path, const char *key_path,
	     struct err *e);
/* Read the same files again; on success new handshakes get the new
 * certificate, on failure the current one stays and e says why. */
int tls_reload(struct tls *t, struct err *e);
/* When the current server certificate expires (seconds since 1970). */
int64_t tls_not_after(struct tls *t);
void tls_free(struct tls *t);
/* gnutls_certificate_retrieve_function2, for MHD_OPTION_HTTPS_CERT_CALLBACK */
int tls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn,
		 int nreqs, const gnutls_pk_algorithm_t *pk_algos,
		 int pk_algos_length, gnutls_pcert_st **pcert,
		 unsigned int *pcert_length, gnutls_privkey_t *privkey);

/* --tls auto (tls_auto.c): the private CA and the server certificate
 * under DATA/tls/, made or renewed as needed. */
struct tls_auto {
	char *ca_file;        /* DATA/tls/ca.pem: what clients trust */
	char *cert_file;      /* DATA/tls/server.pem: server certificate + CA */
	char *key_file;       /* DATA/tls/server.key (0600) */
	char ca_sha256[96];   /* the CA's SHA-256 fingerprint, AA:BB:... */
	int ca_made;          /* 1: the CA was made now (first start) */
	int server_made;      /* 1: the server certificate was made now */
};
/* Make the CA once, the server certificate when missing, near its end
 * (30 days) or for other names (extra_sans: comma-separated, may be NULL).
 * Fills out (free with tls_auto_clear). */
int tls_auto_prepare(const char *data_dir, const char *extra_sans,
		     struct tls_auto *out, struct err *e);
void tls_auto_clear(struct tls_auto *a);

#endif
