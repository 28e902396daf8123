/*
 * bench/pam_echo.c: the floor of figure 3 measured as one piece. A PAM module that
 * does nothing but one bare frame round trip to the Node echo server
 * (bench/lib/floor.js pam): socket, connect, send an AUTH frame with the user and the
 * password the conversation gave, read the fixed reply, close, PAM_SUCCESS.
 *
 * Why: "pam_permit + a bare round trip" measured as two separate loops assumes the
 * two costs add. They do not on a machine where waking a sleeping process is dear
 * (a VM's halted vCPU): the echo loop runs its round trips back to back, so the echo
 * server is still awake when the next connect arrives; inside a PAM transaction the
 * server has gone to sleep during pam_start. This module pays what pam_nasauth pays
 * apart from the daemon's own work (libpam, the conversation, the module's load, the
 * server's wake-ups), so pam_nasauth over it is the daemon's and the module's cost.
 *
 *   auth required /path/pam_echo.so socket=/path/floor.sock
 */
#define PAM_SM_AUTH
#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int put(unsigned char *b, size_t *off, const char *s, size_t cap)
{
	size_t n = s ? strlen(s) : 0;
	if (*off + 2 + n > cap)
		return -1;
	b[(*off)++] = (unsigned char)(n >> 8);
	b[(*off)++] = (unsigned char)n;
	memcpy(b + *off, s, n);
	*off += n;
	return 0;
}

static int read_full(int fd, unsigned char *b, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const char *path = NULL, *user = NULL, *pw = NULL;
	unsigned char f[1100], head[4], body[512];
	size_t off = 4;
	struct sockaddr_un sa;
	int i, fd, ok = 0;
	(void)flags;
	for (i = 0; i < argc; i++)
		if (strncmp(argv[i], "socket=", 7) == 0)
			path = argv[i] + 7;
	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return PAM_AUTHINFO_UNAVAIL;
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || pam_get_authtok(pamh, PAM_AUTHTOK, &pw, NULL) != PAM_SUCCESS)
		return PAM_AUTH_ERR;
	f[off++] = 1; /* version */
	f[off++] = 2; /* AUTH */
	f[off++] = 0;
	f[off++] = 0;
	if (put(f, &off, "smb", sizeof(f)) || put(f, &off, user, sizeof(f)) || put(f, &off, pw, sizeof(f)) ||
	    put(f, &off, "", sizeof(f)) || put(f, &off, "", sizeof(f)))
		return PAM_AUTH_ERR;
	f[0] = (unsigned char)((off - 4) >> 24);
	f[1] = (unsigned char)((off - 4) >> 16);
	f[2] = (unsigned char)((off - 4) >> 8);
	f[3] = (unsigned char)(off - 4);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    send(fd, f, off, MSG_NOSIGNAL) == (ssize_t)off && read_full(fd, head, 4) == 0) {
		size_t rl = ((size_t)head[0] << 24) | ((size_t)head[1] << 16) | ((size_t)head[2] << 8) | head[3];
		ok = rl >= 6 && rl <= sizeof(body) && read_full(fd, body, rl) == 0 && body[0] == 1 && body[1] == 0;
	}
	if (fd >= 0)
		close(fd);
	memset(f, 0, sizeof(f));
	return ok ? PAM_SUCCESS : PAM_AUTHINFO_UNAVAIL;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh; (void)flags; (void)argc; (void)argv;
	return PAM_SUCCESS;
}
