/*
 * tls_auto.c - `cove serve --tls auto`: a private CA (ECDSA P-256, ten
 * years) made once under DATA/tls/, and a server certificate it signs
 * (ECDSA P-256, one year) for localhost, 127.0.0.1, ::1, this host's name
 * and the --tls-san names. Reused at later starts; the server certificate
 * is made again when it has less than TLS_AUTO_RENEW left, when its names
 * changed, or when it is missing. Key files are 0600, written through a
 * temporary file and rename. GnuTLS's x509 API only; no HTTP, no printing.
 */
#include "http/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TLS_AUTO_CA_DAYS 3650
#define TLS_AUTO_SERVER_DAYS 365
#define TLS_AUTO_RENEW (30 * 86400)

/* Write data to path (mode) atomically: temporary file, fsync, rename. */
static int file_write(const char *path, const void *data, size_t len,
		      mode_t mode, struct err *e)
{
	char *tmp = xasprintf("%s.tmp", path);
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) < 0 ||
	    close(fd) < 0 || (fd = -1, rename(tmp, path) < 0))
		rc = err_set(e, COVE_EIO, "cannot write %s: %s", path, strerror(errno));
	if (fd >= 0 && rc)
		close(fd);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int pem_write_key(gnutls_x509_privkey_t k, const char *path, struct err *e)
{
	gnutls_datum_t d = {0};
	if (gnutls_x509_privkey_export2(k, GNUTLS_X509_FMT_PEM, &d) < 0)
		return err_set(e, COVE_EINTERNAL, "cannot encode the key %s", path);
	int rc = file_write(path, d.data, d.size, 0600, e);
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
	return rc;
}

static int pem_write_crt(gnutls_x509_crt_t c, const char *path, const char *also,
			 struct err *e)
{
	gnutls_datum_t d = {0};
	if (gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_PEM, &d) < 0)
		return err_set(e, COVE_EINTERNAL, "cannot encode the certificate %s", path);
	struct buf b = {0};
	buf_add(&b, d.data, d.size);
	if (also)
		buf_add(&b, also, strlen(also));
	int rc = file_write(path, b.data, b.len, 0644, e);
	buf_free(&b);
	gnutls_free(d.data);
	return rc;
}

static int key_new(gnutls_x509_privkey_t *k, struct err *e)
{
	if (gnutls_x509_privkey_init(k) < 0 ||
	    gnutls_x509_privkey_generate(*k, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
					 0) < 0)
		return err_set(e, COVE_EINTERNAL, "cannot make an ECDSA P-256 key");
	return 0;
}

static int key_load(const char *path, gnutls_x509_privkey_t *k, struct err *e)
{
	gnutls_datum_t d = {0};
	int rc = 0;
	if (gnutls_load_file(path, &d) < 0 || gnutls_x509_privkey_init(k) < 0 ||
	    gnutls_x509_privkey_import(*k, &d, GNUTLS_X509_FMT_PEM) < 0)
		rc = err_set(e, COVE_EINVAL, "cannot read the key %s", path);
	if (d.data) {
		gnutls_memset(d.data, 0, d.size);
		gnutls_free(d.data);
	}
	return rc;
}

static int crt_load(const char *path, gnutls_x509_crt_t *c, struct err *e)
{
	gnutls_datum_t d = {0};
	int rc = 0;
	if (gnutls_load_file(path, &d) < 0 || gnutls_x509_crt_init(c) < 0 ||
	    gnutls_x509_crt_import(*c, &d, GNUTLS_X509_FMT_PEM) < 0)
		rc = err_set(e, COVE_EINVAL, "cannot read the certificate %s", path);
	gnutls_free(d.data);
	return rc;
}

/* The fields both certificates share: serial, validity, key. */
static int crt_base(gnutls_x509_crt_t c, gnutls_x509_privkey_t k, const char *cn,
		    int days, struct err *e)
{
	unsigned char serial[16];
	if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
		return err_set(e, COVE_EINTERNAL, "no random numbers");
	serial[0] &= 0x7f; /* a positive number */
	time_t now = time(NULL);
	if (gnutls_x509_crt_set_version(c, 3) < 0 ||
	    gnutls_x509_crt_set_serial(c, serial, sizeof(serial)) < 0 ||
	    gnutls_x509_crt_set_activation_time(c, now - 3600) < 0 ||
	    gnutls_x509_crt_set_expiration_time(c, now + (time_t)days * 86400) < 0 ||
	    gnutls_x509_crt_set_key(c, k) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
					  (unsigned)strlen(cn)) < 0)
		return err_set(e, COVE_EINTERNAL, "cannot fill the certificate for %s", cn);
	unsigned char id[64];
	size_t idl = sizeof(id);
	if (gnutls_x509_crt_get_key_id(c, 0, id, &idl) >= 0)
		gnutls_x509_crt_set_subject_key_id(c, id, idl);
	return 0;
}

static int ca_make(const char *crt_path, const char *key_path, struct err *e)
{
	gnutls_x509_privkey_t k = NULL;
	gnutls_x509_crt_t c = NULL;
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	char *cn = xasprintf("cove private CA (%s)", *host ? host : "localhost");
	int rc = key_new(&k, e);
	if (rc)
		goto out;
	if (gnutls_x509_crt_init(&c) < 0) {
		rc = err_set(e, COVE_EINTERNAL, "cannot make a certificate");
		goto out;
	}
	if ((rc = crt_base(c, k, cn, TLS_AUTO_CA_DAYS, e)))
		goto out;
	if (gnutls_x509_crt_set_basic_constraints(c, 1, 0) < 0 ||
	    gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_KEY_CERT_SIGN |
						 GNUTLS_KEY_CRL_SIGN) < 0 ||
	    gnutls_x509_crt_sign2(c, c, k, GNUTLS_DIG_SHA256, 0) < 0) {
		rc = err_set(e, COVE_EINTERNAL, "cannot sign the private CA");
		goto out;
	}
	if (!(rc = pem_write_key(k, key_path, e)))
		rc = pem_write_crt(c, crt_path, NULL, e);
out:
	free(cn);
	if (c)
		gnutls_x509_crt_deinit(c);
	if (k)
		gnutls_x509_privkey_deinit(k);
	return rc;
}

static int san_add(gnutls_x509_crt_t c, const char *name)
{
	unsigned char ip[16];
	if (inet_pton(AF_INET, name, ip) == 1)
		return gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_IPADDRESS, ip, 4,
							    GNUTLS_FSAN_APPEND);
	if (inet_pton(AF_INET6, name, ip) == 1)
		return gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_IPADDRESS, ip, 16,
							    GNUTLS_FSAN_APPEND);
	return gnutls_x509_crt_set_subject_alt_name(c, GNUTLS_SAN_DNSNAME, name,
						    (unsigned)strlen(name),
						    GNUTLS_FSAN_APPEND);
}

/* The names, one per line: "localhost\n127.0.0.1\n::1\nHOST\nEXTRA...\n". */
static char *sans_list(const char *extra)
{
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	struct buf b = {0};
	buf_addf(&b, "localhost\n127.0.0.1\n::1\n");
	if (*host && strcmp(host, "localhost"))
		buf_addf(&b, "%s\n", host);
	char *x = xstrdup(extra ? extra : "");
	for (char *save = NULL, *t = strtok_r(x, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save))
		buf_addf(&b, "%s\n", t);
	free(x);
	char *s = xstrdup(b.len ? b.data : "");
	buf_free(&b);
	return s;
}

static int server_make(const char *crt_path, const char *key_path,
		       const char *ca_crt, const char *ca_key, const char *sans,
		       struct err *e)
{
	gnutls_x509_privkey_t k = NULL, cak = NULL;
	gnutls_x509_crt_t c = NULL, ca = NULL;
	gnutls_datum_t ca_pem = {0};
	int rc;
	if ((rc = key_load(ca_key, &cak, e)) || (rc = crt_load(ca_crt, &ca, e)) ||
	    (rc = key_new(&k, e)))
		goto out;
	if (gnutls_x509_crt_init(&c) < 0) {
		rc = err_set(e, COVE_EINTERNAL, "cannot make a certificate");
		goto out;
	}
	const char *nl = strchr(sans, '\n');
	char *cn = xasprintf("%.*s", (int)(nl ? nl - sans : 0), sans);
	rc = crt_base(c, k, cn, TLS_AUTO_SERVER_DAYS, e);
	free(cn);
	if (rc)
		goto out;
	char *names = xstrdup(sans);
	int g = 0;
	for (char *save = NULL, *t = strtok_r(names, "\n", &save); t && g >= 0;
	     t = strtok_r(NULL, "\n", &save))
		g = san_add(c, t);
	free(names);
	unsigned char id[64];
	size_t idl = sizeof(id);
	if (g < 0 || gnutls_x509_crt_set_basic_constraints(c, 0, -1) < 0 ||
	    gnutls_x509_crt_set_key_usage(c, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(c, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0 ||
	    (gnutls_x509_crt_get_subject_key_id(ca, id, &idl, NULL) >= 0 &&
	     gnutls_x509_crt_set_authority_key_id(c, id, idl) < 0) ||
	    gnutls_x509_crt_sign2(c, ca, cak, GNUTLS_DIG_SHA256, 0) < 0) {
		rc = err_set(e, COVE_EINTERNAL, "cannot sign the server certificate");
		goto out;
	}
	if (gnutls_load_file(ca_crt, &ca_pem) < 0) {
		rc = err_set(e, COVE_EIO, "cannot read %s", ca_crt);
		goto out;
	}
	char *chain_ca = xasprintf("%.*s", (int)ca_pem.size, (const char *)ca_pem.data);
	if (!(rc = pem_write_key(k, key_path, e)))
		rc = pem_write_crt(c, crt_path, chain_ca, e);
	free(chain_ca);
out:
	gnutls_free(ca_pem.data);
	if (c)
		gnutls_x509_crt_deinit(c);
	if (ca)
		gnutls_x509_crt_deinit(ca);
	if (k)
		gnutls_x509_privkey_deinit(k);
	if (cak)
		gnutls_x509_privkey_deinit(cak);
	return rc;
}

/* Does the server certificate at path still serve: readable, signed by
 * the CA, not within TLS_AUTO_RENEW of its end, for the same names? */
static int server_fresh(const char *crt_path, const char *ca_crt,
			const char *sans_path, const char *sans)
{
	gnutls_x509_crt_t c = NULL, ca = NULL;
	struct err ignore = {0};
	gnutls_datum_t old = {0};
	int fresh = 0;
	if (crt_load(crt_path, &c, &ignore) || crt_load(ca_crt, &ca, &ignore))
		goto out;
	unsigned verify = 0;
	if (gnutls_x509_crt_verify(c, &ca, 1, 0, &verify) < 0 || verify)
		goto out;
	if (gnutls_x509_crt_get_expiration_time(c) < time(NULL) + TLS_AUTO_RENEW)
		goto out;
	if (gnutls_load_file(sans_path, &old) < 0 || old.size != strlen(sans) ||
	    memcmp(old.data, sans, old.size))
		goto out;
	fresh = 1;
out:
	gnutls_free(old.data);
	if (c)
		gnutls_x509_crt_deinit(c);
	if (ca)
		gnutls_x509_crt_deinit(ca);
	return fresh;
}

int tls_auto_prepare(const char *data_dir, const char *extra_sans,
		     struct tls_auto *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	char *dir = xasprintf("%s/tls", data_dir);
	char *ca_key = xasprintf("%s/ca.key", dir);
	char *sans_path = xasprintf("%s/server.names", dir);
	char *sans = sans_list(extra_sans);
	gnutls_x509_crt_t ca = NULL;
	int rc = 0;
	out->ca_file = xasprintf("%s/ca.pem", dir);
	out->cert_file = xasprintf("%s/server.pem", dir);
	out->key_file = xasprintf("%s/server.key", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = err_set(e, COVE_EIO, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	if (access(out->ca_file, F_OK) < 0 || access(ca_key, F_OK) < 0) {
		if ((rc = ca_make(out->ca_file, ca_key, e)))
			goto out;
		out->ca_made = 1;
	}
	if (!server_fresh(out->cert_file, out->ca_file, sans_path, sans)) {
		if ((rc = server_make(out->cert_file, out->key_file, out->ca_file,
				      ca_key, sans, e)) ||
		    (rc = file_write(sans_path, sans, strlen(sans), 0644, e)))
			goto out;
		out->server_made = 1;
	}
	unsigned char fp[32];
	size_t fpl = sizeof(fp);
	if ((rc = crt_load(out->ca_file, &ca, e)))
		goto out;
	if (gnutls_x509_crt_get_fingerprint(ca, GNUTLS_DIG_SHA256, fp, &fpl) < 0) {
		rc = err_set(e, COVE_EINTERNAL, "cannot take the CA's fingerprint");
		goto out;
	}
	for (size_t i = 0; i < fpl; i++)
		snprintf(out->ca_sha256 + 3 * i, 4, i + 1 < fpl ? "%02X:" : "%02X", fp[i]);
out:
	if (ca)
		gnutls_x509_crt_deinit(ca);
	free(sans);
	free(sans_path);
	free(ca_key);
	free(dir);
	if (rc)
		tls_auto_clear(out);
	return rc;
}

void tls_auto_clear(struct tls_auto *a)
{
	free(a->ca_file);
	free(a->cert_file);
	free(a->key_file);
	memset(a, 0, sizeof(*a));
}
