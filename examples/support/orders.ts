/** In-memory stand-ins for an order database, a warehouse and a carrier. */

export interface Order {
  id: string
  customer: string
  totalCents: number
  isPaid: boolean
}

export interface LineItem {
  productId: string
  qty: number
}

export class OrderStore {
  readonly #orders = new Map<string, Order>()

  constructor(orders: Order[]) {
    for (const order of orders) this.#orders.set(order.id, order)
  }

  async find(id: string): Promise<Order> {
    const order = this.#orders.get(id)
    if (!order) throw new Error(`Order not found: ${id}`)
    return { ...order }
  }
}

/** Stock levels; `deduct` remembers the keys it has applied, as a real ledger would. */
export class Inventory {
  readonly stock: Map<string, number>
  readonly #applied = new Set<string>()
  deductions = 0

  constructor(stock: Record<string, number>) {
    this.stock = new Map(Object.entries(stock))
  }

  async getStock(productId: string): Promise<number> {
    return this.stock.get(productId) ?? 0
  }

  async deduct(items: readonly LineItem[], idempotencyKey: string): Promise<void> {
    if (this.#applied.has(idempotencyKey)) return
    for (const { productId, qty } of items) {
      const left = (this.stock.get(productId) ?? 0) - qty
      if (left < 0) throw new Error(`Out of stock: ${productId}`)
      this.stock.set(productId, left)
    }
    this.#applied.add(idempotencyKey)
    this.deductions++
  }
}

export interface Shipment {
  orderId: string
  tracking: string
}

export class Carrier {
  readonly shipments: Shipment[] = []

  async ship(order: Pick<Order, 'id'>): Promise<Shipment> {
    const shipment = {
      orderId: order.id,
      tracking: `TRK-${String(this.shipments.length + 1).padStart(4, '0')}`,
    }
    this.shipments.push(shipment)
    return shipment
  }
}
