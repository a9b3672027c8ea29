/** FNV-1a, 64 bit, as hex. Stable across processes and platforms; no crypto needed. */
export function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n
  const prime = 0x100000001b3n
  const mask = 0xffffffffffffffffn
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i))
    hash = (hash * prime) & mask
  }
  return hash.toString(16).padStart(16, '0')
}

/** The key a run is matched on: by explicit version when there is one, else by shape hash. */
export function definitionKey(name: string, version: string | null, hash: string): string {
  return version === null ? `${name}#${hash}` : `${name}@${version}`
}
