/**
 * Saga: book a trip step by step; if a later booking fails, undo the earlier ones in reverse.
 *
 *   npx tsx examples/saga.ts
 */
import {
  createWorkflow,
  Flux,
  FluxEngine,
  type FluxResult,
  FluxSilentLogger,
  type WorkflowState,
} from 'fluxflow'
import { isMain } from './support/is-main.js'
import { TravelApi } from './support/travel.js'

interface TripData {
  flightId: string
  hotelId: string
  carId: string
}

function tripWorkflow(api: TravelApi) {
  // Compensations share their step's retry policy; a tiny backoff keeps the example fast.
  const undo = { retries: 2, backoff: { initial: 5, jitter: false } }
  return (
    createWorkflow('book-trip')
      .input<{ traveller: string }>()
      .data<TripData>()
      .step(
        'reserve-flight',
        async (ctx) => {
          ctx.data.flightId = await api.bookFlight()
        },
        // Runs only if a later step fails for good, after the steps booked after this one are undone.
        { ...undo, compensate: (ctx) => api.cancelFlight(ctx.data.flightId) },
      )
      .step(
        'reserve-hotel',
        async (ctx) => {
          ctx.data.hotelId = await api.bookHotel()
        },
        { ...undo, compensate: (ctx) => api.cancelHotel(ctx.data.hotelId) },
      )
      // "No cars" is an answer, not an outage: fail at once instead of retrying.
      .step('rent-car', async (ctx) => {
        ctx.data.carId = await api.rentCar().catch((error: Error) => Flux.fail(error))
      })
  )
}

export interface Outcome {
  rolledBack: FluxResult<TripData>
  rolledBackLog: string[]
  stuck: FluxResult<TripData>
  stuckState: WorkflowState | null
  stuckLog: string[]
  finished: FluxResult<TripData> | null
}

export async function main(): Promise<Outcome> {
  const engine = new FluxEngine({ logger: new FluxSilentLogger() })
  try {
    // 1. No cars: the hotel is cancelled, then the flight. The run ends `rolled_back`.
    const api = new TravelApi({ carsAvailable: false })
    const rolledBack = await engine.execute(tripWorkflow(api), { traveller: 'ada' })

    // 2. No cars, and the hotel's cancellation API is down. Its compensation is retried, then the
    //    walk stops: the run ends `compensation_failed` and the steps still to undo are kept on
    //    it for an operator (`engine.resume` finishes the walk once the API is back).
    const broken = new TravelApi({ carsAvailable: false, hotelCancellationDown: true })
    const stuck = await engine.execute(tripWorkflow(broken), { traveller: 'bob' })
    const stuckState = await engine.get(stuck.id)
    const stuckLog = [...broken.log]

    // 3. The API is back; an operator resumes the run and the walk goes on where it stopped.
    broken.repairHotelCancellation()
    const finished = await engine.resume(tripWorkflow(broken), stuck.id)

    return { rolledBack, rolledBackLog: api.log, stuck, stuckState, stuckLog, finished }
  } finally {
    await engine.close()
  }
}

if (isMain(import.meta.url)) {
  const { rolledBack, rolledBackLog, stuck, stuckState, stuckLog, finished } = await main()
  console.log(`trip 1: ${rolledBack.status} (${rolledBack.error?.message})`)
  console.log(`        ${rolledBackLog.join(' → ')}`)
  console.log(`trip 2: ${stuck.status}; still to undo: ${stuckState?.pendingCompensations?.join(', ')}`)
  console.log(`        ${stuckLog.join(' → ')}`)
  console.log(`resumed: ${finished?.status}`)
}
