// Working as another user for a while: a root program switches its effective ids (and its
// supplementary groups) to a domain owner's, so that the kernel itself refuses whatever that owner
// could not do, then switches back. The real and saved uid stay 0, which is what allows the way back.

export interface Ids {
  readonly uid: number;
  readonly gid: number;
}

/** Switch back to the ids in force before the switch. */
export type RestoreIds = () => void;

/** Switch the effective ids to `to` (groups first, while we may still change them); root only. */
export type SwitchIds = (to: Ids) => RestoreIds;

/**
 * The process's own switch (Node and Bun: glibc applies it to every thread). Only the supplementary
 * group `to.gid` is kept while switched, as the owner's own processes would have it: root's groups
 * would otherwise still open files of group root. Throws when the switch cannot be made; restoring
 * cannot fail for a process whose real uid is 0, and if it ever did the process exits rather than
 * go on with the wrong ids.
 */
export const switchEffectiveIds: SwitchIds = (to) => {
  const groups = process.getgroups!();
  const egid = process.getegid!();
  const euid = process.geteuid!();
  process.setgroups!([to.gid]);
  try {
    process.setegid!(to.gid);
    process.seteuid!(to.uid);
  } catch (err) {
    restore(euid, egid, groups);
    throw err;
  }
  return () => restore(euid, egid, groups);
};

function restore(euid: number, egid: number, groups: number[]): void {
  try {
    process.seteuid!(euid);
    process.setegid!(egid);
    process.setgroups!(groups);
  } catch (err) {
    process.stderr.write(`cannot switch back to uid ${euid} (${(err as Error).message}): stopping\n`);
    process.exit(111);
  }
}
