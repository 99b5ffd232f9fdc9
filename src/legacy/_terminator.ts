// Terminator scanning for AsyncChat (internal).

/**
 * asynchat's `find_prefix_at_end(haystack, needle)`: the length of the longest proper prefix of
 * `needle` that `haystack` ends with (0 when none). AsyncChat holds those bytes back, since the
 * next chunk may complete the terminator.
 *
 * findPrefixAtEnd('qwerty\r', '\r\n') === 1; findPrefixAtEnd('qwertydkjf', '\r\n') === 0
 */
export function findPrefixAtEnd(haystack: Uint8Array, needle: Uint8Array): number {
  let length = Math.min(needle.length - 1, haystack.length);
  const end = haystack.length;
  for (; length > 0; length--) {
    let matches = true;
    const start = end - length;
    for (let i = 0; i < length; i++) {
      if (haystack[start + i] !== needle[i]) {
        matches = false;
        break;
      }
    }
    if (matches) return length;
  }
  return 0;
}
