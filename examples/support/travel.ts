/** A travel agency API with bookings to undo: the classic saga. */
export class TravelApi {
  /** Every call, in order: what a test compares against. */
  readonly log: string[] = []
  #seq = 0

  constructor(readonly options: { carsAvailable?: boolean; hotelCancellationDown?: boolean } = {}) {}

  /** The hotel's cancellation API is back up. */
  repairHotelCancellation(): void {
    this.options.hotelCancellationDown = false
  }

  async bookFlight(): Promise<string> {
    return this.#book('flight', 'FL')
  }

  async bookHotel(): Promise<string> {
    return this.#book('hotel', 'HT')
  }

  async rentCar(): Promise<string> {
    if (this.options.carsAvailable === false) {
      this.log.push('car: none available')
      throw new Error('No cars available')
    }
    return this.#book('car', 'CR')
  }

  async cancelFlight(id: string): Promise<void> {
    this.log.push(`cancel ${id}`)
  }

  async cancelHotel(id: string): Promise<void> {
    if (this.options.hotelCancellationDown) {
      this.log.push(`cancel ${id}: failed`)
      throw new Error('Hotel cancellation API is down')
    }
    this.log.push(`cancel ${id}`)
  }

  #book(kind: string, prefix: string): string {
    const id = `${prefix}-${++this.#seq}`
    this.log.push(`book ${kind} ${id}`)
    return id
  }
}
