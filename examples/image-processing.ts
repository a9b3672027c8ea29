/**
 * Image upload: check the size, make a thumbnail, upload it.
 *
 *   npx tsx examples/image-processing.ts
 */
import { createWorkflow, Flux, FluxEngine, type FluxResult, FluxSilentLogger } from 'fluxflow'
import { image } from './support/images.js'
import { isMain } from './support/is-main.js'
import { ObjectStore } from './support/object-store.js'

const MAX_BYTES = 10 * 1024 * 1024

interface UploadData {
  thumbnail: Uint8Array
  url: string
}

export interface Outcome {
  accepted: FluxResult<UploadData>
  rejected: FluxResult<UploadData>
  uploaded: string[]
}

export async function main(): Promise<Outcome> {
  const s3 = new ObjectStore('avatars')

  const uploadWorkflow = createWorkflow('image-processing')
    .input<{ fileBuffer: Buffer; fileName: string; userId: string }>()
    .data<UploadData>()
    // As a step, as in the origin's sample. `.validate(guard)` on the builder would reject the
    // input before a run (and its 10 MB buffer) is even stored.
    .step('validate', (ctx) => {
      if (ctx.input.fileBuffer.length > MAX_BYTES) Flux.fail('File size exceeds 10MB')
    })
    // Binary data is checkpointed like any other value: a crash after this step does not redo
    // the resize. (Keep large blobs in object storage and checkpoint their keys instead.)
    .step('resize', async (ctx) => {
      ctx.data.thumbnail = await image(ctx.input.fileBuffer).resize(200).toBuffer()
    })
    // Uploading under a fixed key is naturally idempotent, but it is still the step with an effect
    // outside the run, so it is a commit.
    .commit('upload', async (ctx) => {
      ctx.data.url = await s3.upload(`${ctx.input.userId}/${ctx.input.fileName}`, ctx.data.thumbnail)
    })

  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  try {
    const photo = Buffer.alloc(64 * 1024, 7)
    const accepted = await engine.execute(uploadWorkflow, {
      fileBuffer: photo,
      fileName: 'me.png',
      userId: 'u_1',
    })
    const rejected = await engine.execute(uploadWorkflow, {
      fileBuffer: Buffer.alloc(MAX_BYTES + 1),
      fileName: 'huge.png',
      userId: 'u_2',
    })
    return { accepted, rejected, uploaded: [...s3.objects.keys()] }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { accepted, rejected } = await main()
  console.log(
    `me.png:   ${accepted.status}, ${accepted.data.thumbnail.length}-byte thumbnail at ${accepted.data.url}`,
  )
  console.log(`huge.png: ${rejected.status} (${rejected.error?.message})`)
}
