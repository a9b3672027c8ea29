/**
 * A stand-in for `sharp`, with the same fluent shape: `image(buffer).resize(200).toBuffer()`.
 * It "resizes" by sampling bytes, which is enough to produce a smaller buffer deterministically.
 */
export function image(input: Uint8Array) {
  let width: number | undefined
  const pipeline = {
    resize(w: number) {
      width = w
      return pipeline
    },
    async toBuffer(): Promise<Buffer> {
      if (width === undefined) return Buffer.from(input)
      const size = Math.min(input.length, width * 4)
      const step = input.length / size
      return Buffer.from(Array.from({ length: size }, (_, i) => input[Math.floor(i * step)] ?? 0))
    },
  }
  return pipeline
}
