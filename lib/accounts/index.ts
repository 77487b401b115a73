// lib/accounts: the vpopmail operations every tool and vpopmaild share. Nothing here prints: results
// come back as values, failures as lib/exit.ts errors carrying C's codes.
export { accountsContext, toByteString, type AccountsContext, type AccountsContextOptions } from './context.ts';
export { findDomain, requireDomain, isAlias, ownerOf, type DomainRef } from './lookup.ts';
export { NameError, parseUserAddress, checkNewUserName, checkDomainName, checkNewDomainName, checkGecos, type UserAddress } from './names.ts';
export {
  addUser,
  deleteUser,
  modifyUser,
  modifyDomainUsers,
  setPassword,
  setQuota,
  rebuildMaildirsize,
  PasswordChangeDisabledError,
  MAX_PASSWORD_LENGTH,
  type AddUserRequest,
  type AddUserResult,
  type DeleteUserResult,
  type ModifyUserResult,
  type ModifyOptions,
  type ModifyDomainOptions,
  type PasswordInput,
  type UserChange,
} from './users.ts';
export {
  addDomain,
  addAliasDomain,
  deleteDomain,
  listDomains,
  describeDomain,
  AddDomainError,
  AliasDomainError,
  AliasesExistError,
  type AddDomainRequest,
  type AddDomainResult,
  type AddAliasDomainResult,
  type DeleteDomainResult,
  type DomainDescription,
  type DomainDetails,
  type PostmasterRequest,
} from './domains.ts';
export { userReport, domainUserReports, quotaUsagePercent, type FullUserReport, type ReportWants, type UserReport } from './reports.ts';
export {
  checkPasswordPolicy,
  loadPasswordPolicy,
  parsePasswordPolicy,
  PasswordPolicyError,
  type PasswordPolicy,
} from './password-policy.ts';
export { withOperationLocks, operationLockDir, DOMAINS_LOCK } from './op-lock.ts';
export { signalQmailSend } from './qmail-send.ts';
export { lookupSystemUser, type SystemUser } from './system-users.ts';
export { defaultDomainOf } from './default-domain.ts';
