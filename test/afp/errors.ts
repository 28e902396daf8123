// AFP result codes (Apple "AFP Reference"; the same numbers as netatalk's include/atalk/afp.h).

export const AFP_RESULT = {
  kFPNoErr: 0,
  kASPSessClosed: -1072,
  kASPServerBusy: -1068, // netatalk AFPERR_MAXSESS
  kFPAccessDenied: -5000,
  kFPAuthContinue: -5001,
  kFPBadUAM: -5002,
  kFPBadVersNum: -5003,
  kFPBitmapErr: -5004,
  kFPCantMove: -5005,
  kFPDenyConflict: -5006,
  kFPDirNotEmpty: -5007,
  kFPDiskFull: -5008,
  kFPEOFErr: -5009,
  kFPFileBusy: -5010,
  kFPFlatVol: -5011,
  kFPItemNotFound: -5012,
  kFPLockErr: -5013,
  kFPMiscErr: -5014,
  kFPNoMoreLocks: -5015,
  kFPNoServer: -5016,
  kFPObjectExists: -5017,
  kFPObjectNotFound: -5018,
  kFPParamErr: -5019,
  kFPRangeNotLocked: -5020,
  kFPRangeOverlap: -5021,
  kFPSessClosed: -5022,
  kFPUserNotAuth: -5023,
  kFPCallNotSupported: -5024,
  kFPObjectTypeErr: -5025,
  kFPTooManyFilesOpen: -5026,
  kFPServerGoingDown: -5027,
  kFPCantRename: -5028,
  kFPDirNotFound: -5029,
  kFPIconTypeError: -5030,
  kFPVolLocked: -5031,
  kFPObjectLocked: -5032,
  kFPContainsSharedErr: -5033,
  kFPIDNotFound: -5034,
  kFPIDExists: -5035,
  kFPDiffVolErr: -5036,
  kFPCatalogChanged: -5037,
  kFPSameObjectErr: -5038,
  kFPBadIDErr: -5039,
  kFPPwdSameErr: -5040,
  kFPPwdTooShortErr: -5041,
  kFPPwdExpiredErr: -5042,
  kFPInsideSharedErr: -5043,
  kFPInsideTrashErr: -5044,
  kFPPwdNeedsChangeErr: -5045,
  kFPPwdPolicyErr: -5046,
  kFPUserAlreadyLoggedOn: -5047, // netatalk AFPERR_USRLOGIN
} as const;

export type AfpResultName = keyof typeof AFP_RESULT;

const BY_CODE = new Map<number, string>(Object.entries(AFP_RESULT).map(([k, v]) => [v, k]));

/** Name of an AFP result code, e.g. -5023 -> "kFPUserNotAuth"; unknown codes -> "AFP(<n>)". */
export function afpResultName(code: number): string {
  return BY_CODE.get(code) ?? `AFP(${code})`;
}

/** An AFP call that the server answered with a result other than the one(s) expected. */
export class AfpError extends Error {
  readonly code: number;
  readonly codeName: string;
  constructor(what: string, code: number) {
    super(`${what}: ${afpResultName(code)} (${code})`);
    this.name = 'AfpError';
    this.code = code;
    this.codeName = afpResultName(code);
  }
}
