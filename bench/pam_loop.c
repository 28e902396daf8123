/*
 * pam_loop: time whole PAM transactions in-process, or the bare socket round trip
 * they are compared with. Built by the harness (bench/pam.ts): gcc -O2 pam_loop.c -lpam
 *
 *   pam_loop pam CONFDIR SERVICE USER PASSWORD N EXPECT
 *       N times: pam_start_confdir(SERVICE, USER, conv, CONFDIR) + pam_authenticate + pam_end,
 *       the conversation answering PASSWORD to every prompt. A transaction whose
 *       pam_authenticate result is not EXPECT (0 = PAM_SUCCESS) is an error.
 *   pam_loop echo SOCKET N
 *       N times: connect to SOCKET, send one AUTH frame (docs/protocol.md "PAM socket"),
 *       read the length-prefixed reply, check version 1 and reason 0, close: the floor,
 *       what pam_nasauth does per transaction minus libpam and the daemon.
 *
 * Prints one line per transaction: the elapsed nanoseconds; then "errors N" on stderr.
 * Exit status 0 when there was no error, 1 otherwise, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <security/pam_appl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	const char *password = data;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			r[i].resp = strdup(password);
	}
	*resp = r;
	return PAM_SUCCESS;
}

static int run_pam(const char *confdir, const char *service, const char *user, const char *password, long n, int expect)
{
	struct pam_conv c = { conv, (void *)password };
	long errors = 0;
	for (long i = 0; i < n; i++) {
		pam_handle_t *h = NULL;
		uint64_t t0 = now_ns();
		int rc = pam_start_confdir(service, user, &c, confdir, &h);
		if (rc == PAM_SUCCESS)
			rc = pam_authenticate(h, 0);
		int rc_end = h ? pam_end(h, rc) : PAM_SUCCESS;
		uint64_t t1 = now_ns();
		if (rc != expect || rc_end != PAM_SUCCESS) {
			errors++;
			if (errors <= 3)
				fprintf(stderr, "transaction %ld: pam_authenticate %d (%s), expected %d\n", i, rc, h ? "see pam_strerror" : "pam_start failed", expect);
		}
		printf("%llu\n", (unsigned long long)(t1 - t0));
	}
	fprintf(stderr, "errors %ld\n", errors);
	return errors ? 1 : 0;
}

static int put_field(unsigned char *buf, size_t *off, const char *s)
{
	size_t len = strlen(s);
	buf[(*off)++] = (unsigned char)(len >> 8);
	buf[(*off)++] = (unsigned char)(len & 0xff);
	memcpy(buf + *off, s, len);
	*off += len;
	return 0;
}

static int read_full(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int run_echo(const char *path, long n)
{
	unsigned char frame[512];
	size_t off = 4;
	frame[off++] = 1; /* version */
	frame[off++] = 2; /* AUTH */
	frame[off++] = 0;
	frame[off++] = 0;
	put_field(frame, &off, "benchpam");
	put_field(frame, &off, "bench0");
	put_field(frame, &off, "Bench-pass-0x");
	put_field(frame, &off, "");
	put_field(frame, &off, "");
	uint32_t len = (uint32_t)(off - 4);
	frame[0] = (unsigned char)(len >> 24);
	frame[1] = (unsigned char)(len >> 16);
	frame[2] = (unsigned char)(len >> 8);
	frame[3] = (unsigned char)len;

	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, path);
	long errors = 0;
	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		int ok = 0;
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    send(fd, frame, off, MSG_NOSIGNAL) == (ssize_t)off) {
			unsigned char head[4], body[512];
			if (read_full(fd, head, 4) == 0) {
				uint32_t rl = ((uint32_t)head[0] << 24) | ((uint32_t)head[1] << 16) | ((uint32_t)head[2] << 8) | head[3];
				if (rl >= 6 && rl <= sizeof(body) && read_full(fd, body, rl) == 0 && body[0] == 1 && body[1] == 0)
					ok = 1;
			}
		}
		if (fd >= 0)
			close(fd);
		uint64_t t1 = now_ns();
		if (!ok) {
			errors++;
			if (errors <= 3)
				fprintf(stderr, "round trip %ld failed: %s\n", i, strerror(errno));
		}
		printf("%llu\n", (unsigned long long)(t1 - t0));
	}
	fprintf(stderr, "errors %ld\n", errors);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 8 && strcmp(argv[1], "pam") == 0)
		return run_pam(argv[2], argv[3], argv[4], argv[5], atol(argv[6]), atoi(argv[7]));
	if (argc == 4 && strcmp(argv[1], "echo") == 0)
		return run_echo(argv[2], atol(argv[3]));
	fprintf(stderr, "usage: pam_loop pam CONFDIR SERVICE USER PASSWORD N EXPECT | pam_loop echo SOCKET N\n");
	return 2;
}
