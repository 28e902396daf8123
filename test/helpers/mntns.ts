// A process's mount namespace, pinned. The helpers that stop smbd and afpd also kill
// whatever is left in the server's mount namespace, found by its name (mnt:[inode]).
// Once the namespace is gone the kernel gives that number to the next new namespace,
// and the next one was a pamtester another test file had just started in its own
// namespace: it was killed mid-login (CI, 2026-11-30: "unknown (exit null)"). An open
// file descriptor on the namespace keeps it alive, so its number cannot be given away
// while the helper may still kill by it.
import * as fs from 'node:fs';

export interface PinnedNs { readonly name: string; release(): void }

/** Pin `pid`'s mount namespace; null when the process is gone. */
export function pinMountNs(pid: number): PinnedNs | null {
  let fd: number;
  try { fd = fs.openSync(`/proc/${pid}/ns/mnt`, 'r'); } catch { return null; }
  let name: string;
  // the name of what the descriptor holds (the pid may already belong to someone else)
  try { name = fs.readlinkSync(`/proc/self/fd/${fd}`); } catch { fs.closeSync(fd); return null; }
  let open = true;
  return { name, release() { if (open) { open = false; fs.closeSync(fd); } } };
}
