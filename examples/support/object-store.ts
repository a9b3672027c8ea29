/** An S3-like bucket: `upload` stores bytes under a key and returns the object's URL. */
export class ObjectStore {
  readonly objects = new Map<string, Uint8Array>()
  uploads = 0

  constructor(readonly bucket = 'flux-examples') {}

  async upload(key: string, body: Uint8Array): Promise<string> {
    this.objects.set(key, body)
    this.uploads++
    return `https://${this.bucket}.s3.example.com/${key}`
  }
}
