/** An orders table to aggregate over, and a PDF renderer. */

export interface DateRange {
  from: Date
  to: Date
}

export interface Sale {
  orderId: string
  at: Date
  totalCents: number
}

export class SalesDb {
  queries = 0

  constructor(readonly sales: readonly Sale[]) {}

  /** The sales in `[from, to)`. */
  async aggregate(range: DateRange): Promise<Sale[]> {
    this.queries++
    return this.sales.filter((s) => s.at >= range.from && s.at < range.to)
  }
}

/** Renders a (very) small PDF: enough bytes to upload, and its text to check. */
export function renderPdf(title: string, lines: readonly string[]): Uint8Array {
  return new TextEncoder().encode(['%PDF-1.7', title, ...lines, '%%EOF'].join('\n'))
}
