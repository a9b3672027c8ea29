/**
 * A database with real runs in every status, made by running real workflows through
 * `FluxEngine` (nothing is written by hand): what the viewer and `flux runs` tests look at.
 *
 * One run is kept `running` by a step that never resolves (until aborted) on an engine that
 * stays open, so its lease stays live; `close()` stops it.
 */
import {
  createWorkflow,
  Flux,
  FluxEngine,
  FluxSilentLogger,
  type FluxStore,
  type WorkflowStorage,
} from '../../src/index.js'

/** The hostile strings: a script must never run from them, and they must show as text. */
export const XSS = {
  name: '<img src=x onerror=window.__xss=1>',
  error: '<script>window.__xss=2</script>',
  id: '<svg onload=window.__xss=3>',
} as const

/** Switches the tests flip so that a retried step succeeds. */
export interface Controls {
  sendBroken: boolean
}

/** Builds the workflows; `controls` is read by the steps at run time. */
export function viewerFlows(controls: Controls) {
  const checkout = createWorkflow('checkout')
    .input<{ failShip?: boolean; breakCompensation?: boolean; gift?: boolean }>()
    .step('validate', (ctx) => {
      ctx.data.items = new Map([
        ['sku-1', 2],
        ['sku-2', 1],
      ])
      ctx.data.placedAt = new Date(Date.UTC(2026, 0, 2, 3, 4, 5))
      ctx.data.tags = new Set(['vip'])
    })
    .step(
      'reserve-stock',
      (ctx) => {
        ctx.data.reserved = true
      },
      {
        compensate: (ctx) => {
          if (ctx.input.breakCompensation) throw new Error('warehouse API refused the release')
          ctx.data.reserved = false
        },
        // A compensation is retried with the step's policy: keep the failing one quick.
        retries: 1,
        backoff: { initial: 10, jitter: false },
      },
    )
    .commit('charge-card', (ctx) => {
      ctx.data.chargeId = `ch_${ctx.id}`
      ctx.data.cents = 2490n
    })
    .step(
      'gift-wrap',
      (ctx) => {
        ctx.data.wrapped = true
      },
      { when: (ctx) => ctx.input.gift === true },
    )
    .step(
      'ship',
      (ctx) => {
        if (ctx.input.failShip) throw new Error('carrier API down')
        ctx.data.label = new Uint8Array([0x25, 0x50, 0x44, 0x46])
        ctx.data.tracking = `TRK-${ctx.id}`
        delete ctx.data.tags
      },
      { retries: 2, backoff: { initial: 15, factor: 2, max: 100, jitter: false } },
    )

  const invoice = createWorkflow('invoice')
    .input<{ to: string }>()
    .step('draft', (ctx) => {
      ctx.data.draft = { to: ctx.input.to, lines: 3 }
    })
    .step(
      'send',
      (ctx) => {
        if (controls.sendBroken) throw new Error('SMTP timeout')
        ctx.data.sentAt = new Date()
      },
      { retries: 1, backoff: { initial: 10, jitter: false } },
    )

  const approval = createWorkflow('approval')
    .input<{ amount: number }>()
    .step('request', (ctx) => {
      ctx.data.requested = ctx.input.amount
    })
    .step('await-approval', () => Flux.wait('approved'))
    .step('finish', (ctx) => {
      ctx.data.approvedBy = (ctx.signals.approved as { by?: string } | undefined)?.by ?? 'unknown'
    })

  const report = createWorkflow('nightly-report')
    .step('prepare', (ctx) => {
      ctx.data.rows = 1200
    })
    .step('wait-for-night', () => Flux.sleep(3_600_000))
    .step('send', () => {})

  const importBatch = createWorkflow('import-batch')
    .step('fetch', (ctx) => {
      ctx.data.files = ['a.csv', 'b.csv']
    })
    // A commit: its start is durable before it runs, so the store shows the step running.
    .commit(
      'parse',
      (ctx) =>
        new Promise<void>((resolve) => {
          // Held open until the engine that runs it closes.
          ctx.signal.addEventListener('abort', () => resolve(), { once: true })
        }),
      { timeout: Number.POSITIVE_INFINITY, retries: 0 },
    )

  const hostile = createWorkflow(XSS.name)
    .step(XSS.name, (ctx) => {
      ctx.data[XSS.name] = XSS.error
      ctx.data.note = XSS.error
    })
    .step(
      '<b>bold</b>',
      () => {
        throw new Error(XSS.error)
      },
      { retries: 0 },
    )

  const ping = createWorkflow('ping').step('pong', (ctx) => {
    ctx.data.ok = true
  })

  return { checkout, invoice, approval, report, importBatch, hostile, ping }
}

/** The ids of the fixture's runs, by what they show. */
export const IDS = {
  completed: 'order-completed',
  rolledBack: 'order-rolled-back',
  compensationFailed: 'order-compensation-failed',
  failed: 'invoice-failed',
  suspended: 'approval-suspended',
  toSignal: 'approval-to-signal',
  toCancel: 'approval-to-cancel',
  cancelled: 'approval-cancelled',
  sleeping: 'report-sleeping',
  running: 'import-running',
  pending: 'invoice-pending',
  hostile: XSS.id,
} as const

/** What {@link buildViewerFixture} made. */
export interface ViewerFixture {
  flows: ReturnType<typeof viewerFlows>
  controls: Controls
  /** Stops the engine holding the running run. */
  close(): Promise<void>
}

type Store = FluxStore & WorkflowStorage

/**
 * Runs the workflows on `storage` (a store not yet shared with anything else) and leaves runs in
 * every status. `extra` adds that many completed `ping` runs (for paging).
 */
export async function buildViewerFixture(
  makeStorage: () => Store,
  options: { extra?: number } = {},
): Promise<ViewerFixture> {
  const controls: Controls = { sendBroken: true }
  const flows = viewerFlows(controls)
  const logger = new FluxSilentLogger()
  const engine = new FluxEngine({ storage: makeStorage(), logger, recoverOnInit: false })
  try {
    // Older than the rest, so the first page of the list shows the interesting runs.
    if (options.extra) {
      await engine.executeBatch(
        flows.ping,
        Array.from({ length: options.extra }, () => undefined),
        {
          concurrency: 16,
        },
      )
    }
    await engine.execute(flows.checkout, { gift: false }, { id: IDS.completed })
    await engine.execute(flows.checkout, { failShip: true }, { id: IDS.rolledBack })
    await engine.execute(
      flows.checkout,
      { failShip: true, breakCompensation: true },
      { id: IDS.compensationFailed },
    )
    await engine.execute(flows.invoice, { to: 'ap@example.com' }, { id: IDS.failed })
    await engine.execute(flows.approval, { amount: 120 }, { id: IDS.suspended })
    await engine.execute(flows.approval, { amount: 80 }, { id: IDS.toSignal })
    await engine.execute(flows.approval, { amount: 50 }, { id: IDS.toCancel })
    await engine.execute(flows.approval, { amount: 999 }, { id: IDS.cancelled })
    await engine.cancel(IDS.cancelled, 'customer changed their mind')
    await engine.execute(flows.hostile, undefined, { id: IDS.hostile })
    // Delayed a day: pending, and no worker of a test takes it meanwhile.
    await engine.enqueue(flows.invoice, { to: 'later@example.com' }, { id: IDS.pending, delay: 86_400_000 })
    const sleeping = await engine.start(flows.report, undefined, { id: IDS.sleeping })
    await until(async () => (await engine.get(sleeping))?.status === 'suspended')
  } finally {
    await engine.close()
  }
  const holder = new FluxEngine({ storage: makeStorage(), logger, recoverOnInit: false })
  await holder.start(flows.importBatch, undefined, { id: IDS.running })
  await until(async () => (await holder.get(IDS.running))?.history[1]?.status === 'running')
  return { flows, controls, close: () => holder.close() }
}

/** Polls `check` until it holds (10 s at most). */
export async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
