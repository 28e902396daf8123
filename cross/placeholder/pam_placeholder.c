/* Placeholder PAM module: proves the armhf toolchain flags until pam/ builds
 * pam_nasauth.so. auth: succeeds only for password "placeholder". */
#define PAM_SM_AUTH
#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include <string.h>

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  const char *pw = NULL;
  (void)flags; (void)argc; (void)argv;
  if (pam_get_authtok(pamh, PAM_AUTHTOK, &pw, NULL) != PAM_SUCCESS || pw == NULL) return PAM_AUTH_ERR;
  return strcmp(pw, "placeholder") == 0 ? PAM_SUCCESS : PAM_AUTH_ERR;
}
PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
  (void)pamh; (void)flags; (void)argc; (void)argv;
  return PAM_SUCCESS;
}
