// A list in a wanted order without sorting it again: the store keeps its accounts in the
// order they were made (Store.accountList), which is often already the order a caller
// wants (uid order for the passwd file, name order for the service groups).

/** `list` itself when it is already in `cmp`'s order, else a sorted copy. */
export function inOrder<T>(list: readonly T[], cmp: (a: T, b: T) => number): readonly T[] {
  for (let i = 1; i < list.length; i++) if (cmp(list[i - 1], list[i]) > 0) return [...list].sort(cmp);
  return list;
}
