/**
 * Report generation: aggregate a quarter's sales, compute metrics, render and upload a PDF.
 *
 *   npx tsx examples/report-generation.ts
 */
import { createWorkflow, FluxEngine, type FluxResult, FluxSilentLogger } from 'fluxflow'
import { isMain } from './support/is-main.js'
import { ObjectStore } from './support/object-store.js'
import { type DateRange, renderPdf, type Sale, SalesDb } from './support/sales.js'

interface ReportData {
  sales: Sale[]
  metrics: { revenueCents: number; orders: number; averageCents: number }
  pdf: Uint8Array
  url: string
}

export interface Outcome {
  result: FluxResult<ReportData>
  uploaded: string[]
  pdfText: string
}

export async function main(): Promise<Outcome> {
  const day = (iso: string) => new Date(`${iso}T12:00:00Z`)
  const db = new SalesDb([
    { orderId: 'A', at: day('2025-01-15'), totalCents: 12_000 },
    { orderId: 'B', at: day('2025-02-03'), totalCents: 3_000 },
    { orderId: 'C', at: day('2025-03-30'), totalCents: 6_000 },
    { orderId: 'D', at: day('2025-04-01'), totalCents: 99_000 }, // next quarter
  ])
  const s3 = new ObjectStore('reports')

  const reportWorkflow = createWorkflow('generate-report')
    .input<{ reportType: string; dateRange: DateRange; requestedBy: string }>()
    .data<ReportData>()
    // The slow query gets a generous timeout of its own; other steps keep the engine default.
    .step(
      'fetch-data',
      async (ctx) => {
        ctx.data.sales = await db.aggregate(ctx.input.dateRange)
      },
      { timeout: 60_000 },
    )
    .step('calculate', (ctx) => {
      const revenueCents = ctx.data.sales.reduce((sum, s) => sum + s.totalCents, 0)
      const orders = ctx.data.sales.length
      ctx.data.metrics = {
        revenueCents,
        orders,
        averageCents: orders ? Math.round(revenueCents / orders) : 0,
      }
    })
    .step('render', (ctx) => {
      const { revenueCents, orders, averageCents } = ctx.data.metrics
      ctx.data.pdf = renderPdf(`${ctx.input.reportType} report for ${ctx.input.requestedBy}`, [
        `orders: ${orders}`,
        `revenue: ${revenueCents}`,
        `average: ${averageCents}`,
      ])
    })
    // The run id names the file, so a retried upload overwrites rather than duplicates.
    .commit('upload', async (ctx) => {
      ctx.data.url = await s3.upload(`reports/${ctx.id}.pdf`, ctx.data.pdf)
    })

  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  try {
    const result = await engine.execute(
      reportWorkflow,
      {
        reportType: 'sales',
        // Dates survive the checkpoint as Dates (the input is stored, then handed to every step).
        dateRange: { from: new Date('2025-01-01T00:00:00Z'), to: new Date('2025-04-01T00:00:00Z') },
        requestedBy: 'finance@example.com',
      },
      { id: 'sales-2025-q1' },
    )
    const key = 'reports/sales-2025-q1.pdf'
    return {
      result,
      uploaded: [...s3.objects.keys()],
      pdfText: new TextDecoder().decode(s3.objects.get(key)),
    }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { result } = await main()
  const { orders, revenueCents } = result.data.metrics
  console.log(
    `${result.id}: ${result.status}; ${orders} orders, revenue ${revenueCents / 100} → ${result.data.url}`,
  )
}
