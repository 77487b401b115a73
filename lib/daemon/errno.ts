// strerror(3)'s texts for the errors the file commands meet: C sends `-ERR 0.<minor> <strerror>`.

/** strerror-like text for a failed system call. */
export function sysText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return SYS_TEXT.get(code ?? '') ?? code ?? (e instanceof Error ? e.message : String(e));
}

const SYS_TEXT: ReadonlyMap<string, string> = new Map([
  ['ENOENT', 'No such file or directory'],
  ['EEXIST', 'File exists'],
  ['EACCES', 'Permission denied'],
  ['EPERM', 'Operation not permitted'],
  ['ENOTDIR', 'Not a directory'],
  ['EISDIR', 'Is a directory'],
  ['ENOTEMPTY', 'Directory not empty'],
  ['ENOSPC', 'No space left on device'],
  ['EXDEV', 'Invalid cross-device link'],
  ['ENAMETOOLONG', 'File name too long'],
  ['EBUSY', 'Device or resource busy'],
  ['EROFS', 'Read-only file system'],
  ['ELOOP', 'Too many levels of symbolic links'],
  ['EFBIG', 'File too large'],
]);
