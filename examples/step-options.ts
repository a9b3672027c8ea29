/**
 * Step options: `retries`, `timeout`, `when`, plus fluxflow's `backoff` and `retryIf`.
 *
 *   npx tsx examples/step-options.ts
 */
import { createWorkflow, FluxEngine, type FluxResult, FluxSilentLogger, type FluxTraceEvent } from 'fluxflow'
import { isMain } from './support/is-main.js'

/** A profile API that answers 503 twice, then works; unknown users are a 404. */
class ProfileApi {
  calls = 0

  async get(userId: string): Promise<{ name: string; orders: number }> {
    this.calls++
    if (userId === 'ghost') throw new HttpError(404, `no user ${userId}`)
    if (this.calls <= 2) throw new HttpError(503, 'service unavailable')
    return { name: 'Ada', orders: 12 }
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`${status} ${message}`)
  }
}

/** A scoring model whose first call hangs (until aborted); later calls answer quickly. */
class ScoringModel {
  calls = 0

  score(orders: number, signal: AbortSignal): Promise<number> {
    this.calls++
    const ms = this.calls === 1 ? 5_000 : 1
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(orders * 7), ms)
      // Honouring ctx.signal lets a timed-out attempt stop its work instead of running on unseen.
      signal.addEventListener('abort', () => {
        clearTimeout(timer)
        reject(signal.reason)
      })
    })
  }
}

interface ProfileData {
  profile: { name: string; orders: number }
  score: number
  perks: string[]
}

export interface Outcome {
  known: FluxResult<ProfileData>
  ghost: FluxResult<ProfileData>
  apiCalls: number
  retries: { step: string; attempt: number; delay: unknown }[]
}

export async function main(): Promise<Outcome> {
  const api = new ProfileApi()
  const model = new ScoringModel()

  const flow = createWorkflow('enrich-profile')
    .input<{ userId: string }>()
    .data<ProfileData>()
    .step(
      'fetch-profile',
      async (ctx) => {
        ctx.data.profile = await api.get(ctx.input.userId)
      },
      {
        retries: 5,
        // Retry n waits min(max, initial · factorⁿ⁻¹) ms: 10, 20, 40… (no jitter, to show the numbers).
        backoff: { initial: 10, factor: 2, max: 1_000, jitter: false },
        // Only server errors are worth retrying; a 404 will be a 404 next time too.
        retryIf: (error) => !(error instanceof HttpError && error.status < 500),
      },
    )
    .step(
      'score',
      async (ctx) => {
        ctx.data.score = await model.score(ctx.data.profile.orders, ctx.signal)
      },
      // 100 ms per attempt: the hung first call is aborted (StepTimeoutError) and retried.
      // A function backoff decides the delay from the retry number and the error.
      { timeout: 100, retries: 1, backoff: (retry) => retry * 5 },
    )
    .step(
      'vip-perks',
      (ctx) => {
        ctx.data.perks = ['free-shipping']
      },
      // Decided once and recorded: a run recovered later does not ask again.
      { when: (ctx) => ctx.data.score > 100 },
    )
    .step(
      'starter-perks',
      (ctx) => {
        ctx.data.perks = ['welcome-coupon']
      },
      { when: (ctx) => ctx.data.score <= 100 },
    )

  const retries: Outcome['retries'] = []
  const engine = new FluxEngine({
    logger: new FluxSilentLogger(),
    // A trace sink is any object with `emit`; this one keeps the retry events.
    trace: {
      emit: (event: FluxTraceEvent) => {
        if (event.type === 'step:retry')
          retries.push({ step: event.stepName ?? '', attempt: event.attempt ?? 0, delay: event.meta?.delay })
      },
    },
  })
  try {
    const known = await engine.execute(flow, { userId: 'ada' })
    const ghost = await engine.execute(flow, { userId: 'ghost' })
    return { known, ghost, apiCalls: api.calls, retries }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { known, ghost, retries } = await main()
  for (const step of known.history) {
    console.log(
      `${step.name.padEnd(14)} ${step.status.padEnd(10)} attempts: ${step.attempts} ${step.error ?? ''}`,
    )
  }
  console.log(`retries: ${retries.map((r) => `${r.step}#${r.attempt} after ${r.delay} ms`).join(', ')}`)
  console.log(`ghost: ${ghost.status} after ${ghost.history[0]?.attempts} attempt (${ghost.error?.message})`)
}
