// vchkpw: the checkpassword program for virtual users (qmail-popup, SMTP AUTH, Dovecot's checkpassword).
import { authenticate } from '../lib/auth/vchkpw.ts';
import { parseCheckpassword, readCheckpasswordFd } from '../lib/auth/checkpassword.ts';
import { detectConnection } from '../lib/auth/connection.ts';
import { envRecord, execProgram, resolveProgram, runProgramWithFds } from '../lib/auth/exec.ts';
import { dropToAccount, isDovecotCaller, sessionEnv } from '../lib/auth/session.ts';
import { openBackend } from '../lib/backends/open.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { loadConfig } from '../lib/config.ts';
import { VCHKPW_EXIT, firstLine } from '../lib/exit.ts';
import { logEvent } from '../lib/log.ts';
import { rememberingAssignLookup } from '../lib/store/assign.ts';

export default defineAgent('vchkpw', async ({ argv, env, io }) => {
  const program = argv[0];
  const config = loadConfig(env);
  const conn = detectConnection(env, program, config.webmailIps);
  const fd3 = readCheckpasswordFd();
  if (fd3.kind === 'unreadable') {
    io.stderr(`${conn.logName}: no login data on fd 3 (${fd3.code}): vchkpw is run by a checkpassword client such as qmail-popup, not from a shell\n`);
    return VCHKPW_EXIT.noFd3;
  }
  if (fd3.kind === 'oversized') {
    logEvent(io, conn.logName, 'login refused', { ip: conn.remoteIp, reason: 'more than 512 bytes on fd 3' });
    return VCHKPW_EXIT.misuse;
  }
  if (program === undefined || program === '') {
    io.stderr(`${conn.logName}: usage: vchkpw program [arguments]: no program to run after the login\n`);
    return VCHKPW_EXIT.misuse;
  }
  const dovecot = isDovecotCaller(env);
  const input = parseCheckpassword(fd3.data);
  // One users/cdb read for the login's domain, shared by every step that needs it (vchkpw never changes users/cdb).
  const resolveDomain = rememberingAssignLookup(config.qmailHome);
  const backend = await openBackend(config, { resolveDomain });
  let decision;
  try {
    decision = await authenticate(input, conn, { config, backend, env, io, nowSec: Math.floor(Date.now() / 1000), resolveDomain });
  } catch (err) {
    logEvent(io, conn.logName, 'login deferred', { ip: conn.remoteIp, reason: firstLine(err) });
    return VCHKPW_EXIT.temp; // could not look: the client may try again, never a wrong-password answer
  } finally {
    await backend.close();
  }
  if (decision.kind === 'refuse') {
    // Dovecot reads 1 as "wrong credentials" and anything else but 111 as an internal failure.
    return dovecot && decision.code !== VCHKPW_EXIT.temp ? VCHKPW_EXIT.denied : decision.code;
  }
  const { account } = decision;
  const target = resolveProgram(program, env.PATH);
  const drop = dropToAccount(account, conn.service, dovecot);
  const who = { user: account.user, domain: account.domain, ip: conn.remoteIp };
  if (!drop.ok) {
    logEvent(io, conn.logName, `${drop.step} failed`, { ...who, reason: drop.errno });
    return drop.code;
  }
  if (target === undefined) {
    logEvent(io, conn.logName, 'exec failed', { ...who, reason: `cannot run ${program}` });
    return VCHKPW_EXIT.temp;
  }
  const args = [program, ...argv.slice(1)];
  const sessionVars = envRecord(sessionEnv(env, account, dovecot));
  if (dovecot) runProgramWithFds(target, args, sessionVars, [4]);
  execProgram(target, args, sessionVars);
});
