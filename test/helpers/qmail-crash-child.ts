// Crash-test child: one edit of users/assign or the control files with a Durable that SIGKILLs the
// process at the n-th write/fsync/rename. Usage: qmail-crash-child.ts QMAILHOME OP N
import { faultyDurable } from '../../lib/fs/durable.ts';
import { insertAssignLine, removeAssignDomains } from '../../lib/store/assign.ts';
import { addRcptHost, removeRcptHosts } from '../../lib/store/control-files.ts';

const [home, op, n] = process.argv.slice(2);
if (home === undefined || op === undefined || n === undefined) throw new Error('usage: qmail-crash-child.ts QMAILHOME OP N');
const durable = faultyDurable({ op: 'any', n: Number(n) });

switch (op) {
  case 'assign-insert':
    insertAssignLine(home, '+crash.test-:crash.test:89:89:/home/vpopmail/domains/crash.test:-::', { durable });
    break;
  case 'assign-remove':
    removeAssignDomains(home, ['b.test'], { durable });
    break;
  case 'morercpthosts-add':
    addRcptHost(home, 'crash.test', { durable });
    break;
  case 'morercpthosts-remove-last':
    removeRcptHosts(home, ['only.test'], { durable });
    break;
  default:
    throw new Error(`unknown op ${op}`);
}
