/*
 * pam_nasauth.so - forwards PAM auth/account/password to nasauthd's PAM socket.
 *
 * Layers (top to bottom):
 *   pam_sm_*            the PAM entry points: get user/passwords, call, remap
 *   phase logic         which opcode, which socket, what to keep for later
 *   reason -> PAM       one table (pam_code) and one per-phase refinement (remap)
 *   request/reply       counted fields, nasauth_proto.h
 *   transport           one connection per call, bounded by a deadline
 *
 * Runs inside afpd, smbd, sshd, login: no global state, no signals, no stdio, no
 * fd 0-2, nothing that could turn "daemon down" into "anyone in". Every transport
 * failure is PAM_AUTHINFO_UNAVAIL. Every secret is wiped on every return path.
 * As root (euid 0) every request goes to the root-only privileged socket, which no
 * unprivileged process can reach, let alone flood; otherwise to the 0666 one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_PASSWORD
#define PAM_SM_SESSION
#include <security/pam_modules.h>
#include <security/pam_ext.h>

#include "nasauth_proto.h"

/* pam_set_data key: the old password proven by pam_sm_authenticate, kept for a
 * pam_chauthtok that follows in the same handle (Netatalk, see README.md). */
#define SAVED_AUTHTOK_KEY "pam_nasauth_proven_authtok"
/* pam_set_data key: the daemon's reason for this handle's AUTH. Not root, the module
 * cannot ask ACCT (it tells account state, so only the root-only socket answers it):
 * the account phase that follows an authentication by this module answers from it. */
#define AUTH_REASON_KEY "pam_nasauth_auth_reason"

static const char *const reason_names[NASAUTH_REASON_COUNT] = NASAUTH_REASON_NAMES;

/* explicit_bzero semantics (the compiler may not drop it), without needing
 * explicit_bzero@GLIBC_2.25: the module must load on old firmware glibc (2.4). */
static void wipe(void *p, size_t n)
{
	memset(p, 0, n);
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/* ---- options ---------------------------------------------------------------------- */

struct opts {
	const char *socket;
	const char *priv_socket;
	const char *service; /* NULL: PAM_SERVICE */
	int timeout_s;
	uid_t owner; /* required uid of the process serving the socket (SO_PEERCRED) */
	int debug;
	int use_first_pass;
	int try_first_pass;
	int use_authtok;
	int ignore_unknown_user;
	int ignore_authinfo_unavail;
	int silent; /* PAM_SILENT: no conversation messages */
};

enum phase { PHASE_AUTH, PHASE_ACCT, PHASE_CHPW };

/* All options, from argv only, in one place. */
static void parse_opts(pam_handle_t *pamh, int flags, int argc, const char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->socket = NASAUTH_PAM_SOCKET;
	o->priv_socket = NASAUTH_PAM_PRIV_SOCKET;
	o->timeout_s = NASAUTH_CLIENT_TIMEOUT_S;
	o->owner = 0;
	o->silent = ((unsigned int)flags & PAM_SILENT) != 0;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "socket=", 7) == 0 && a[7] != '\0')
			o->socket = a + 7;
		else if (strncmp(a, "priv_socket=", 12) == 0 && a[12] != '\0')
			o->priv_socket = a + 12;
		else if (strncmp(a, "service=", 8) == 0 && a[8] != '\0')
			o->service = a + 8;
		else if (strncmp(a, "timeout=", 8) == 0) {
			char *end = NULL;
			long v = strtol(a + 8, &end, 10);
			if (end != a + 8 && *end == '\0' && v >= 1 && v <= 300)
				o->timeout_s = (int)v;
			else
				pam_syslog(pamh, LOG_ERR, "option %s: expected 1-300 seconds; using %d", a, o->timeout_s);
		} else if (strncmp(a, "owner=", 6) == 0) {
			char *end = NULL;
			unsigned long v = strtoul(a + 6, &end, 10);
			if (end != a + 6 && *end == '\0' && v < (unsigned long)UINT32_MAX)
				o->owner = (uid_t)v;
			else
				pam_syslog(pamh, LOG_ERR, "option %s: expected a numeric uid; using 0", a);
		} else if (strcmp(a, "debug") == 0)
			o->debug = 1;
		else if (strcmp(a, "use_first_pass") == 0)
			o->use_first_pass = 1;
		else if (strcmp(a, "try_first_pass") == 0)
			o->try_first_pass = 1;
		else if (strcmp(a, "use_authtok") == 0)
			o->use_authtok = 1;
		else if (strcmp(a, "ignore_unknown_user") == 0)
			o->ignore_unknown_user = 1;
		else if (strcmp(a, "ignore_authinfo_unavail") == 0)
			o->ignore_authinfo_unavail = 1;
		else
			pam_syslog(pamh, LOG_ERR, "unknown option \"%s\" (ignored)", a);
	}
}

/* ---- reason -> PAM ---------------------------------------------------------------- */

/* The one table (docs/protocol.md, "Reason codes"). Unknown codes: PAM_ABORT. */
static int pam_code(int reason)
{
	switch (reason) {
	case NASAUTH_R_OK:                   return PAM_SUCCESS;
	case NASAUTH_R_BAD_CREDENTIALS:      return PAM_AUTH_ERR;
	case NASAUTH_R_ACCOUNT_DISABLED:     return PAM_PERM_DENIED;
	case NASAUTH_R_SERVICE_DENIED:       return PAM_PERM_DENIED;
	case NASAUTH_R_LOCKED_OUT:           return PAM_MAXTRIES;
	case NASAUTH_R_MUST_CHANGE_PASSWORD: return PAM_NEW_AUTHTOK_REQD;
	case NASAUTH_R_UNAVAILABLE:          return PAM_AUTHINFO_UNAVAIL;
	case NASAUTH_R_RATE_LIMITED:         return PAM_MAXTRIES;
	case NASAUTH_R_UNKNOWN_USER:         return PAM_USER_UNKNOWN;
	case NASAUTH_R_PASSWORD_REJECTED:    return PAM_AUTHTOK_ERR;
	case NASAUTH_R_BUSY:                 return PAM_AUTHINFO_UNAVAIL;
	case NASAUTH_R_BAD_REQUEST:          return PAM_SERVICE_ERR;
	case NASAUTH_R_INTERNAL_ERROR:       return PAM_SYSTEM_ERR;
	default:                             return PAM_ABORT;
	}
}

/*
 * Per-phase refinement of the table, then the ignore_* options. The only place that
 * turns a daemon answer into a PAM return.
 *  - auth: must_change_password proves the password: PAM_SUCCESS here, and the
 *    account phase answers PAM_NEW_AUTHTOK_REQD (as pam_unix does for an expired one).
 *  - account and password phases: PAM_MAXTRIES is not among their documented returns;
 *    a locked or rate-limited account is PAM_PERM_DENIED there.
 *  - password phase: a wrong old password is PAM_AUTH_ERR, as pam_unix answers.
 */
static int remap(const struct opts *o, enum phase ph, int pam_rc)
{
	if (ph == PHASE_AUTH && pam_rc == PAM_NEW_AUTHTOK_REQD)
		pam_rc = PAM_SUCCESS;
	if (ph != PHASE_AUTH && pam_rc == PAM_MAXTRIES)
		pam_rc = PAM_PERM_DENIED;
	if (o->ignore_unknown_user && pam_rc == PAM_USER_UNKNOWN)
		pam_rc = PAM_IGNORE;
	if (o->ignore_authinfo_unavail && pam_rc == PAM_AUTHINFO_UNAVAIL)
		pam_rc = PAM_IGNORE;
	return pam_rc;
}

static const char *reason_name(int reason)
{
	return reason >= 0 && reason < NASAUTH_REASON_COUNT ? reason_names[reason] : "(unknown reason)";
}

/* ---- request / reply -------------------------------------------------------------- */

struct req {
	unsigned char buf[NASAUTH_MAX_REQUEST];
	size_t len;
	int overflow;
};

struct reply {
	int reason;
	unsigned int retry_after;
	char message[NASAUTH_MAX_MESSAGE + 1];
};

static void put_u16(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)((v >> 8) & 0xff);
	p[1] = (unsigned char)(v & 0xff);
}

static void req_start(struct req *r, int opcode)
{
	r->len = NASAUTH_HEADER_SIZE;
	r->overflow = 0;
	r->buf[4] = NASAUTH_PROTO_VERSION;
	r->buf[5] = (unsigned char)opcode;
	r->buf[6] = 0;
	r->buf[7] = 0;
}

/* Append one counted field of n bytes; refuses (overflow) past the field's limit. */
static void req_field(struct req *r, const char *s, size_t n, size_t max)
{
	if (s == NULL)
		n = 0;
	if (n > max || r->len + 2 + n > sizeof(r->buf)) {
		r->overflow = 1;
		return;
	}
	put_u16(r->buf + r->len, n);
	if (n > 0)
		memcpy(r->buf + r->len + 2, s, n);
	r->len += 2 + n;
}

static void req_str(struct req *r, const char *s, size_t max)
{
	req_field(r, s, s ? strlen(s) : 0, max);
}

static void req_finish(struct req *r)
{
	size_t n = r->len - 4;
	r->buf[0] = (unsigned char)((n >> 24) & 0xff);
	r->buf[1] = (unsigned char)((n >> 16) & 0xff);
	r->buf[2] = (unsigned char)((n >> 8) & 0xff);
	r->buf[3] = (unsigned char)(n & 0xff);
}

/* ---- transport -------------------------------------------------------------------- */

/* gettimeofday, not clock_gettime: the module must load on firmware with glibc 2.4
 * (clock_gettime is GLIBC_2.17 on ARM); a wall-clock jump can only shorten or stretch
 * one wait, and SO_RCVTIMEO/SO_SNDTIMEO bound each call anyway. */
static long long now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Wait until fd is ready for `events` or the deadline passes. 0 ready, -1 not. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p;
		long long left = deadline - now_ms();
		int rc;
		if (left <= 0)
			return -1;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc > 0)
			return 0;
		if (rc == 0 || errno != EINTR)
			return -1;
	}
}

static int recv_all(int fd, unsigned char *p, size_t n, long long deadline)
{
	while (n > 0) {
		ssize_t got;
		if (wait_fd(fd, POLLIN, deadline) != 0)
			return -1;
		got = recv(fd, p, n, 0);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return -1; /* error, or the daemon closed early */
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/*
 * One request, one reply, over a fresh connection. Returns 0 with *rp filled, or -1
 * for any transport failure (already logged): the caller's PAM_AUTHINFO_UNAVAIL.
 */
#define FAIL(msg) do { why = (msg); err = errno; goto out; } while (0)
#define FAIL0(msg) do { why = (msg); err = 0; goto out; } while (0)
static int exchange(pam_handle_t *pamh, const struct opts *o, const char *path, struct req *rq, struct reply *rp)
{
	struct sockaddr_un sa;
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	struct timeval tv;
	unsigned char hdr[NASAUTH_HEADER_SIZE + 2];
	unsigned char body[NASAUTH_MAX_REPLY];
	long long deadline = now_ms() + (long long)o->timeout_s * 1000;
	const char *why = NULL;
	size_t sent = 0, len, mlen;
	int fd = -1, rc = -1, err = 0;

	memset(rp, 0, sizeof(*rp));
	memset(body, 0, sizeof(body));
	if (strlen(path) >= sizeof(sa.sun_path)) {
		pam_syslog(pamh, LOG_ERR, "socket path too long: %s", path);
		return -1;
	}
	{
		/* Keep our socket off fds 0-2 (a caller that closed them must not see our
		 * protocol on its stdout): hold low descriptors until socket() returns one
		 * above 2. socket(SOCK_CLOEXEC) is atomic, unlike dup+FD_CLOEXEC, and needs
		 * no fcntl@GLIBC_2.28. */
		int held[3], nheld = 0, i;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		while (fd >= 0 && fd <= STDERR_FILENO && nheld < 3) {
			held[nheld++] = fd;
			fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		}
		for (i = 0; i < nheld; i++)
			close(held[i]);
		if (fd < 0) {
			FAIL("socket");
		}
	}
	tv.tv_sec = o->timeout_s;
	tv.tv_usec = 0;
	/* SO_SNDTIMEO also bounds connect() on a full backlog; poll() bounds the rest */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		FAIL("connect");
	}
	/* Before a password leaves: the process serving this socket must be the daemon's
	 * uid (root). SO_PEERCRED is the kernel's word on who called listen(), so a socket
	 * file planted or swapped by anybody else is refused, without a check-then-use
	 * race on the path (and without lstat@GLIBC_2.33 on old firmware). */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) != 0 || credlen != sizeof(cred)) {
		FAIL("SO_PEERCRED");
	}
	if (cred.uid != o->owner) {
		pam_syslog(pamh, LOG_ERR, "refusing %s: served by uid %u, expected uid %u (owner=)",
		           path, (unsigned int)cred.uid, (unsigned int)o->owner);
		goto out;
	}

	while (sent < rq->len) {
		ssize_t n;
		if (wait_fd(fd, POLLOUT, deadline) != 0) {
			FAIL0("send: timed out");
		}
		n = send(fd, rq->buf + sent, rq->len - sent, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			FAIL("send");
		}
		sent += (size_t)n;
	}

	if (recv_all(fd, hdr, sizeof(hdr), deadline) != 0) {
		FAIL0("no reply (timed out, or the daemon closed the connection)");
	}
	len = ((size_t)hdr[0] << 24) | ((size_t)hdr[1] << 16) | ((size_t)hdr[2] << 8) | (size_t)hdr[3];
	mlen = ((size_t)hdr[8] << 8) | (size_t)hdr[9];
	if (hdr[4] != NASAUTH_PROTO_VERSION) {
		FAIL0("reply has another protocol version");
	}
	if (len + 4 > NASAUTH_MAX_REPLY || mlen > NASAUTH_MAX_MESSAGE || len != NASAUTH_HEADER_SIZE - 4 + 2 + mlen) {
		FAIL0("malformed reply");
	}
	if (mlen > 0 && recv_all(fd, body, mlen, deadline) != 0) {
		FAIL0("reply cut short");
	}
	rp->reason = hdr[5];
	rp->retry_after = ((unsigned int)hdr[6] << 8) | (unsigned int)hdr[7];
	memcpy(rp->message, body, mlen);
	rp->message[mlen] = '\0';
	rc = 0;
out:
	if (why != NULL)
		pam_syslog(pamh, LOG_ERR, "nasauthd at %s: %s%s%s", path, why,
		           err ? ": " : "", err ? strerror(err) : "");
	if (fd >= 0)
		close(fd);
	wipe(body, sizeof(body));
	return rc;
}
#undef FAIL
#undef FAIL0

/* ---- conversation helpers --------------------------------------------------------- */

/* Best effort: a failed message never changes the result (Netatalk's conversation
 * fails on PAM_ERROR_MSG). */
static void tell(pam_handle_t *pamh, const struct opts *o, int style, const char *msg)
{
	if (o->silent || msg == NULL || *msg == '\0')
		return;
	if (style == PAM_ERROR_MSG)
		(void)pam_error(pamh, "%s", msg);
	else
		(void)pam_info(pamh, "%s", msg);
}

/* Ask with echo off; the answer goes into PAM item `item` (PAM copies it and wipes its
 * copy at pam_end). *out points at the item. */
static int ask_secret(pam_handle_t *pamh, int item, const char *prompt, const void **out)
{
	char *resp = NULL;
	int rc = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &resp, "%s", prompt);
	if (rc != PAM_SUCCESS || resp == NULL) {
		if (resp) {
			wipe(resp, strlen(resp));
			free(resp);
		}
		return rc == PAM_SUCCESS ? PAM_CONV_ERR : rc;
	}
	rc = pam_set_item(pamh, item, resp);
	wipe(resp, strlen(resp));
	free(resp);
	if (rc != PAM_SUCCESS)
		return rc;
	return pam_get_item(pamh, item, out);
}

/* The password for authentication: the stacked one when told, else ask. */
static int get_authtok(pam_handle_t *pamh, const struct opts *o, const char **pw)
{
	const void *item = NULL;
	*pw = NULL;
	if (o->use_first_pass || o->try_first_pass || o->use_authtok) {
		if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item != NULL) {
			*pw = item;
			return PAM_SUCCESS;
		}
		if (o->use_first_pass || o->use_authtok)
			return PAM_AUTHTOK_RECOVERY_ERR;
	}
	if (ask_secret(pamh, PAM_AUTHTOK, "Password: ", &item) != PAM_SUCCESS || item == NULL)
		return PAM_CONV_ERR;
	*pw = item;
	return PAM_SUCCESS;
}

static void wipe_saved(void *data)
{
	char *s = data;
	if (s) {
		wipe(s, strlen(s));
		free(s);
	}
}

static void saved_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	wipe_saved(data);
}

static void free_data(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	free(data);
}

/* Keep the reason of this handle's AUTH for a non-root account phase (best effort). */
static void remember_auth_reason(pam_handle_t *pamh, int reason)
{
	int *r = malloc(sizeof(*r));
	if (r == NULL)
		return;
	*r = reason;
	if (pam_set_data(pamh, AUTH_REASON_KEY, r, free_data) != PAM_SUCCESS)
		free(r);
}

static void forget_saved(pam_handle_t *pamh)
{
	const void *d = NULL;
	if (pam_get_data(pamh, SAVED_AUTHTOK_KEY, &d) == PAM_SUCCESS && d != NULL)
		(void)pam_set_data(pamh, SAVED_AUTHTOK_KEY, NULL, NULL); /* runs saved_cleanup */
}

/* ---- the common call -------------------------------------------------------------- */

struct call {
	const char *user;
	const char *service;
	const char *rhost;
	const char *ruser;
};

/* user, service, rhost, ruser for this handle; PAM_* error when unusable. */
static int get_call(pam_handle_t *pamh, const struct opts *o, struct call *c)
{
	const void *item = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = pam_get_user(pamh, &c->user, NULL);
	if (rc != PAM_SUCCESS || c->user == NULL || *c->user == '\0')
		return rc == PAM_SUCCESS ? PAM_USER_UNKNOWN : rc;
	if (strlen(c->user) > NASAUTH_MAX_USER) {
		/* no account can have such a name: not worth a round trip */
		pam_syslog(pamh, LOG_NOTICE, "user name of %zu bytes is over the limit of %d", strlen(c->user), NASAUTH_MAX_USER);
		return PAM_USER_UNKNOWN;
	}
	c->service = o->service;
	if (c->service == NULL) {
		if (pam_get_item(pamh, PAM_SERVICE, &item) != PAM_SUCCESS || item == NULL)
			return PAM_SERVICE_ERR;
		c->service = item;
	}
	if (strlen(c->service) > NASAUTH_MAX_SERVICE || *c->service == '\0') {
		pam_syslog(pamh, LOG_ERR, "service name \"%.64s...\" is over the limit of %d bytes", c->service, NASAUTH_MAX_SERVICE);
		return PAM_SERVICE_ERR;
	}
	if (pam_get_item(pamh, PAM_RHOST, &item) == PAM_SUCCESS)
		c->rhost = item;
	if (pam_get_item(pamh, PAM_RUSER, &item) == PAM_SUCCESS)
		c->ruser = item;
	return PAM_SUCCESS;
}

static size_t host_len(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > NASAUTH_MAX_HOST ? NASAUTH_MAX_HOST : n; /* informational: cut, not refused */
}

/*
 * Build and send one request. Secrets: pw and pw2 (either may be NULL). Returns a
 * PAM code from the table (not yet remapped); *reason gets the daemon's reason or -1.
 * A transport failure is PAM_AUTHINFO_UNAVAIL.
 */
static int call_daemon(pam_handle_t *pamh, const struct opts *o, int opcode, const struct call *c,
                       const char *pw, const char *pw2, struct reply *rp)
{
	struct req rq;
	/* root: the privileged socket for everything (an unprivileged flood of the 0666
	 * socket cannot reach it); CHPW_ROOT and ACCT are answered only there */
	const char *path = (geteuid() == 0 || opcode == NASAUTH_OP_CHPW_ROOT) ? o->priv_socket : o->socket;
	long long t0 = now_ms();
	int rc;

	memset(rp, 0, sizeof(*rp));
	rp->reason = -1;
	req_start(&rq, opcode);
	switch (opcode) {
	case NASAUTH_OP_AUTH:
		req_str(&rq, c->service, NASAUTH_MAX_SERVICE);
		req_str(&rq, c->user, NASAUTH_MAX_USER);
		req_str(&rq, pw, NASAUTH_MAX_PASSWORD);
		req_field(&rq, c->rhost, host_len(c->rhost), NASAUTH_MAX_HOST);
		req_field(&rq, c->ruser, host_len(c->ruser), NASAUTH_MAX_HOST);
		break;
	case NASAUTH_OP_ACCT:
		req_str(&rq, c->service, NASAUTH_MAX_SERVICE);
		req_str(&rq, c->user, NASAUTH_MAX_USER);
		req_field(&rq, c->rhost, host_len(c->rhost), NASAUTH_MAX_HOST);
		break;
	case NASAUTH_OP_CHPW:
		req_str(&rq, c->service, NASAUTH_MAX_SERVICE);
		req_str(&rq, c->user, NASAUTH_MAX_USER);
		req_str(&rq, pw, NASAUTH_MAX_PASSWORD);
		req_str(&rq, pw2, NASAUTH_MAX_PASSWORD);
		req_field(&rq, c->rhost, host_len(c->rhost), NASAUTH_MAX_HOST);
		break;
	case NASAUTH_OP_CHPW_ROOT:
		req_str(&rq, c->service, NASAUTH_MAX_SERVICE);
		req_str(&rq, c->user, NASAUTH_MAX_USER);
		req_str(&rq, pw2, NASAUTH_MAX_PASSWORD);
		req_field(&rq, c->rhost, host_len(c->rhost), NASAUTH_MAX_HOST);
		break;
	default:
		break;
	}
	if (rq.overflow) {
		/* only a password can be over its limit here (user and service were checked):
		 * longer than any conversation can deliver, so it cannot be right */
		wipe(&rq, sizeof(rq));
		pam_syslog(pamh, LOG_NOTICE, "password over %d bytes for user %s: refused", NASAUTH_MAX_PASSWORD, c->user);
		return opcode == NASAUTH_OP_AUTH ? PAM_AUTH_ERR : PAM_AUTHTOK_ERR;
	}
	req_finish(&rq);
	rc = exchange(pamh, o, path, &rq, rp);
	wipe(&rq, sizeof(rq));
	if (rc != 0)
		return PAM_AUTHINFO_UNAVAIL;
	if (o->debug)
		pam_syslog(pamh, LOG_DEBUG, "op %d user=%s service=%s password=%s -> %s (%lld ms)%s%s",
		           opcode, c->user, c->service, (pw || pw2) ? "***" : "-", reason_name(rp->reason),
		           now_ms() - t0, rp->message[0] ? ": " : "", rp->message);
	else if (rp->reason != NASAUTH_R_OK && rp->reason != NASAUTH_R_BAD_CREDENTIALS)
		pam_syslog(pamh, LOG_NOTICE, "user %s, service %s: %s: %s", c->user, c->service,
		           reason_name(rp->reason), rp->message);
	return pam_code(rp->reason);
}

/* Tell the user the real reason where the daemon says it (after a proven password,
 * or a lockout). Never for bad_credentials: that says nothing the app does not. */
static void tell_reason(pam_handle_t *pamh, const struct opts *o, const struct reply *rp)
{
	switch (rp->reason) {
	case NASAUTH_R_ACCOUNT_DISABLED:
	case NASAUTH_R_SERVICE_DENIED:
	case NASAUTH_R_LOCKED_OUT:
	case NASAUTH_R_RATE_LIMITED:
	case NASAUTH_R_MUST_CHANGE_PASSWORD:
	case NASAUTH_R_PASSWORD_REJECTED:
	case NASAUTH_R_BUSY:
	case NASAUTH_R_UNAVAILABLE:
		tell(pamh, o, PAM_ERROR_MSG, rp->message);
		break;
	default:
		break;
	}
}

/* ---- the entry points ------------------------------------------------------------- */

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct call c;
	struct reply rp;
	const char *pw = NULL;
	int rc;

	parse_opts(pamh, flags, argc, argv, &o);
	rc = get_call(pamh, &o, &c);
	if (rc != PAM_SUCCESS)
		return remap(&o, PHASE_AUTH, rc);

	if (o.ignore_unknown_user && geteuid() == 0) {
		/* AUTH answers bad_credentials for unknown names on purpose; to step aside for
		 * them (and not prompt), ask first. Account names are public via NSS anyway.
		 * Only root may ask (ACCT is answered on the privileged socket only). */
		rc = call_daemon(pamh, &o, NASAUTH_OP_ACCT, &c, NULL, NULL, &rp);
		if (rc == PAM_USER_UNKNOWN || rc == PAM_AUTHINFO_UNAVAIL)
			return remap(&o, PHASE_AUTH, rc);
	}

	rc = get_authtok(pamh, &o, &pw);
	if (rc != PAM_SUCCESS)
		return remap(&o, PHASE_AUTH, rc);
	if (*pw == '\0' && ((unsigned int)flags & PAM_DISALLOW_NULL_AUTHTOK))
		return remap(&o, PHASE_AUTH, PAM_AUTH_ERR);

	rc = call_daemon(pamh, &o, NASAUTH_OP_AUTH, &c, pw, NULL, &rp);
	if (rp.reason >= 0)
		remember_auth_reason(pamh, rp.reason);
	if (rp.reason == NASAUTH_R_OK || rp.reason == NASAUTH_R_MUST_CHANGE_PASSWORD) {
		/* proven: keep it for a pam_chauthtok in this handle (Netatalk) */
		char *copy = strdup(pw);
		if (copy == NULL || pam_set_data(pamh, SAVED_AUTHTOK_KEY, copy, saved_cleanup) != PAM_SUCCESS)
			wipe_saved(copy);
	}
	tell_reason(pamh, &o, &rp);
	return remap(&o, PHASE_AUTH, rc);
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags;
	(void)argc;
	(void)argv;
	forget_saved(pamh); /* the login is done: the kept password is not needed */
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct call c;
	struct reply rp;
	const void *saved = NULL;
	int rc;

	parse_opts(pamh, flags, argc, argv, &o);
	rc = get_call(pamh, &o, &c);
	if (rc != PAM_SUCCESS)
		return remap(&o, PHASE_ACCT, rc);
	if (geteuid() != 0) {
		/* Not root: the daemon tells account state only on the root-only socket. After
		 * this module's own AUTH in this handle, that answer stands (it applied the
		 * same policy once the password was proven); without one, nothing is known. */
		if (pam_get_data(pamh, AUTH_REASON_KEY, &saved) == PAM_SUCCESS && saved != NULL)
			return remap(&o, PHASE_ACCT, pam_code(*(const int *)saved));
		pam_syslog(pamh, LOG_NOTICE, "account phase for %s: not root, and no authentication by pam_nasauth in this PAM handle; "
		           "the account state is told to root only", c.user);
		return remap(&o, PHASE_ACCT, PAM_AUTHINFO_UNAVAIL);
	}
	rc = call_daemon(pamh, &o, NASAUTH_OP_ACCT, &c, NULL, NULL, &rp);
	tell_reason(pamh, &o, &rp);
	return remap(&o, PHASE_ACCT, rc);
}

/* Root changing someone's password without knowing the old one (passwd as root,
 * smbd): the same rule as pam_unix, except for an expired-password change. */
static int root_mode(pam_handle_t *pamh, int flags)
{
	const void *old = NULL;
	(void)pam_get_item(pamh, PAM_OLDAUTHTOK, &old);
	if (old != NULL)
		return 0;
	if (pam_get_data(pamh, SAVED_AUTHTOK_KEY, &old) == PAM_SUCCESS && old != NULL)
		return 0;
	return getuid() == 0 && !((unsigned int)flags & PAM_CHANGE_EXPIRED_AUTHTOK);
}

/* PAM_PRELIM_CHECK: is the daemon there, and is the old password right? */
static int chauthtok_prelim(pam_handle_t *pamh, int flags, const struct opts *o, const struct call *c)
{
	struct reply rp;
	const void *old = NULL;
	int rc;

	if (root_mode(pamh, flags)) {
		rc = call_daemon(pamh, o, NASAUTH_OP_ACCT, c, NULL, NULL, &rp);
		if (rp.reason == NASAUTH_R_MUST_CHANGE_PASSWORD || rp.reason == NASAUTH_R_LOCKED_OUT)
			return PAM_SUCCESS; /* root's reset is how these get back in */
		tell_reason(pamh, o, &rp);
		return rc;
	}
	(void)pam_get_item(pamh, PAM_OLDAUTHTOK, &old);
	if (old == NULL) {
		const void *saved = NULL;
		if (pam_get_data(pamh, SAVED_AUTHTOK_KEY, &saved) == PAM_SUCCESS && saved != NULL) {
			rc = pam_set_item(pamh, PAM_OLDAUTHTOK, saved);
			if (rc != PAM_SUCCESS)
				return rc;
			(void)pam_get_item(pamh, PAM_OLDAUTHTOK, &old);
		} else if (o->use_first_pass || o->use_authtok) {
			return PAM_AUTHTOK_RECOVERY_ERR;
		} else {
			tell(pamh, o, PAM_TEXT_INFO, "Changing password (NAS account).");
			rc = ask_secret(pamh, PAM_OLDAUTHTOK, "Current password: ", &old);
			if (rc != PAM_SUCCESS || old == NULL)
				return PAM_AUTHTOK_RECOVERY_ERR;
		}
	}
	rc = call_daemon(pamh, o, NASAUTH_OP_AUTH, c, old, NULL, &rp);
	if (rp.reason == NASAUTH_R_MUST_CHANGE_PASSWORD)
		return PAM_SUCCESS; /* proven, and about to be changed */
	if (rc != PAM_SUCCESS)
		(void)pam_set_item(pamh, PAM_OLDAUTHTOK, NULL);
	tell_reason(pamh, o, &rp);
	return rc;
}

/* The new password: stacked (use_authtok) or asked twice. */
static int get_new_authtok(pam_handle_t *pamh, const struct opts *o, const char **pw)
{
	const void *item = NULL;
	char *first = NULL, *second = NULL;
	int rc, same;

	*pw = NULL;
	if (o->use_authtok || o->use_first_pass || o->try_first_pass) {
		if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item != NULL) {
			*pw = item;
			return PAM_SUCCESS;
		}
		if (o->use_authtok || o->use_first_pass)
			return PAM_AUTHTOK_ERR;
	}
	/* These prompts are what a Samba "passwd chat" matches (pam/README.md). */
	rc = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &first, "%s", "New password: ");
	if (rc == PAM_SUCCESS && first != NULL)
		rc = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &second, "%s", "Retype new password: ");
	if (rc != PAM_SUCCESS || first == NULL || second == NULL) {
		rc = PAM_AUTHTOK_ERR;
	} else {
		same = strcmp(first, second) == 0;
		if (!same) {
			tell(pamh, o, PAM_ERROR_MSG, "Sorry, passwords do not match.");
			rc = PAM_AUTHTOK_ERR;
		} else {
			rc = pam_set_item(pamh, PAM_AUTHTOK, first);
			if (rc == PAM_SUCCESS)
				rc = pam_get_item(pamh, PAM_AUTHTOK, &item);
			if (rc == PAM_SUCCESS)
				*pw = item;
		}
	}
	if (first) {
		wipe(first, strlen(first));
		free(first);
	}
	if (second) {
		wipe(second, strlen(second));
		free(second);
	}
	return rc;
}

/* PAM_UPDATE_AUTHTOK: set the new password. */
static int chauthtok_update(pam_handle_t *pamh, int flags, const struct opts *o, const struct call *c)
{
	struct reply rp;
	const void *old = NULL;
	const char *newpw = NULL;
	int rc, as_root = root_mode(pamh, flags);

	if (!as_root) {
		(void)pam_get_item(pamh, PAM_OLDAUTHTOK, &old);
		if (old == NULL && (pam_get_data(pamh, SAVED_AUTHTOK_KEY, &old) != PAM_SUCCESS || old == NULL))
			return PAM_AUTHTOK_RECOVERY_ERR;
	}
	rc = get_new_authtok(pamh, o, &newpw);
	if (rc != PAM_SUCCESS)
		return rc;
	if (as_root)
		rc = call_daemon(pamh, o, NASAUTH_OP_CHPW_ROOT, c, NULL, newpw, &rp);
	else
		rc = call_daemon(pamh, o, NASAUTH_OP_CHPW, c, old, newpw, &rp);
	if (rp.reason == NASAUTH_R_OK)
		forget_saved(pamh); /* the old password is no longer anything */
	else if (rp.reason == NASAUTH_R_PASSWORD_REJECTED)
		(void)pam_set_item(pamh, PAM_AUTHTOK, NULL); /* let a retry ask again */
	tell_reason(pamh, o, &rp);
	return rc;
}

PAM_EXTERN int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct opts o;
	struct call c;
	int rc;

	parse_opts(pamh, flags, argc, argv, &o);
	rc = get_call(pamh, &o, &c);
	if (rc != PAM_SUCCESS)
		return remap(&o, PHASE_CHPW, rc);
	if (flags & PAM_PRELIM_CHECK)
		rc = chauthtok_prelim(pamh, flags, &o, &c);
	else if (flags & PAM_UPDATE_AUTHTOK)
		rc = chauthtok_update(pamh, flags, &o, &c);
	else
		rc = PAM_SERVICE_ERR;
	return remap(&o, PHASE_CHPW, rc);
}

PAM_EXTERN int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE; /* nothing to set up: the daemon keeps no sessions */
}

PAM_EXTERN int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)flags;
	(void)argc;
	(void)argv;
	forget_saved(pamh);
	return PAM_IGNORE;
}
