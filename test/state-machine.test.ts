import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { InvalidStateTransitionError, StateMachine, TRANSITIONS, type WorkflowStatus } from '../src/index.js'

const STATUSES = Object.keys(TRANSITIONS) as WorkflowStatus[]

describe('StateMachine', () => {
  it('starts pending, moves along the table, and dispatches transition events', () => {
    const sm = new StateMachine()
    const seen: unknown[] = []
    sm.addEventListener('transition', (e) => seen.push((e as CustomEvent).detail))
    expect(sm.status).toBe('pending')
    expect(sm.canTransition('running')).toBe(true)
    sm.transition('running')
    sm.transition('suspended')
    sm.transition('running')
    sm.transition('completed')
    expect(sm.isTerminal()).toBe(true)
    expect(seen).toEqual([
      { from: 'pending', to: 'running' },
      { from: 'running', to: 'suspended' },
      { from: 'suspended', to: 'running' },
      { from: 'running', to: 'completed' },
    ])
  })

  it('refuses illegal moves with the origin message', () => {
    const sm = new StateMachine()
    expect(() => sm.transition('completed')).toThrow('Invalid state transition: pending → completed')
    expect(() => sm.transition('completed')).toThrow(InvalidStateTransitionError)
    sm.forceStatus('rolling_back')
    expect(sm.status).toBe('rolling_back')
    expect(sm.canExecute()).toBe(false)
  })

  it('property: any sequence of moves either follows the table or throws and leaves the status unchanged', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...STATUSES), { maxLength: 40 }), (moves) => {
        const sm = new StateMachine()
        for (const to of moves) {
          const from = sm.status
          const legal = TRANSITIONS[from].includes(to)
          if (legal) {
            sm.transition(to)
            expect(sm.status).toBe(to)
          } else {
            expect(() => sm.transition(to)).toThrow(InvalidStateTransitionError)
            expect(sm.status).toBe(from)
          }
        }
      }),
    )
  })

  it('every status can be reached from pending, and only terminal ones have no way forward but an operator', () => {
    const reachable = new Set<WorkflowStatus>(['pending'])
    const queue: WorkflowStatus[] = ['pending']
    while (queue.length) {
      for (const next of TRANSITIONS[queue.shift()!]) {
        if (!reachable.has(next)) {
          reachable.add(next)
          queue.push(next)
        }
      }
    }
    expect([...reachable].sort()).toEqual([...STATUSES].sort())
  })
})
