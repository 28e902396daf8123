/*
 * nasauth_proto.h - the PAM socket protocol between pam_nasauth.so and nasauthd.
 *
 * This header IS the specification (docs/protocol.md "PAM socket" says the same in
 * prose; daemon/pam-frame.ts implements the daemon side). Change it only under the
 * rules in pam/README.md: compatible additions append opcodes or reason codes;
 * anything else bumps NASAUTH_PROTO_VERSION.
 *
 * Grammar (all integers big-endian, no terminators, no escaping):
 *
 *   request   = length:u32 version:u8 opcode:u8 reserved:u16 field*
 *   field     = flen:u16 byte{flen}
 *   reply     = length:u32 version:u8 reason:u8 retry_after:u16 message
 *   message   = mlen:u16 byte{mlen}              (UTF-8, mlen <= 255)
 *
 *   length      counts the bytes that follow it (so a frame is length + 4 bytes)
 *   version     NASAUTH_PROTO_VERSION; anything else is refused with bad_request
 *   reserved    0 (a non-zero value is refused: it is kept for flags)
 *   field*      exactly the fields of the opcode, in the order listed below; a missing
 *               or extra field, or one over its limit, is bad_request
 *   reason      one of the reason codes below
 *   retry_after seconds (locked_out, rate_limited, busy), else 0
 *
 * Why binary counted fields and not JSON: the C side needs no escaping, and passwords
 * travel byte-exact (Latin-1 stays Latin-1; the daemon canonicalises, see
 * docs/protocol.md "Password bytes").
 *
 * Connection: the client connects, sends one request, reads one reply, and may send
 * more requests on the same connection (the daemon answers in order), promptly: see
 * the server timeouts below. A framing error
 * (bad length, version, reserved, opcode, field list) is answered with bad_request
 * where possible and the daemon closes the connection. A well-formed request that is
 * not allowed (CHPW_ROOT on the ordinary socket) is answered with bad_request and the
 * connection stays open.
 *
 * Sockets: NASAUTH_PAM_SOCKET (mode 0666) takes PING, AUTH, CHPW.
 * NASAUTH_PAM_PRIV_SOCKET (mode 0600, root) takes all of them plus ACCT and CHPW_ROOT:
 * Node cannot read SO_PEERCRED, so "the caller is root" is proven by the file mode
 * alone. The module uses the privileged socket for every request when it runs as root
 * (euid 0: sshd, login, su, smbd, afpd), so a local user who floods the 0666 socket
 * cannot keep anybody from logging in; it uses the 0666 socket only when it is not root.
 */
#ifndef NASAUTH_PROTO_H
#define NASAUTH_PROTO_H

#define NASAUTH_PROTO_VERSION 1

/* default paths on the device (module options socket= and priv_socket= override) */
#define NASAUTH_PAM_SOCKET      "/run/nasauth/pam.sock"
#define NASAUTH_PAM_PRIV_SOCKET "/run/nasauth/pam-priv.sock"

/* ---- opcodes ---------------------------------------------------------------------- */

/* PING: is the daemon there and does it speak this version?
 *   request: (no fields)
 *   reply:   ok, message "nasauthd <version>" */
#define NASAUTH_OP_PING 1

/* AUTH: prove a password, then check the account's policy for the service.
 *   request: service, user, password, rhost, ruser
 *   reply:   ok | bad_credentials | account_disabled | service_denied | locked_out |
 *            must_change_password | rate_limited | busy | unavailable | bad_request |
 *            internal_error. A wrong password and an unknown user both answer
 *            bad_credentials (nobody learns who exists from AUTH). */
#define NASAUTH_OP_AUTH 2

/* ACCT: account phase, no password: may this account use the service now?
 * Only on the privileged socket (it tells whether a name exists, is disabled, locked or
 * must change its password); elsewhere bad_request. The module asks it only as root.
 *   request: service, user, rhost
 *   reply:   ok | unknown_user | account_disabled | service_denied | locked_out |
 *            must_change_password | unavailable | bad_request | internal_error */
#define NASAUTH_OP_ACCT 3

/* CHPW: change one's own password; the old one must be proven.
 *   request: service, user, old password, new password, rhost
 *   reply:   ok | bad_credentials | account_disabled | service_denied | locked_out |
 *            rate_limited | password_rejected (message says why) | busy |
 *            unavailable | bad_request | internal_error */
#define NASAUTH_OP_CHPW 4

/* CHPW_ROOT: root sets a password without the old one (passwd as root, Samba's
 * "pam password change"). Only on the privileged socket; elsewhere bad_request.
 *   request: service, user, new password, rhost
 *   reply:   ok | unknown_user | account_disabled | service_denied |
 *            password_rejected | busy | unavailable | bad_request | internal_error */
#define NASAUTH_OP_CHPW_ROOT 5

#define NASAUTH_OP_MAX 5

/* ---- size limits (bytes) ---------------------------------------------------------- */

#define NASAUTH_MAX_SERVICE  64   /* PAM service names are short; the daemon's limit too */
#define NASAUTH_MAX_USER     256  /* far above any account name (32): room for typos to be
                                     answered as bad_credentials, not as a framing error */
#define NASAUTH_MAX_PASSWORD 512  /* PAM_MAX_RESP_SIZE: a conversation cannot give more */
#define NASAUTH_MAX_HOST     256  /* rhost / ruser: a DNS name is at most 253 */
#define NASAUTH_MAX_MESSAGE  255  /* reply message: one line for pam_error() */
#define NASAUTH_MAX_REQUEST  2048 /* whole request frame incl. the length; CHPW at its
                                     limits is 1618 bytes */
#define NASAUTH_MAX_REPLY    512  /* whole reply frame incl. the length (10 + 255 used) */
#define NASAUTH_HEADER_SIZE  8    /* length + version + opcode/reason + reserved/retry */

/* ---- timeouts --------------------------------------------------------------------- */

/* Client: a cache miss is one slow hash, possibly queued behind others (max_queued x
 * ~0.3 s on the ARM target); stay well under the callers' own limits (sshd
 * LoginGraceTime 120 s, afpd's DSI tickle 30 s). Option timeout= overrides. */
#define NASAUTH_CLIENT_TIMEOUT_S 10
/* Server: a local client writes its whole request at once; a frame left incomplete
 * this long is a stuck or hostile client, and it holds a connection slot. */
#define NASAUTH_SERVER_READ_TIMEOUT_MS 5000
/* Server: the module sends one request per connection and closes after the reply; a
 * connection with no request in progress is closed this long after it connected or
 * after its last answer to anything but a PING (a PING does not keep it alive). */
#define NASAUTH_SERVER_IDLE_TIMEOUT_MS 5000
/* Server: concurrent connections per PAM socket. At the cap a new connection closes
 * the one idle longest; only when every one has a request in progress is the new one
 * closed at once (the client sees a transport failure: PAM_AUTHINFO_UNAVAIL). */
#define NASAUTH_SERVER_MAX_CONNECTIONS 128
/* Server: requests read ahead of the one being answered on one connection. */
#define NASAUTH_SERVER_MAX_PIPELINE 8

/* ---- reason codes ----------------------------------------------------------------- */
/* The same numbers and names as daemon/reasons.ts and docs/protocol.md (checked by
 * test/reasons.test.ts). Never renumber; only append. */

#define NASAUTH_R_OK                   0  /* "ok" */
#define NASAUTH_R_BAD_CREDENTIALS      1  /* "bad_credentials" */
#define NASAUTH_R_ACCOUNT_DISABLED     2  /* "account_disabled" */
#define NASAUTH_R_SERVICE_DENIED       3  /* "service_denied" */
#define NASAUTH_R_LOCKED_OUT           4  /* "locked_out" */
#define NASAUTH_R_MUST_CHANGE_PASSWORD 5  /* "must_change_password" */
#define NASAUTH_R_UNAVAILABLE          6  /* "unavailable" */
#define NASAUTH_R_RATE_LIMITED         7  /* "rate_limited" */
#define NASAUTH_R_UNKNOWN_USER         8  /* "unknown_user" */
#define NASAUTH_R_PASSWORD_REJECTED    9  /* "password_rejected" */
#define NASAUTH_R_BUSY                 10 /* "busy" */
#define NASAUTH_R_BAD_REQUEST          11 /* "bad_request" */
#define NASAUTH_R_INTERNAL_ERROR       12 /* "internal_error" */

#define NASAUTH_REASON_COUNT 13

/* Names by code, for logs; a test compares this table with daemon/reasons.ts. */
#define NASAUTH_REASON_NAMES { \
	"ok",                   \
	"bad_credentials",      \
	"account_disabled",     \
	"service_denied",       \
	"locked_out",           \
	"must_change_password", \
	"unavailable",          \
	"rate_limited",         \
	"unknown_user",         \
	"password_rejected",    \
	"busy",                 \
	"bad_request",          \
	"internal_error",       \
}

#endif /* NASAUTH_PROTO_H */
